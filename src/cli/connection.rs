//! The shell of `core::connection`: the flags, the process's variables, the operating-system
//! user, and the files the resolution asks for (password files, service files, option files,
//! the PostgreSQL socket).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::core::connection::{Effective, FileState, Inputs, Step, effective_uid, passwd_entry};
use crate::db::DbError;

/// The connection flags of `import` and `status`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnectionArgs {
    /// A file whose first line is the database password, used when the URL has none (PostgreSQL
    /// and MySQL/MariaDB)
    #[arg(long, value_name = "FILE", help_heading = "Connection")]
    pub db_password_file: Option<PathBuf>,
    /// A MySQL/MariaDB option file whose `[client]`, `[client-server]` and `[client-mariadb]`
    /// groups give what the URL leaves out (user, password, host, port, database, ssl-mode,
    /// ssl-ca); read before ~/.my.cnf, as the mysql client reads it
    #[arg(long, value_name = "FILE", help_heading = "Connection")]
    pub defaults_extra_file: Option<PathBuf>,
}

/// The effective connection of `url`: what it leaves out taken from the conventions of its
/// client. A URL that cannot be completed (a service that is not defined, a password file that
/// cannot be read) is a `BadUrl`.
pub fn resolve(url: &str, args: &ConnectionArgs) -> Result<Effective, DbError> {
    let variables: BTreeMap<String, String> =
        std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect();
    let account = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| effective_uid(&status))
        .and_then(|uid| passwd_entry(&std::fs::read_to_string("/etc/passwd").ok()?, uid));
    // The home folder as libpq finds it: HOME, else the account's.
    let home = variables
        .get("HOME")
        .filter(|h| !h.is_empty())
        .cloned()
        .or_else(|| account.as_ref().map(|(_, home)| home.clone()));
    let os_user = account
        .map(|(name, _)| name)
        .or_else(|| ["USER", "LOGNAME"].iter().find_map(|v| variables.get(*v).filter(|u| !u.is_empty()).cloned()));
    let password_file = args.db_password_file.as_ref().map(|p| p.to_string_lossy().into_owned());
    let defaults_extra_file = args.defaults_extra_file.as_ref().map(|p| p.to_string_lossy().into_owned());
    let mut files = BTreeMap::new();
    // Each round reads one more file; a resolution reads a handful.
    for _ in 0..64 {
        let inputs = Inputs {
            variables: &variables,
            home: home.as_deref(),
            os_user: os_user.as_deref(),
            password_file: password_file.as_deref(),
            defaults_extra_file: defaults_extra_file.as_deref(),
            files: &files,
        };
        match crate::core::connection::resolve(url, &inputs).map_err(DbError::BadUrl)? {
            Step::Done(effective) => return Ok(effective),
            Step::Need(path) => {
                let found = look(&path);
                files.insert(path, found);
            }
        }
    }
    Err(DbError::BadUrl("the connection settings name too many files".into()))
}

/// What is at `path`: a plain file's text and permissions, or why there is none.
fn look(path: &str) -> FileState {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileState::Missing,
        Err(e) => FileState::Unreadable(e.to_string()),
        Ok(metadata) if !metadata.is_file() => FileState::NotAFile,
        Ok(metadata) => match std::fs::read_to_string(path) {
            Ok(text) => FileState::Text { text, mode: metadata.permissions().mode() & 0o7777 },
            Err(e) => FileState::Unreadable(e.to_string()),
        },
    }
}
