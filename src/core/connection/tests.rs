use std::collections::BTreeMap;

use super::*;

/// A machine: variables, files (path → text, mode), the home folder and the OS user.
struct Machine {
    variables: BTreeMap<String, String>,
    files: BTreeMap<String, FileState>,
    password_file: Option<&'static str>,
    defaults_extra_file: Option<&'static str>,
    os_user: Option<&'static str>,
}

impl Machine {
    fn new() -> Machine {
        Machine {
            variables: BTreeMap::new(),
            files: BTreeMap::new(),
            password_file: None,
            defaults_extra_file: None,
            os_user: Some("osuser"),
        }
    }

    fn var(mut self, name: &str, value: &str) -> Machine {
        self.variables.insert(name.into(), value.into());
        self
    }

    fn file(self, path: &str, text: &str) -> Machine {
        self.file_mode(path, text, 0o600)
    }

    fn file_mode(mut self, path: &str, text: &str, mode: u32) -> Machine {
        self.files.insert(path.into(), FileState::Text { text: text.into(), mode });
        self
    }

    fn socket(mut self, path: &str) -> Machine {
        self.files.insert(path.into(), FileState::NotAFile);
        self
    }

    /// Resolves as the shell does: every file asked for is looked up (absent: missing).
    fn try_resolve(&self, url: &str) -> Result<(Effective, Vec<String>), String> {
        let mut seen = self.files.clone();
        let mut asked = Vec::new();
        for _ in 0..32 {
            let inputs = Inputs {
                variables: &self.variables,
                home: Some("/home/me"),
                os_user: self.os_user,
                password_file: self.password_file,
                defaults_extra_file: self.defaults_extra_file,
                files: &seen,
            };
            match resolve(url, &inputs)? {
                Step::Done(effective) => return Ok((effective, asked)),
                Step::Need(path) => {
                    assert!(!seen.contains_key(&path), "asked twice for {path}");
                    asked.push(path.clone());
                    seen.insert(path, FileState::Missing);
                }
            }
        }
        panic!("the resolution never ends");
    }

    fn resolve(&self, url: &str) -> Effective {
        self.try_resolve(url).unwrap_or_else(|e| panic!("{url}: {e}")).0
    }
}

fn origin(effective: &Effective, name: &str) -> (String, String) {
    let part = effective.part(name).unwrap_or_else(|| panic!("no {name} in {effective:?}"));
    (part.value.clone(), part.origin.to_string())
}

#[test]
fn a_complete_url_is_kept_and_its_password_never_shown() {
    let machine = Machine::new().var("PGUSER", "other").var("PGPASSWORD", "envsecret");
    let e = machine.resolve("postgres://app:s3cr%40t@db.example:5433/inv?sslmode=require");
    assert_eq!(e.url, "postgres://app:s3cr%40t@db.example:5433/inv?sslmode=require");
    assert_eq!(e.shown, "postgres://app@db.example:5433/inv?sslmode=require");
    assert_eq!(e.password, Some(Origin::Url));
    assert_eq!(origin(&e, "user"), ("app".into(), "URL".into()));
    let line = e.describe();
    assert!(!line.contains("s3cr") && !line.contains("envsecret"), "{line}");
    assert!(line.contains("user `app` (URL)") && line.contains("password from URL"), "{line}");
    // Secret parameters stay masked in what is shown.
    let e = machine.resolve("postgres://app@db/inv?sslpassword=keysecret");
    assert_eq!(e.shown, "postgres://app@db:5432/inv?sslpassword=***");
}

