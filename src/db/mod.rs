//! The `Driver` trait: the few primitives an import needs from a database. Ordering, checks and
//! bookkeeping are written once, in `apply.rs`; a dialect is one file of primitives.

pub mod mysql;
pub mod postgres;
pub mod sqlite;

use std::path::PathBuf;
use std::time::Duration;

use crate::core::identity::IdentityRow;
use crate::core::model::{Dialect, Version};
use crate::core::state::HistoryRow;
use crate::exit::Failure;
use crate::target::Target;

#[cfg(test)]
pub mod fake;

/// A database error, sorted by what the user can do about it; each kind has its own code and
/// help, and says whether retrying may help (exit 5) or something must change first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    /// The server cannot be reached, or the connection was lost.
    #[error("{0}")]
    Unreachable(String),
    /// Another session holds a lock the import needs (an advisory lock, `GET_LOCK`, SQLite's
    /// write lock), or a lock wait timed out.
    #[error("{0}")]
    Busy(String),
    /// The credentials were refused, or the user lacks a privilege.
    #[error("{0}")]
    PermissionDenied(String),
    /// TLS could not be set up as the URL asks (handshake, certificate, CA file).
    #[error("{0}")]
    Tls(String),
    /// The URL, or one of its options, is wrong.
    #[error("{0}")]
    BadUrl(String),
    /// A `--sqlite-extension` cannot be loaded.
    #[error("{0}")]
    Extension(String),
    /// The disk, or the database's space, is full.
    #[error("{0}")]
    DiskFull(String),
    /// The database cannot be written (a read-only file or server).
    #[error("{0}")]
    ReadOnly(String),
    /// A statement calls a function the database does not know (on SQLite, one the
    /// application registers on its own connections).
    #[error("{message}")]
    MissingFunction { message: String, function: String },
    /// A statement failed: the database's own message.
    #[error("{0}")]
    Statement(String),
}

impl DbError {
    /// Whether retrying later may help: nothing is wrong with the bundle, the target or the URL.
    pub fn is_temporary(&self) -> bool {
        matches!(self, DbError::Unreachable(_) | DbError::Busy(_))
    }

    /// The diagnostic code.
    pub fn code(&self) -> &'static str {
        match self {
            DbError::Unreachable(_) => "migrate::database_unreachable",
            DbError::Busy(_) => "migrate::database_busy",
            DbError::PermissionDenied(_) => "migrate::database_permission_denied",
            DbError::Tls(_) => "migrate::database_tls",
            DbError::BadUrl(_) => "migrate::database_url",
            DbError::Extension(_) => "migrate::sqlite_extension",
            DbError::DiskFull(_) => "migrate::disk_full",
            DbError::ReadOnly(_) => "migrate::database_read_only",
            DbError::MissingFunction { .. } => "migrate::missing_function",
            DbError::Statement(_) => "migrate::statement_failed",
        }
    }

    /// What the user can do about it.
    pub fn help(&self) -> String {
        match self {
            DbError::Unreachable(_) => {
                "check that the server runs and the host and port are right; retrying later may help".into()
            }
            DbError::Busy(_) => {
                "another session holds a lock this import needs: import again when it is released (`--lock-timeout` is how long import waits for its own lock; a `lock_timeout` in `session:` limits how long the statements wait)"
                    .into()
            }
            DbError::PermissionDenied(_) => {
                "check the user and password, and that the user may create tables and write in this database".into()
            }
            DbError::Tls(_) => {
                "check the URL's TLS options (`sslmode`, `sslrootcert`, `ssl-mode`) and the server's certificate".into()
            }
            DbError::BadUrl(_) => "correct the database URL".into(),
            DbError::Extension(_) => "give `--sqlite-extension` the path of a loadable SQLite extension (a shared library with an `sqlite3_extension_init` entry point)".into(),
            DbError::DiskFull(_) => "free space on the database's disk, then import again".into(),
            DbError::ReadOnly(_) => "make the database writable for this user, then import again".into(),
            DbError::MissingFunction { function, .. } => format!(
                "the database has no function `{function}`: if the application registers it on its own connections, load the same code with `--sqlite-extension PATH` (or `MIGRATE_SQLITE_EXTENSIONS`)"
            ),
            DbError::Statement(_) => "fix the migration in a new bundle".into(),
        }
    }
}

/// A row that violates a foreign key after the release ran (SQLite's `foreign_key_check`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub table: String,
    /// `None` for a `WITHOUT ROWID` table.
    pub rowid: Option<i64>,
    pub parent: String,
    /// Whether the parent table exists at all (a table renamed before it was dropped takes its
    /// children's references along on SQLite 3.26 and newer, unless `legacy_alter_table` is on).
    pub parent_exists: bool,
    /// The row's first columns, `name = value`, for the message (filled in for the few a
    /// message names, by `Driver::describe`).
    pub row: String,
}

