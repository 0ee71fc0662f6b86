//! The clients' own connection conventions (docs/guide.md: "`import`, `status` and `test` also take the
//! clients' own connection conventions"): what a PostgreSQL or MySQL/MariaDB URL leaves out is
//! taken as libpq and the mysql client take it, and `--db-password-file` gives the password a URL
//! lacks. Pure: the shell passes the process's variables and, one at a time, the files the
//! resolution asks for (`Step::Need`); it gets back the effective URL (to connect with), the same
//! URL without its password (to show and to record), and where each part came from.
//!
//! PostgreSQL, as libpq documents it ("The Connection Service File": a service setting overrides
//! the environment variable and is overridden by the connection string): the URL (userinfo, host,
//! port, path, and its `host`, `port`, `user`, `password`, `dbname` parameters); then
//! `--db-password-file` for the password; then the service (`?service=NAME`, else `PGSERVICE`),
//! from `PGSERVICEFILE` (default `~/.pg_service.conf`) or else `PGSYSCONFDIR/pg_service.conf`;
//! then the `PG*` variables; then the defaults: the Unix socket, port 5432, the operating-system
//! user, a database named after the user. A password still missing comes from the password file
//! (`passfile`, `PGPASSFILE`, default `~/.pgpass`), which is ignored, with a warning, when group
//! or others may read it.
//!
//! MySQL/MariaDB, as the MySQL manual's "Environment Variables" has it (the command line before
//! option files, option files before variables): the URL; then `--db-password-file` for the
//! password; then the `[client]`, `[client-server]` and `[client-mariadb]` groups of
//! `--defaults-extra-file` and then of `~/.my.cnf`, the later file winning as the client reads
//! them in that order (a world-writable one is ignored, as the client ignores it); then
//! `MYSQL_HOST`, `MYSQL_TCP_PORT`, `MYSQL_PWD`; then the defaults: localhost, port 3306, the
//! operating-system user.

use crate::core::redact::percent_decode;
use std::collections::BTreeMap;
use std::fmt;

/// What the shell found at a path the resolution asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// Nothing is there.
    Missing,
    /// Something that is not a plain file (a Unix socket, a folder).
    NotAFile,
    /// It could not be read: why.
    Unreadable(String),
    /// A plain file: its text and its Unix permission bits.
    Text { text: String, mode: u32 },
}

/// What the resolution reads besides the URL.
pub struct Inputs<'a> {
    /// The process's environment variables.
    pub variables: &'a BTreeMap<String, String>,
    /// The home folder (`~/.pgpass`, `~/.pg_service.conf`, `~/.my.cnf`).
    pub home: Option<&'a str>,
    /// The operating-system user's name: the user when nothing else names one.
    pub os_user: Option<&'a str>,
    /// `--db-password-file FILE`.
    pub password_file: Option<&'a str>,
    /// `--defaults-extra-file FILE` (MySQL/MariaDB).
    pub defaults_extra_file: Option<&'a str>,
    /// What the shell found at each path asked for so far.
    pub files: &'a BTreeMap<String, FileState>,
}

/// Where a part of the connection came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Url,
    Variable(&'static str),
    Service {
        name: String,
        file: String,
    },
    PasswordFile(String),
    Pgpass(String),
    OptionFile(String),
    OsUser,
    Default,
    /// PostgreSQL's database: named after the user when nothing names it.
    UserName,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Url => write!(f, "URL"),
            Origin::Variable(name) => write!(f, "{name}"),
            Origin::Service { name, file } => write!(f, "service `{name}` in {file}"),
            Origin::PasswordFile(path) => write!(f, "--db-password-file {path}"),
            Origin::Pgpass(path) => write!(f, "{path}"),
            Origin::OptionFile(path) => write!(f, "option file {path}"),
            Origin::OsUser => write!(f, "operating-system user"),
            Origin::Default => write!(f, "default"),
            Origin::UserName => write!(f, "the user's name"),
        }
    }
}

/// One part of the effective connection, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: &'static str,
    pub value: String,
    pub origin: Origin,
}