#[test]
fn an_empty_postgres_url_takes_everything_from_the_variables() {
    let machine = Machine::new()
        .var("PGHOST", "10.0.0.5")
        .var("PGPORT", "6432")
        .var("PGUSER", "deploy")
        .var("PGPASSWORD", "pw")
        .var("PGDATABASE", "inventory")
        .var("PGSSLMODE", "require")
        .var("PGOPTIONS", "-csearch_path=tenant_7");
    for url in ["postgres://", "postgresql://", "postgres:///"] {
        let e = machine.resolve(url);
        assert_eq!(
            e.url, "postgres://deploy:pw@10.0.0.5:6432/inventory?sslmode=require&options=-csearch_path%3Dtenant_7",
            "{url}"
        );
        assert_eq!(
            e.shown,
            "postgres://deploy@10.0.0.5:6432/inventory?sslmode=require&options=-csearch_path%3Dtenant_7"
        );
        assert_eq!(origin(&e, "user"), ("deploy".into(), "PGUSER".into()));
        assert_eq!(origin(&e, "host"), ("10.0.0.5".into(), "PGHOST".into()));
        assert_eq!(origin(&e, "port"), ("6432".into(), "PGPORT".into()));
        assert_eq!(origin(&e, "database"), ("inventory".into(), "PGDATABASE".into()));
        assert_eq!(e.password, Some(Origin::Variable("PGPASSWORD")));
    }
    // A part of the URL wins over its variable; the others still come from the variables.
    let e = machine.resolve("postgres:///app?sslmode=disable");
    assert_eq!(e.url, "postgres://deploy:pw@10.0.0.5:6432/app?sslmode=disable&options=-csearch_path%3Dtenant_7");
    assert_eq!(origin(&e, "database"), ("app".into(), "URL".into()));
    let e = machine.resolve("postgres://root@localhost/?dbname=x&port=7000");
    assert_eq!(e.url, "postgres://root:pw@localhost:7000/x?sslmode=require&options=-csearch_path%3Dtenant_7");
}

#[test]
fn without_a_user_anywhere_the_operating_system_user_is_named_as_such() {
    let machine = Machine::new().socket("/var/run/postgresql/.s.PGSQL.5432");
    let e = machine.resolve("postgres://");
    assert_eq!(origin(&e, "user"), ("osuser".into(), "operating-system user".into()));
    assert_eq!(origin(&e, "database"), ("osuser".into(), "the user's name".into()));
    assert_eq!(origin(&e, "host"), ("/var/run/postgresql".into(), "default".into()));
    assert_eq!(origin(&e, "port"), ("5432".into(), "default".into()));
    assert_eq!(e.url, "postgres://osuser@%2Fvar%2Frun%2Fpostgresql:5432/osuser");
    assert!(e.describe().contains("user `osuser` (operating-system user)"), "{}", e.describe());
    // The socket is looked for where libpq puts it, for the port in use.
    let e = Machine::new().socket("/tmp/.s.PGSQL.5433").var("PGPORT", "5433").resolve("postgres://");
    assert_eq!(origin(&e, "host"), ("/tmp".into(), "default".into()));
    // No user known at all: an error, never a guess.
    let mut machine = Machine::new();
    machine.os_user = None;
    let error = machine.try_resolve("postgres://db/app").unwrap_err();
    assert!(error.contains("PGUSER"), "{error}");
}

#[test]
fn a_service_overrides_the_variables_and_the_url_overrides_the_service() {
    let services = "# ours\n[inv]\nhost=svc-host\nport=5440\nuser=svc-user\ndbname=svc-db\nsslmode=verify-full\n\n[other]\nhost=wrong\n";
    let machine = Machine::new()
        .file("/home/me/.pg_service.conf", services)
        .var("PGHOST", "env-host")
        .var("PGUSER", "env-user")
        .var("PGDATABASE", "env-db")
        .var("PGSSLMODE", "disable")
        .var("PGSSLROOTCERT", "/etc/ca.pem");
    let e = machine.resolve("postgres://url-user@/?service=inv");
    assert_eq!(origin(&e, "user"), ("url-user".into(), "URL".into()));
    let service = "service `inv` in ~/.pg_service.conf".to_string();
    assert_eq!(origin(&e, "host"), ("svc-host".into(), service.clone()));
    assert_eq!(origin(&e, "port"), ("5440".into(), service.clone()));
    assert_eq!(origin(&e, "database"), ("svc-db".into(), service));
    // The service's sslmode wins over PGSSLMODE; the CA file comes along because it is checked.
    assert_eq!(e.url, "postgres://url-user@svc-host:5440/svc-db?sslmode=verify-full&sslrootcert=/etc/ca.pem");
    // PGSERVICE names it too; `?service=` wins over PGSERVICE.
    let e = machine.clone_with("PGSERVICE", "inv").resolve("postgres://");
    assert_eq!(origin(&e, "user"), ("svc-user".into(), "service `inv` in ~/.pg_service.conf".into()));
    let error = machine.clone_with("PGSERVICE", "inv").try_resolve("postgres://?service=nope").unwrap_err();
    assert!(error.contains("`nope` not found"), "{error}");
    // Without a service, PGSSLROOTCERT does not make a connection that checks nothing fail.
    let e = machine.resolve("postgres://a@h/d");
    assert_eq!(e.url, "postgres://a@h:5432/d?sslmode=disable");
}