/// The violations in `after` that `before` does not account for: per child and parent table,
/// more rows break the key than before. Counted rather than matched row by row, because a
/// table rebuild renumbers the rows it copies (and a `WITHOUT ROWID` table has no rowid).
pub fn new_violations(before: &[Violation], after: Vec<Violation>) -> Vec<Violation> {
    let count = |list: &[Violation], table: &str, parent: &str| {
        list.iter().filter(|v| v.table == table && v.parent == parent).count()
    };
    let grew: Vec<(String, String)> = {
        let mut pairs: Vec<(String, String)> = after.iter().map(|v| (v.table.clone(), v.parent.clone())).collect();
        pairs.sort();
        pairs.dedup();
        pairs.into_iter().filter(|(t, p)| count(&after, t, p) > count(before, t, p)).collect()
    };
    // Within a pair that grew, the rows whose rowid was not orphaned before come first.
    let (mut fresh, mut rest): (Vec<Violation>, Vec<Violation>) =
        after.into_iter().filter(|v| grew.iter().any(|(t, p)| *t == v.table && *p == v.parent)).partition(|v| {
            !before
                .iter()
                .any(|b| b.table == v.table && b.parent == v.parent && b.rowid == v.rowid && v.rowid.is_some())
        });
    fresh.append(&mut rest);
    fresh
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rowid = self.rowid.map(|r| format!(" rowid {r}")).unwrap_or_default();
        let row = if self.row.is_empty() { String::new() } else { format!(" ({})", self.row) };
        if self.parent_exists {
            write!(f, "`{}`{rowid}{row} refers to a row of `{}` that does not exist", self.table, self.parent)
        } else {
            write!(f, "`{}`{rowid}{row} refers to table `{}`, which does not exist", self.table, self.parent)
        }
    }
}

/// A history row to write.
pub struct NewRow<'a> {
    pub version: &'a Version,
    pub name: &'a str,
    pub sha256: &'a str,
    pub statements_done: u32,
    pub statements_total: u32,
    pub release_id: &'a str,
    pub applied_at: &'a str,
    pub duration_ms: u64,
}

/// The history columns every driver reads, in the order of `RawHistoryRow`.
const HISTORY_COLUMNS: &str = "version, name, sha256, statements_done, statements_total, applied_by";

/// A history row as a driver reads it: version, name, sha256, statements done and total, applied by.
type RawHistoryRow = (String, String, String, i64, i64, String);

/// Checks and orders the rows a driver read; a row that is not ours is an error, not skipped.
fn parse_history(rows: impl IntoIterator<Item = RawHistoryRow>) -> Result<Vec<HistoryRow>, DbError> {
    let mut history = Vec::new();
    for (version, name, sha256, done, total, applied_by) in rows {
        history.push(HistoryRow {
            version: Version::parse(&version)
                .ok_or_else(|| DbError::Statement(format!("history row `{version}` is not a version")))?,
            name,
            sha256: sha256.try_into().map_err(DbError::Statement)?,
            statements_done: u32::try_from(done).unwrap_or(0),
            statements_total: u32::try_from(total).unwrap_or(0),
            applied_by,
        });
    }
    history.sort_by(|a, b| a.version.cmp(&b.version));
    Ok(history)
}