/// The connection a URL and the conventions give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// The URL to connect with, password included: never shown.
    pub url: String,
    /// The URL without its password (other secrets masked): what is shown and recorded.
    pub shown: String,
    /// User, host, port and database, each with its origin (empty for SQLite).
    pub parts: Vec<Part>,
    /// Where the password came from; `None` when there is none.
    pub password: Option<Origin>,
    /// What the user should know (a password file others may read, an ignored option file).
    pub warnings: Vec<String>,
}

impl Effective {
    /// The `-v` line: every part and its origin, never the password.
    pub fn describe(&self) -> String {
        if self.parts.is_empty() {
            return format!("database `{}`", self.shown);
        }
        let parts: Vec<String> = self
            .parts
            .iter()
            .map(|part| match part.name {
                "port" => format!("port {} ({})", part.value, part.origin),
                name => format!("{name} `{}` ({})", part.value, part.origin),
            })
            .collect();
        let password = match &self.password {
            Some(origin) => format!("password from {origin}"),
            None => "no password".to_string(),
        };
        format!("connecting as {}; {password}: `{}`", parts.join(", "), self.shown)
    }

    /// The value of a part (`user`, `host`, `port`, `database`).
    #[cfg(test)]
    pub fn part(&self, name: &str) -> Option<&Part> {
        self.parts.iter().find(|p| p.name == name)
    }
}

/// A resolution either needs the shell to look at a file first, or is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Look at this path, add what is there to `Inputs::files`, and resolve again.
    Need(String),
    Done(Effective),
}

/// Why a resolution cannot go on.
enum Stop {
    Need(String),
    Error(String),
}

impl From<String> for Stop {
    fn from(message: String) -> Stop {
        Stop::Error(message)
    }
}

/// Resolves `url` with the conventions of its client. A URL that is neither PostgreSQL nor
/// MySQL/MariaDB (`sqlite:`, or not a URL at all) is kept as it is, for the driver to judge.
/// `Err` is a message for the user (a service that is not defined, an unreadable password file).
pub fn resolve(url: &str, inputs: &Inputs<'_>) -> Result<Step, String> {
    let Some((server, parsed)) = parse(url) else {
        return Ok(Step::Done(Effective {
            url: url.to_string(),
            shown: crate::core::redact::redact(url),
            parts: Vec::new(),
            password: None,
            warnings: Vec::new(),
        }));
    };
    let mut warnings = Vec::new();
    let result = match server {
        Server::Postgres => postgres(parsed, inputs, &mut warnings),
        Server::Mysql => mysql(parsed, inputs, &mut warnings),
    };
    match result {
        Ok(resolved) => Ok(Step::Done(resolved.finish(server, warnings))),
        Err(Stop::Need(path)) => Ok(Step::Need(path)),
        Err(Stop::Error(message)) => Err(message),
    }
}

/// Whether the database a target recorded and the one an import is given are the same: the same
/// server, host, port and database (and, on PostgreSQL, the same `options`, which choose a
/// tenant's schema), however each URL was written. The user counts where both URLs name one; a
/// URL recorded before the conventions may lack it (the driver then took the operating-system
/// user), and PostgreSQL's database defaults to the user as libpq's does.
pub fn same_database(recorded: &str, given: &str) -> bool {
    if recorded == given {
        return true;
    }
    let (Some((server, a)), Some((given_server, b))) = (parse(recorded), parse(given)) else {
        return false;
    };
    if server != given_server {
        return false;
    }
    let default_port = match server {
        Server::Postgres => "5432",
        Server::Mysql => "3306",
    };
    let host = |u: &Url| u.host.as_ref().map(|h| h.to_ascii_lowercase());
    let port = |u: &Url| u.port.clone().unwrap_or_else(|| default_port.to_string());
    let database = |u: &Url| match server {
        Server::Postgres => u.database.clone().or_else(|| u.user.clone()),
        Server::Mysql => u.database.clone(),
    };
    let options = |u: &Url| u.params.iter().find(|(k, _)| k == "options").map(|(_, v)| v.clone());
    let both_or_either = |x: Option<String>, y: Option<String>| match (x, y) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    };
    host(&a) == host(&b)
        && port(&a) == port(&b)
        && both_or_either(a.user.clone(), b.user.clone())
        && match server {
            Server::Postgres => both_or_either(database(&a), database(&b)) && options(&a) == options(&b),
            Server::Mysql => database(&a) == database(&b),
        }
}