impl Machine {
    fn clone_with(&self, name: &str, value: &str) -> Machine {
        let mut variables = self.variables.clone();
        variables.insert(name.into(), value.into());
        Machine {
            variables,
            files: self.files.clone(),
            password_file: self.password_file,
            defaults_extra_file: self.defaults_extra_file,
            os_user: self.os_user,
        }
    }
}

#[test]
fn the_user_service_file_comes_before_the_system_one() {
    let system = "[inv]\nhost=system-host\n[sys-only]\nhost=sys\n";
    let machine = Machine::new()
        .file("/srv/pg_service.conf", "[inv]\nhost=custom-host\n")
        .file("/home/me/.pg_service.conf", "[inv]\nhost=home-host\n")
        .file("/etc/pg/pg_service.conf", system)
        .file("/etc/postgresql-common/pg_service.conf", "[inv]\nhost=debian-host\n")
        .var("PGUSER", "u");
    let host = |m: &Machine, url: &str| m.resolve(url).part("host").map(|p| p.value.clone()).unwrap_or_default();
    assert_eq!(host(&machine, "postgres://?service=inv"), "home-host");
    assert_eq!(
        host(&machine.clone_with("PGSERVICEFILE", "/srv/pg_service.conf"), "postgres://?service=inv"),
        "custom-host"
    );
    assert_eq!(host(&machine.clone_with("PGSYSCONFDIR", "/etc/pg"), "postgres://?service=sys-only"), "sys");
    // Without PGSYSCONFDIR, Debian's libpq looks in /etc/postgresql-common.
    let debian =
        Machine::new().file("/etc/postgresql-common/pg_service.conf", "[inv]\nhost=debian-host\n").var("PGUSER", "u");
    assert_eq!(host(&debian, "postgres://?service=inv"), "debian-host");
    // A service that names a service, and a line without `=`, are errors.
    let nested = Machine::new().file("/home/me/.pg_service.conf", "[a]\nservice=b\n").var("PGUSER", "u");
    assert!(nested.try_resolve("postgres://?service=a").unwrap_err().contains("cannot name another service"));
    let broken = Machine::new().file("/home/me/.pg_service.conf", "[a]\nhost\n").var("PGUSER", "u");
    assert!(broken.try_resolve("postgres://?service=a").unwrap_err().contains("line 2"));
    // A setting this client does not support is named, not silently dropped.
    let unknown =
        Machine::new().file("/home/me/.pg_service.conf", "[a]\nhost=h\ngssencmode=disable\n").var("PGUSER", "u");
    let (e, _) = unknown.try_resolve("postgres://?service=a").unwrap();
    assert!(e.warnings.iter().any(|w| w.contains("gssencmode")), "{:?}", e.warnings);
}

#[test]
fn the_password_comes_from_the_url_then_the_password_file_then_the_service_then_pgpassword_then_pgpass() {
    let pgpass = "*:*:*:*:from-pgpass\n";
    let mut machine = Machine::new()
        .file("/home/me/.pgpass", pgpass)
        .file("/home/me/.pg_service.conf", "[s]\npassword=from-service\n")
        .file("/run/secrets/db", "from-file\nsecond line\n")
        .var("PGSERVICE", "s")
        .var("PGPASSWORD", "from-env");
    machine.password_file = Some("/run/secrets/db");
    let password = |m: &Machine, url: &str| {
        let e = m.resolve(url);
        let value = e.url.split("u:").nth(1).and_then(|r| r.split('@').next()).map(str::to_string);
        (value, e.password.map(|o| o.to_string()))
    };
    let some = |v: &str, o: &str| (Some(v.to_string()), Some(o.to_string()));
    assert_eq!(password(&machine, "postgres://u:from-url@h/d"), some("from-url", "URL"));
    assert_eq!(password(&machine, "postgres://u@h/d"), some("from-file", "--db-password-file /run/secrets/db"));
    machine.password_file = None;
    assert_eq!(password(&machine, "postgres://u@h/d"), some("from-service", "service `s` in ~/.pg_service.conf"));
    machine.variables.remove("PGSERVICE");
    assert_eq!(password(&machine, "postgres://u@h/d"), some("from-env", "PGPASSWORD"));
    machine.variables.remove("PGPASSWORD");
    assert_eq!(password(&machine, "postgres://u@h/d"), some("from-pgpass", "~/.pgpass"));
    // PGPASSFILE names another file; a missing one gives no password.
    let e = machine.clone_with("PGPASSFILE", "/nowhere").resolve("postgres://u@h/d");
    assert_eq!(e.password, None);
    assert!(e.describe().contains("no password"));
}