pub trait Driver {
    fn dialect(&self) -> Dialect;
    /// Whether DDL can be rolled back; where it cannot (MySQL), progress is recorded statement
    /// by statement.
    fn transactional_ddl(&self) -> bool {
        true
    }
    /// The history rows, or `None` when the table does not exist.
    fn read_history(&mut self, table: &str) -> Result<Option<Vec<HistoryRow>>, DbError>;
    /// Whether the database has tables other than `table`.
    fn has_other_tables(&mut self, table: &str) -> Result<bool, DbError>;
    /// Starts the transaction that holds the database's lock (SQLite: `BEGIN IMMEDIATE`).
    fn begin(&mut self) -> Result<(), DbError>;
    fn commit(&mut self) -> Result<(), DbError>;
    fn rollback(&mut self) -> Result<(), DbError>;
    /// Runs one statement verbatim.
    fn execute(&mut self, sql: &str) -> Result<(), DbError>;
    /// Runs a migration's statements in order inside the open transaction; on failure, returns
    /// the index of the failing statement when it is known.
    fn execute_all(&mut self, statements: &[&str]) -> Result<(), (DbError, Option<usize>)> {
        for (index, sql) in statements.iter().enumerate() {
            self.execute(sql).map_err(|e| (e, Some(index)))?;
        }
        Ok(())
    }
    fn ensure_history(&mut self, table: &str) -> Result<(), DbError>;
    /// Drops the history table (an import that created it and then changed nothing, where the
    /// creation committed by itself).
    fn drop_history(&mut self, table: &str) -> Result<(), DbError> {
        self.execute(&format!("DROP TABLE {}", history_table_name(table)?))
    }
    /// The rows that break a foreign key now (SQLite, whose import runs with foreign-key
    /// enforcement off as its documented procedure for schema changes prescribes); empty where
    /// the database enforces them itself.
    fn constraint_violations(&mut self) -> Result<Vec<Violation>, DbError> {
        Ok(Vec::new())
    }
    /// Describes the row of a violation (its first columns) for a message.
    fn describe(&mut self, _violation: &Violation) -> String {
        String::new()
    }
    /// Writes (or replaces) a history row.
    fn record(&mut self, table: &str, row: &NewRow<'_>) -> Result<(), DbError>;
    fn unrecord(&mut self, table: &str, version: &Version) -> Result<(), DbError>;
    /// The target's identity row (`core::identity`) beside the history table `table`; `None`
    /// when there is none.
    fn read_identity(&mut self, table: &str) -> Result<Option<IdentityRow>, DbError>;
    /// Creates the identity table when it does not exist (MySQL: commits what is open).
    fn ensure_identity(&mut self, table: &str) -> Result<(), DbError>;
    /// Writes (or replaces) the identity row, in the open transaction if there is one.
    fn record_identity(&mut self, table: &str, row: &IdentityRow) -> Result<(), DbError>;
}

/// The identity table's name, checked like the history table's; a history table name too long
/// for it (a bundle from before the limit) is refused before anything changes.
pub fn identity_table_name(table: &str) -> Result<String, DbError> {
    let table = history_table_name(table)?;
    if table.len() > crate::core::project::MAX_HISTORY_TABLE {
        return Err(DbError::BadUrl(format!(
            "the history table `{table}` is longer than {} characters: its target record `{table}_target` would not fit the database's identifiers; export the bundle with a shorter `history_table`",
            crate::core::project::MAX_HISTORY_TABLE
        )));
    }
    Ok(crate::core::identity::identity_table(table))
}

/// The history table's name goes into SQL text; it was checked to be a plain identifier when
/// `migrate.yaml` was read, and is checked again here because it arrives in a bundle.
pub fn history_table_name(table: &str) -> Result<&str, DbError> {
    if crate::core::project::is_identifier(table) {
        Ok(table)
    } else {
        Err(DbError::BadUrl(format!("`{table}` is not a plain identifier")))
    }
}

/// The embedded default: a SQLite file in the target folder (relative paths are the target's).
pub const DEFAULT_DATABASE: &str = "sqlite:db.sqlite3";

/// Opens the database a URL names: `sqlite:PATH` (relative to the target), `postgres://...` or
/// `mysql://...`.
pub fn open_driver(
    url: &str,
    target: &Target,
    table: &str,
    read_only: bool,
    timeout: Duration,
    sqlite_extensions: &[PathBuf],
) -> Result<Box<dyn Driver>, DbError> {
    if let Some(path) = url.strip_prefix("sqlite:") {
        return Ok(Box::new(sqlite::Sqlite::open(&target.root.join(path), read_only, timeout, sqlite_extensions)?));
    }
    if !sqlite_extensions.is_empty() {
        return Err(DbError::BadUrl("`--sqlite-extension` loads into SQLite databases only".into()));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Box::new(postgres::Postgres::connect(url, table, read_only, timeout)?));
    }
    if url.starts_with("mysql://") || url.starts_with("mariadb://") {
        let url = url.replacen("mariadb://", "mysql://", 1);
        return Ok(Box::new(mysql::Mysql::connect(&url, table, read_only, timeout)?));
    }
    Err(DbError::BadUrl(format!(
        "`{}` is not a database URL: use `sqlite:PATH`, `postgres://...` or `mysql://...`",
        crate::core::redact::redact(url)
    )))
}

/// A database failure before anything changed: exit 5 when retrying may help, 2 for a URL
/// that cannot work, 1 otherwise.
/// A database error as the user sees it: the URL without its secrets, and the driver's message
/// scrubbed of them too (a driver may quote what it was given).
pub fn failure(url: &str, doing: &str, e: DbError) -> Failure {
    let message = crate::core::redact::scrub(&e.to_string(), &crate::core::redact::secrets(url));
    let report = miette::miette!(
        code = e.code(),
        help = e.help(),
        "cannot {doing} `{}`: {message}",
        crate::core::redact::redact(url)
    );
    match e {
        e if e.is_temporary() => Failure::temporary(report),
        DbError::BadUrl(_) | DbError::Extension(_) => Failure::usage(report),
        _ => Failure::refused(report),
    }
}