/// The effective user id in the text of `/proc/self/status` (its `Uid:` line: real, effective,
/// saved, file system).
pub fn effective_uid(proc_status: &str) -> Option<u32> {
    let line = proc_status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The name and home folder of user `uid` in the text of `/etc/passwd`.
pub fn passwd_entry(passwd: &str, uid: u32) -> Option<(String, String)> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            [name, _, id, _, _, home, ..] if id.parse::<u32>().ok() == Some(uid) && !name.is_empty() => {
                Some((name.to_string(), home.to_string()))
            }
            _ => None,
        }
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Postgres,
    Mysql,
}

/// What a URL says, decoded. A host list (`h1:5432,h2:5433`) is kept as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Url {
    user: Option<String>,
    password: Option<String>,
    host: Option<String>,
    port: Option<String>,
    database: Option<String>,
    /// The other parameters, decoded, in order.
    params: Vec<(String, String)>,
}

/// The password the tool's own redaction writes: a URL recorded before the conventions may carry
/// it (`user:***@host`), and it is no password.
const REDACTED: &str = "***";

fn non_empty(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

fn parse(url: &str) -> Option<(Server, Url)> {
    let (scheme, rest) = url.split_once("://")?;
    let server = match scheme.to_ascii_lowercase().as_str() {
        "postgres" | "postgresql" => Server::Postgres,
        "mysql" | "mariadb" => Server::Mysql,
        _ => return None,
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let (authority, path) = match before_query.split_once('/') {
        Some((authority, path)) => (authority, Some(path)),
        None => (before_query, None),
    };
    let mut parsed = Url::default();
    let hostport = match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let (user, password) = match userinfo.split_once(':') {
                Some((user, password)) => (user, Some(password)),
                None => (userinfo, None),
            };
            parsed.user = non_empty(percent_decode(user));
            parsed.password = password.map(percent_decode).and_then(non_empty).filter(|p| p != REDACTED);
            &authority[at + 1..]
        }
        None => authority,
    };
    if hostport.contains(',') {
        parsed.host = Some(hostport.to_string());
    } else if let Some(bracketed) = hostport.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']')?;
        parsed.host = non_empty(host.to_string());
        parsed.port = match after {
            "" => None,
            after => non_empty(after.strip_prefix(':')?.to_string()),
        };
    } else {
        let (host, port) = match hostport.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        };
        parsed.host = non_empty(percent_decode(host));
        parsed.port = port.map(percent_decode).and_then(non_empty);
    }
    if let Some(path) = path {
        let path = match server {
            Server::Postgres => path,
            Server::Mysql => path.split('/').next().unwrap_or_default(),
        };
        parsed.database = non_empty(percent_decode(path));
    }
    for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = (percent_decode(key), percent_decode(value));
        let slot = match (server, key.as_str()) {
            (_, "user") => &mut parsed.user,
            (_, "password") => &mut parsed.password,
            (_, "host") => &mut parsed.host,
            (_, "port") => &mut parsed.port,
            (Server::Postgres, "dbname") | (Server::Mysql, "db_name") => &mut parsed.database,
            _ => {
                parsed.params.push((key, value));
                continue;
            }
        };
        // A later parameter replaces an earlier one or the URL's part, as both clients have it.
        *slot = non_empty(value).filter(|v| key != "password" || v != REDACTED);
    }
    Some((server, parsed))
}