#[test]
fn a_pgpass_file_others_may_read_is_ignored_with_a_warning() {
    for mode in [0o640, 0o604, 0o660, 0o610] {
        let machine = Machine::new().file_mode("/home/me/.pgpass", "*:*:*:*:secret\n", mode);
        let e = machine.resolve("postgres://u@h/d");
        assert_eq!(e.password, None, "{mode:o}");
        assert!(e.warnings.iter().any(|w| w.contains("~/.pgpass") && w.contains("0600")), "{:?}", e.warnings);
        assert!(!e.warnings.concat().contains("secret"));
    }
    let e = Machine::new().file_mode("/home/me/.pgpass", "*:*:*:*:secret\n", 0o400).resolve("postgres://u@h/d");
    assert_eq!(e.password, Some(Origin::Pgpass("~/.pgpass".into())));
    assert!(e.warnings.is_empty());
}

#[test]
fn pgpass_lines_match_as_libpq_matches_them() {
    let text = "# host:port:db:user:password\n\
                db.example:5432:app:alice:first\n\
                db.example:*:*:alice:second\n\
                *:*:*:bob:b\\:o\\\\b:ignored\n\
                we\\:ird:5432:app:carol:escaped-host\n\
                localhost:5432:*:dave:socket\r\n\
                \\*:*:*:erin:literal-star\n\
                short:line\n";
    let find = |host: &str, port: &str, db: &str, user: &str| pgpass_password(text, host, port, db, user);
    assert_eq!(find("db.example", "5432", "app", "alice").as_deref(), Some("first"));
    assert_eq!(find("db.example", "6432", "other", "alice").as_deref(), Some("second"));
    assert_eq!(find("anywhere", "1", "x", "bob").as_deref(), Some("b:o\\b"));
    assert_eq!(find("we:ird", "5432", "app", "carol").as_deref(), Some("escaped-host"));
    assert_eq!(find("localhost", "5432", "x", "dave").as_deref(), Some("socket"));
    assert_eq!(find("h", "5432", "x", "erin"), None);
    assert_eq!(find("*", "5432", "x", "erin").as_deref(), Some("literal-star"));
    assert_eq!(find("db.example", "5432", "app", "mallory"), None);
    // A socket in the default directory is `localhost` to the password file.
    let machine = Machine::new().file("/home/me/.pgpass", text).socket("/var/run/postgresql/.s.PGSQL.5432");
    let e = machine.resolve("postgres://dave@/x");
    assert_eq!(e.password, Some(Origin::Pgpass("~/.pgpass".into())));
    assert!(e.url.starts_with("postgres://dave:socket@%2Fvar%2Frun%2Fpostgresql:5432/x"), "{}", e.url);
}

#[test]
fn the_password_file_gives_its_first_line_or_a_clear_error() {
    let mut machine = Machine::new().file("/s/crlf", "p@ss word\r\nnext\n").file("/s/empty", "\nsecond\n");
    machine.password_file = Some("/s/crlf");
    let e = machine.resolve("mysql://root@127.0.0.1/test");
    assert_eq!(e.url, "mysql://root:p%40ss%20word@127.0.0.1:3306/test");
    assert_eq!(e.shown, "mysql://root@127.0.0.1:3306/test");
    machine.password_file = Some("/s/empty");
    assert!(machine.try_resolve("mysql://root@h/test").unwrap_err().contains("first line"));
    machine.password_file = Some("/s/missing");
    assert!(machine.try_resolve("postgres://u@h/d").unwrap_err().contains("does not exist"));
    // A URL's own password wins, and then the file is not even read.
    let (e, asked) = machine.try_resolve("postgres://u:given@h/d").unwrap();
    assert_eq!(e.password, Some(Origin::Url));
    assert!(!asked.contains(&"/s/missing".to_string()));
}