/// Percent-encodes every byte but the unreserved ones and `keep`.
fn encode(text: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for &byte in text.as_bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || keep.contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A value and where it came from.
type Sourced = Option<(String, Origin)>;

/// The resolved parts, before they become a URL.
struct Resolved {
    user: Sourced,
    password: Sourced,
    host: Sourced,
    port: Sourced,
    database: Sourced,
    params: Vec<(String, String)>,
}

impl Resolved {
    fn finish(self, server: Server, warnings: Vec<String>) -> Effective {
        let url = |password: bool| {
            let scheme = match server {
                Server::Postgres => "postgres",
                Server::Mysql => "mysql",
            };
            let mut out = format!("{scheme}://");
            let secret = self.password.as_ref().filter(|_| password).map(|(p, _)| encode(p, b""));
            match (&self.user, secret) {
                (Some((user, _)), Some(secret)) => out.push_str(&format!("{}:{secret}@", encode(user, b""))),
                (Some((user, _)), None) => out.push_str(&format!("{}@", encode(user, b""))),
                (None, Some(secret)) => out.push_str(&format!(":{secret}@")),
                (None, None) => {}
            }
            let list = self.host.as_ref().is_some_and(|(h, _)| h.contains(','));
            match &self.host {
                Some((host, _)) if list => out.push_str(host),
                Some((host, _)) if host.contains(':') => out.push_str(&format!("[{host}]")),
                Some((host, _)) => out.push_str(&encode(host, b"")),
                None => {}
            }
            if let (Some((port, _)), false) = (&self.port, list) {
                out.push_str(&format!(":{port}"));
            }
            if let Some((database, _)) = &self.database {
                out.push('/');
                out.push_str(&encode(database, b""));
            }
            let params: Vec<String> =
                self.params.iter().map(|(k, v)| format!("{}={}", encode(k, b""), encode(v, b",:/"))).collect();
            if !params.is_empty() {
                out.push('?');
                out.push_str(&params.join("&"));
            }
            out
        };
        let mut parts = Vec::new();
        for (name, slot) in
            [("user", &self.user), ("host", &self.host), ("port", &self.port), ("database", &self.database)]
        {
            if let Some((value, origin)) = slot {
                parts.push(Part { name, value: value.clone(), origin: origin.clone() });
            }
        }
        Effective {
            url: url(true),
            shown: crate::core::redact::redact(&url(false)),
            parts,
            password: self.password.as_ref().map(|(_, origin)| origin.clone()),
            warnings,
        }
    }
}

fn variable<'a>(inputs: &'a Inputs<'_>, name: &str) -> Option<&'a str> {
    inputs.variables.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

/// What the shell found at `path`, or a request to look.
fn look<'a>(inputs: &'a Inputs<'_>, path: &str) -> Result<&'a FileState, Stop> {
    inputs.files.get(path).ok_or_else(|| Stop::Need(path.to_string()))
}

/// A path as messages show it: `~/…` inside the home folder.
fn shown_path(path: &str, home: Option<&str>) -> String {
    match home.map(|h| h.trim_end_matches('/')).filter(|h| !h.is_empty()) {
        Some(home) => match path.strip_prefix(home).and_then(|rest| rest.strip_prefix('/')) {
            Some(rest) => format!("~/{rest}"),
            None => path.to_string(),
        },
        None => path.to_string(),
    }
}

fn in_home(inputs: &Inputs<'_>, name: &str) -> Option<String> {
    inputs.home.filter(|h| !h.is_empty()).map(|home| format!("{}/{name}", home.trim_end_matches('/')))
}

/// `--db-password-file`: its first line.
fn password_file(inputs: &Inputs<'_>) -> Result<Sourced, Stop> {
    let Some(path) = inputs.password_file else { return Ok(None) };
    let shown = shown_path(path, inputs.home);
    match look(inputs, path)? {
        FileState::Text { text, .. } => {
            let line = text.lines().next().unwrap_or_default();
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() {
                return Err(Stop::Error(format!("the password file `{shown}` has no password on its first line")));
            }
            Ok(Some((line.to_string(), Origin::PasswordFile(shown))))
        }
        FileState::Missing => Err(Stop::Error(format!("the password file `{shown}` does not exist"))),
        FileState::NotAFile => Err(Stop::Error(format!("the password file `{shown}` is not a plain file"))),
        FileState::Unreadable(why) => Err(Stop::Error(format!("cannot read the password file `{shown}`: {why}"))),
    }
}

/// The connection parameters our PostgreSQL driver knows, besides host, port, user, password,
/// dbname (and `service` and `passfile`, which are the resolution's own).
const POSTGRES_PARAMS: [&str; 16] = [
    "hostaddr",
    "options",
    "application_name",
    "sslmode",
    "sslnegotiation",
    "sslrootcert",
    "connect_timeout",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
    "passfile",
];

/// The variables libpq reads for the parameters besides host, port, user, password and dbname.
const POSTGRES_VARIABLES: [(&str, &str); 6] = [
    ("PGHOSTADDR", "hostaddr"),
    ("PGSSLMODE", "sslmode"),
    ("PGOPTIONS", "options"),
    ("PGAPPNAME", "application_name"),
    ("PGCONNECT_TIMEOUT", "connect_timeout"),
    ("PGTARGETSESSIONATTRS", "target_session_attrs"),
];

/// Where libpq looks for the default Unix socket; the first that holds the port's socket is the
/// default host (Debian's libpq uses the first).
const SOCKET_DIRECTORIES: [&str; 3] = ["/var/run/postgresql", "/run/postgresql", "/tmp"];

/// Where `pg_service.conf` is without `PGSYSCONFDIR` (Debian's libpq).
const SYSTEM_SERVICE_DIRECTORY: &str = "/etc/postgresql-common";

fn postgres(url: Url, inputs: &Inputs<'_>, warnings: &mut Vec<String>) -> Result<Resolved, Stop> {
    let from_url = |value: Option<String>| value.map(|v| (v, Origin::Url));
    let mut user = from_url(url.user);
    let mut password = from_url(url.password);
    let mut host = from_url(url.host);
    let mut port = from_url(url.port);
    let mut database = from_url(url.database);
    let mut service = None;
    let mut passfile: Sourced = None;
    let mut params: Vec<(String, String)> = Vec::new();
    for (key, value) in url.params {
        match key.as_str() {
            "service" => service = non_empty(value).map(|v| (v, Origin::Url)),
            "passfile" => passfile = non_empty(value).map(|v| (v, Origin::Url)),
            _ => params.push((key, value)),
        }
    }
    let has = |params: &[(String, String)], key: &str| params.iter().any(|(k, _)| k == key);
    if password.is_none() {
        password = password_file(inputs)?;
    }

    let service =
        service.or_else(|| variable(inputs, "PGSERVICE").map(|v| (v.to_string(), Origin::Variable("PGSERVICE"))));
    if let Some((name, _)) = service {
        let (entries, file) = service_entries(inputs, &name)?;
        let origin = Origin::Service { name: name.clone(), file: shown_path(&file, inputs.home) };
        for (key, value) in entries {
            let slot = match key.as_str() {
                "host" => &mut host,
                "port" => &mut port,
                "user" => &mut user,
                "password" => &mut password,
                "dbname" => &mut database,
                "passfile" => &mut passfile,
                "service" => {
                    return Err(Stop::Error(format!(
                        "service `{name}` in {}: a service cannot name another service",
                        shown_path(&file, inputs.home)
                    )));
                }
                known if POSTGRES_PARAMS.contains(&known) => {
                    if !has(&params, known) {
                        params.push((key, value));
                    }
                    continue;
                }
                unknown => {
                    warnings.push(format!(
                        "service `{name}` in {}: `{unknown}` is not used (this client does not support it)",
                        shown_path(&file, inputs.home)
                    ));
                    continue;
                }
            };
            if slot.is_none() {
                *slot = non_empty(value).map(|v| (v, origin.clone()));
            }
        }
    }

    for (name, slot) in [
        ("PGHOST", &mut host),
        ("PGPORT", &mut port),
        ("PGUSER", &mut user),
        ("PGPASSWORD", &mut password),
        ("PGDATABASE", &mut database),
        ("PGPASSFILE", &mut passfile),
    ] {
        if slot.is_none() {
            *slot = variable(inputs, name).map(|v| (v.to_string(), Origin::Variable(name)));
        }
    }
    for (name, key) in POSTGRES_VARIABLES {
        if !has(&params, key)
            && let Some(value) = variable(inputs, name)
        {
            params.push((key.to_string(), value.to_string()));
        }
    }
    // `sslrootcert` only where the certificate is checked: a CA file set for every connection
    // does not make the others fail.
    let verified = params.iter().any(|(k, v)| k == "sslmode" && v.starts_with("verify-"));
    if verified
        && !has(&params, "sslrootcert")
        && let Some(value) = variable(inputs, "PGSSLROOTCERT")
    {
        params.push(("sslrootcert".into(), value.to_string()));
    }

    let port = port.unwrap_or_else(|| ("5432".to_string(), Origin::Default));
    let user = match user {
        Some(user) => user,
        None => match inputs.os_user {
            Some(name) => (name.to_string(), Origin::OsUser),
            None => {
                return Err(Stop::Error(
                    "no user: give one in the URL (`postgres://USER@...`) or in PGUSER".to_string(),
                ));
            }
        },
    };
    if host.is_none() && !has(&params, "hostaddr") {
        let mut found = None;
        for directory in SOCKET_DIRECTORIES {
            let socket = format!("{directory}/.s.PGSQL.{}", port.0);
            if !matches!(look(inputs, &socket)?, FileState::Missing | FileState::Unreadable(_)) {
                found = Some(directory);
                break;
            }
        }
        host = Some((found.unwrap_or(SOCKET_DIRECTORIES[0]).to_string(), Origin::Default));
    }
    let database = database.unwrap_or_else(|| (user.0.clone(), Origin::UserName));

    if password.is_none() {
        let path = match passfile {
            Some((path, _)) => Some(path),
            None => in_home(inputs, ".pgpass"),
        };
        if let Some(path) = path {
            let shown = shown_path(&path, inputs.home);
            match look(inputs, &path)? {
                FileState::Text { mode, .. } if mode & 0o077 != 0 => warnings.push(format!(
                    "password file `{shown}` has group or world access; permissions should be u=rw (0600) or less: it is ignored"
                )),
                FileState::Text { text, .. } => {
                    // libpq matches the host name; a socket in the default directory is `localhost`.
                    let match_host = match &host {
                        Some((h, _)) if SOCKET_DIRECTORIES.contains(&h.as_str()) => "localhost".to_string(),
                        Some((h, _)) => h.clone(),
                        None => params
                            .iter()
                            .find(|(k, _)| k == "hostaddr")
                            .map_or("localhost".to_string(), |(_, v)| v.clone()),
                    };
                    password = pgpass_password(text, &match_host, &port.0, &database.0, &user.0)
                        .map(|p| (p, Origin::Pgpass(shown)));
                }
                FileState::NotAFile => warnings.push(format!("password file `{shown}` is not a plain file: it is ignored")),
                FileState::Missing | FileState::Unreadable(_) => {}
            }
        }
    }
    Ok(Resolved { user: Some(user), password, host, port: Some(port), database: Some(database), params })
}

/// The settings of service `name`: from `PGSERVICEFILE` (default `~/.pg_service.conf`), else from
/// `pg_service.conf` in `PGSYSCONFDIR`; with the file they came from.
fn service_entries(inputs: &Inputs<'_>, name: &str) -> Result<(Vec<(String, String)>, String), Stop> {
    let user_file =
        variable(inputs, "PGSERVICEFILE").map(str::to_string).or_else(|| in_home(inputs, ".pg_service.conf"));
    let directory = variable(inputs, "PGSYSCONFDIR").unwrap_or(SYSTEM_SERVICE_DIRECTORY);
    let system_file = format!("{}/pg_service.conf", directory.trim_end_matches('/'));
    for path in user_file.into_iter().chain([system_file]) {
        if let FileState::Text { text, .. } = look(inputs, &path)? {
            let shown = shown_path(&path, inputs.home);
            if let Some(entries) = service_section(text, name).map_err(|e| format!("service file {shown}: {e}"))? {
                return Ok((entries, path));
            }
        }
    }
    Err(Stop::Error(format!(
        "definition of service `{name}` not found (PGSERVICEFILE, ~/.pg_service.conf, PGSYSCONFDIR)"
    )))
}

/// The `key=value` lines of section `[name]` of a service file (the first such section); `None`
/// when there is none.
pub fn service_section(text: &str, name: &str) -> Result<Option<Vec<(String, String)>>, String> {
    let mut entries: Option<Vec<(String, String)>> = None;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[') {
            if entries.is_some() {
                break;
            }
            if section.strip_suffix(']') == Some(name) {
                entries = Some(Vec::new());
            }
            continue;
        }
        if let Some(entries) = entries.as_mut() {
            let Some((key, value)) = line.split_once('=') else {
                return Err(format!("line {}: syntax error (`key=value` expected)", number + 1));
            };
            entries.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    Ok(entries)
}

/// The password of the first line of a password file (`host:port:database:user:password`, `*`
/// matching anything, `\` escaping `:` and `\`) that matches.
pub fn pgpass_password(text: &str, host: &str, port: &str, database: &str, user: &str) -> Option<String> {
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut rest = line;
        let mut matched = true;
        for wanted in [host, port, database, user] {
            let Some((field, raw, after)) = pgpass_field(rest) else {
                matched = false;
                break;
            };
            if raw != "*" && field != wanted {
                matched = false;
                break;
            }
            rest = after;
        }
        if matched {
            let mut password = String::new();
            let mut chars = rest.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => password.push(chars.next().unwrap_or('\\')),
                    ':' => break,
                    c => password.push(c),
                }
            }
            return Some(password);
        }
    }
    None
}

/// One field of a password-file line: its unescaped value, its text as written, and what follows
/// its `:`; `None` when the line ends first.
fn pgpass_field(line: &str) -> Option<(String, &str, &str)> {
    let mut value = String::new();
    let mut chars = line.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, escaped)) => value.push(escaped),
                None => return None,
            },
            ':' => return Some((value, &line[..i], &line[i + 1..])),
            c => value.push(c),
        }
    }
    None
}

fn mysql(url: Url, inputs: &Inputs<'_>, warnings: &mut Vec<String>) -> Result<Resolved, Stop> {
    let from_url = |value: Option<String>| value.map(|v| (v, Origin::Url));
    let mut user = from_url(url.user);
    let mut password = from_url(url.password);
    let mut host = from_url(url.host);
    let mut port = from_url(url.port);
    let mut database = from_url(url.database);
    let mut params = url.params;
    if password.is_none() {
        password = password_file(inputs)?;
    }

    // The later file wins: `--defaults-extra-file`, then `~/.my.cnf`, as the client reads them.
    let mut options: BTreeMap<String, (String, Origin)> = BTreeMap::new();
    let files = inputs
        .defaults_extra_file
        .map(|p| (p.to_string(), true))
        .into_iter()
        .chain(in_home(inputs, ".my.cnf").map(|p| (p, false)));
    for (path, required) in files {
        let shown = shown_path(&path, inputs.home);
        let text = match look(inputs, &path)? {
            FileState::Text { mode, .. } if mode & 0o002 != 0 => {
                warnings.push(format!("world-writable option file `{shown}` is ignored"));
                continue;
            }
            FileState::Text { text, .. } => text,
            FileState::Missing if !required => continue,
            FileState::Unreadable(_) | FileState::NotAFile if !required => continue,
            FileState::Missing => return Err(Stop::Error(format!("the option file `{shown}` does not exist"))),
            FileState::NotAFile => return Err(Stop::Error(format!("the option file `{shown}` is not a plain file"))),
            FileState::Unreadable(why) => {
                return Err(Stop::Error(format!("cannot read the option file `{shown}`: {why}")));
            }
        };
        let (found, notes) = option_file(text);
        warnings.extend(notes.into_iter().map(|note| format!("option file `{shown}`: {note}")));
        for (key, value) in found {
            if let Some(value) = value {
                options.insert(key, (value, Origin::OptionFile(shown.clone())));
            } else {
                options.remove(&key);
            }
        }
    }
    for (key, slot) in [
        ("user", &mut user),
        ("password", &mut password),
        ("host", &mut host),
        ("port", &mut port),
        ("database", &mut database),
    ] {
        if slot.is_none() {
            *slot = options.get(key).filter(|(v, _)| !v.is_empty()).cloned();
        }
    }
    let has = |params: &[(String, String)], keys: &[&str]| params.iter().any(|(k, _)| keys.contains(&k.as_str()));
    if !has(&params, &["ssl-mode", "ssl_mode"])
        && let Some((mode, _)) = options.get("ssl-mode")
    {
        params.push(("ssl-mode".into(), mode.clone()));
    }
    if !has(&params, &["root_cert_path"])
        && let Some((ca, _)) = options.get("ssl-ca")
    {
        params.push(("root_cert_path".into(), ca.clone()));
    }

    for (name, slot) in [("MYSQL_HOST", &mut host), ("MYSQL_TCP_PORT", &mut port), ("MYSQL_PWD", &mut password)] {
        if slot.is_none() {
            *slot = variable(inputs, name).map(|v| (v.to_string(), Origin::Variable(name)));
        }
    }
    let host = host.unwrap_or_else(|| ("localhost".to_string(), Origin::Default));
    let port = port.unwrap_or_else(|| ("3306".to_string(), Origin::Default));
    let user = match user {
        Some(user) => user,
        None => match inputs.os_user {
            Some(name) => (name.to_string(), Origin::OsUser),
            None => {
                return Err(Stop::Error(
                    "no user: give one in the URL (`mysql://USER@...`) or in an option file".to_string(),
                ));
            }
        },
    };
    Ok(Resolved { user: Some(user), password, host: Some(host), port: Some(port), database, params })
}