#[test]
fn mysql_option_files_are_read_as_the_client_reads_them() {
    let text = "# comment\n; another\n[mysqld]\nuser=server-user\n[client]\n  user = 'quo#ted' # comment\n\
                password=\"p\\\"w\\\\d\"\nhost=db # trailing comment\nloose_port = 3307\nssl_mode=REQUIRED\n\
                !includedir /etc/mysql/conf.d/\n[client-mariadb]\ndatabase=app\n[mysql]\ndatabase=not-ours\n\
                [client-server]\nsocket=/run/mysqld/mysqld.sock\npassword\n";
    let (options, notes) = option_file(text);
    let get = |key: &str| options.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    assert_eq!(get("user"), Some(Some("quo#ted".into())));
    assert_eq!(get("host"), Some(Some("db".into())));
    assert_eq!(get("port"), Some(Some("3307".into())));
    assert_eq!(get("ssl-mode"), Some(Some("REQUIRED".into())));
    assert_eq!(get("database"), Some(Some("app".into())));
    assert_eq!(get("password"), Some(None));
    assert_eq!(options.iter().find(|(k, _)| k == "password").and_then(|(_, v)| v.clone()), Some("p\"w\\d".into()));
    assert!(notes.iter().any(|n| n.contains("!includedir")), "{notes:?}");
    assert_eq!(option_value(r"a\tb\sc\\d\n"), "a\tb c\\d\n");
    assert_eq!(option_value("'x # y'  # z"), "x # y");
    assert_eq!(option_value(r"C:\path"), r"C:\path");
}

#[test]
fn mysql_takes_the_url_then_the_option_files_then_the_variables() {
    let mut machine = Machine::new()
        .file("/etc/extra.cnf", "[client]\nuser=extra-user\nhost=extra-host\nport=3310\npassword=extra-pw\n")
        .file("/home/me/.my.cnf", "[client]\nhost=home-host\ndatabase=home-db\n")
        .var("MYSQL_HOST", "env-host")
        .var("MYSQL_TCP_PORT", "3399")
        .var("MYSQL_PWD", "env-pw");
    machine.defaults_extra_file = Some("/etc/extra.cnf");
    let e = machine.resolve("mariadb://");
    // ~/.my.cnf is read after the extra file, so it wins where both say something.
    assert_eq!(origin(&e, "host"), ("home-host".into(), "option file ~/.my.cnf".into()));
    assert_eq!(origin(&e, "user"), ("extra-user".into(), "option file /etc/extra.cnf".into()));
    assert_eq!(origin(&e, "port"), ("3310".into(), "option file /etc/extra.cnf".into()));
    assert_eq!(origin(&e, "database"), ("home-db".into(), "option file ~/.my.cnf".into()));
    assert_eq!(e.password, Some(Origin::OptionFile("/etc/extra.cnf".into())));
    assert_eq!(e.url, "mysql://extra-user:extra-pw@home-host:3310/home-db");
    assert_eq!(e.shown, "mysql://extra-user@home-host:3310/home-db");
    // The URL wins over both.
    let e = machine.resolve("mysql://root:url-pw@127.0.0.1:3306/test");
    assert_eq!(e.url, "mysql://root:url-pw@127.0.0.1:3306/test");
    // Without option files, the variables; without them, the defaults.
    machine.defaults_extra_file = None;
    machine.files.clear();
    let e = machine.resolve("mysql:///test");
    assert_eq!(e.url, "mysql://osuser:env-pw@env-host:3399/test");
    assert_eq!(e.password, Some(Origin::Variable("MYSQL_PWD")));
    let e = Machine::new().resolve("mysql://");
    assert_eq!(e.url, "mysql://osuser@localhost:3306");
    assert_eq!(e.part("database"), None);
    assert!(e.describe().contains("no password"));
}

#[test]
fn a_world_writable_or_missing_option_file_is_handled_as_the_client_does() {
    let machine = Machine::new().file_mode("/home/me/.my.cnf", "[client]\npassword=secret\nuser=u\n", 0o666);
    let e = machine.resolve("mysql://h/test");
    assert_eq!(e.password, None);
    assert_eq!(origin(&e, "user"), ("osuser".into(), "operating-system user".into()));
    assert!(e.warnings.iter().any(|w| w.contains("world-writable") && w.contains("~/.my.cnf")), "{:?}", e.warnings);
    // A missing ~/.my.cnf is nothing; a missing --defaults-extra-file is an error.
    let mut machine = Machine::new();
    assert!(machine.try_resolve("mysql://h/test").is_ok());
    machine.defaults_extra_file = Some("/etc/missing.cnf");
    assert!(machine.try_resolve("mysql://h/test").unwrap_err().contains("/etc/missing.cnf"));
    // Option-file TLS settings become the URL's.
    let machine = Machine::new().file("/home/me/.my.cnf", "[client]\nssl-mode=VERIFY_CA\nssl-ca=/etc/ca.pem\n");
    let e = machine.resolve("mysql://u@h/test");
    assert_eq!(e.url, "mysql://u@h:3306/test?ssl-mode=VERIFY_CA&root_cert_path=/etc/ca.pem");
    let e = machine.resolve("mysql://u@h/test?ssl-mode=DISABLED");
    assert_eq!(e.url, "mysql://u@h:3306/test?ssl-mode=DISABLED&root_cert_path=/etc/ca.pem");
}

#[test]
fn other_urls_are_left_to_the_driver() {
    let machine = Machine::new().var("PGUSER", "x").var("PGPASSWORD", "pw");
    for url in ["sqlite:db.sqlite3", "sqlite:/abs/x.db", "host=127.0.0.1 password=kv", "oracle://a/b"] {
        let (e, asked) = machine.try_resolve(url).unwrap();
        assert_eq!(e.url, url);
        assert_eq!(e.shown, crate::core::redact::redact(url));
        assert!(e.parts.is_empty() && asked.is_empty());
        assert!(!e.describe().contains("kv"), "{}", e.describe());
    }
}

#[test]
fn a_recorded_url_is_the_same_database_however_the_next_one_is_given() {
    let machine = Machine::new().var("PGHOST", "127.0.0.1").var("PGUSER", "postgres").var("PGDATABASE", "inv");
    let recorded = machine.resolve("postgres://postgres@127.0.0.1:5432/inv").shown;
    for given in ["postgres://", "postgresql:///inv", "postgres://postgres@127.0.0.1/inv", "postgres://127.0.0.1:5432"]
    {
        let shown = machine.resolve(given).shown;
        assert!(same_database(&recorded, &shown), "{recorded} vs {given} ({shown})");
    }
    for other in [
        "postgres:///other",
        "postgres://postgres@127.0.0.2/inv",
        "postgres://postgres@127.0.0.1:5433/inv",
        "postgres://someone@127.0.0.1/inv",
        "postgres://postgres@127.0.0.1/inv?options=-csearch_path%3Dt1",
        "mysql://postgres@127.0.0.1/inv",
    ] {
        let shown = machine.resolve(other).shown;
        assert!(!same_database(&recorded, &shown), "{recorded} vs {other} ({shown})");
    }
    // URLs recorded before the conventions: no port, no user (the driver took the OS user), a
    // masked password.
    assert!(same_database("postgres://127.0.0.1/inv", "postgres://postgres@127.0.0.1:5432/inv"));
    assert!(same_database("postgres://postgres:***@127.0.0.1/inv", "postgres://postgres@127.0.0.1:5432/inv"));
    assert!(same_database("postgres://postgres@127.0.0.1", "postgres://postgres@127.0.0.1:5432/postgres"));
    assert!(!same_database("postgres://postgres@127.0.0.1", "postgres://postgres@127.0.0.1:5432/other"));
    assert!(same_database("mysql://root@127.0.0.1/test", "mariadb://root@127.0.0.1:3306/test"));
    assert!(!same_database("mysql://root@127.0.0.1/test", "mysql://root@127.0.0.1:3306"));
    assert!(same_database("sqlite:db.sqlite3", "sqlite:db.sqlite3"));
    assert!(!same_database("sqlite:db.sqlite3", "sqlite:other.sqlite3"));
}

#[test]
fn a_masked_password_in_a_recorded_url_is_no_password() {
    let mut machine = Machine::new().file("/s/pw", "real\n");
    machine.password_file = Some("/s/pw");
    let e = machine.resolve("postgres://app:***@db:5432/inv");
    assert_eq!(e.url, "postgres://app:real@db:5432/inv");
    assert_eq!(e.password, Some(Origin::PasswordFile("/s/pw".into())));
}

#[test]
fn the_operating_system_user_is_read_from_proc_and_passwd() {
    let status = "Name:\tmigrate\nUid:\t1000\t1001\t1001\t1001\nGid:\t0\t0\t0\t0\n";
    assert_eq!(effective_uid(status), Some(1001));
    assert_eq!(effective_uid("Name: x\n"), None);
    let passwd = "root:x:0:0:root:/root:/bin/bash\nbroken\ndeploy:x:1001:1001::/home/deploy:/bin/sh\n";
    assert_eq!(passwd_entry(passwd, 1001), Some(("deploy".into(), "/home/deploy".into())));
    assert_eq!(passwd_entry(passwd, 0), Some(("root".into(), "/root".into())));
    assert_eq!(passwd_entry(passwd, 7), None);
}