/// The options of the client groups (`[client]`, `[client-server]`, `[client-mariadb]`) of a
/// MySQL option file, in order, with names as the client compares them (`_` is `-`, `loose-`
/// dropped); `None` for an option without a value. And notes on what is not followed.
pub fn option_file(text: &str) -> (Vec<(String, Option<String>)>, Vec<String>) {
    let mut options = Vec::new();
    let mut notes = Vec::new();
    let mut client = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with("!include") {
            notes.push(format!("`{line}` is not followed"));
            continue;
        }
        if let Some(group) = line.strip_prefix('[') {
            let group = group.split(']').next().unwrap_or_default().trim().to_ascii_lowercase();
            client = matches!(group.as_str(), "client" | "client-server" | "client-mariadb");
            continue;
        }
        if !client {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((key, value)) => (key, Some(option_value(value))),
            None => (line.split('#').next().unwrap_or_default(), None),
        };
        let key = key.trim().to_ascii_lowercase().replace('_', "-");
        let key = key.strip_prefix("loose-").map(str::to_string).unwrap_or(key);
        options.push((key, value));
    }
    (options, notes)
}

/// An option's value as the client reads it: quoted (`'…'` or `"…"`), or up to a `#` comment and
/// trimmed; escape sequences (`\n`, `\t`, `\\`, `\s`, …) replaced.
fn option_value(raw: &str) -> String {
    let raw = raw.trim();
    match raw.chars().next().filter(|c| *c == '\'' || *c == '"') {
        Some(quote) => unescape(&raw[quote.len_utf8()..], Some(quote)),
        None => unescape(raw.split('#').next().unwrap_or_default().trim_end(), None),
    }
}

/// The option-file escapes replaced, up to the closing `quote` when there is one.
fn unescape(text: &str, quote: Option<char>) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('b') => out.push('\u{8}'),
                Some('s') => out.push(' '),
                Some(c @ ('\\' | '"' | '\'')) => out.push(c),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            c if Some(c) == quote => break,
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
