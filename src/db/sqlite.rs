//! SQLite, the embedded default (`<target>/db.sqlite3`), through rusqlite's bundled library.
//!
//! Quirks: DDL is transactional, so a whole release runs in one transaction; `BEGIN IMMEDIATE`
//! takes the write lock at once, so a second import waits (busy timeout) instead of failing
//! half-way. A dry run opens the file read-only and never creates it.
//!
//! Foreign keys: the bundled library enforces them by default, and inside a transaction
//! `PRAGMA foreign_keys = OFF` is a no-op, so the standard table rebuild of a migration (create
//! `new_x`, copy, drop `x`, rename) would cascade `ON DELETE CASCADE` into the children and
//! silently delete their rows. The import follows SQLite's documented procedure for schema
//! changes instead: enforcement off before each transaction starts (as in the `sqlite3` shell),
//! and `foreign_key_check` before each commit (see `apply.rs`).
//!
//! Extensions: functions an application registers on its own connections come from loadable
//! extensions the operator names (`--sqlite-extension`); they are loaded when the connection
//! opens, and loading is switched off again before any statement runs, so SQL in a migration
//! can never call `load_extension()`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, params};

use super::{
    DbError, Driver, HISTORY_COLUMNS, NewRow, RawHistoryRow, Violation, history_table_name, identity_table_name,
    parse_history,
};
use crate::core::identity::{IDENTITY_COLUMNS, IdentityRow, identity_table_ddl};
use crate::core::model::{Dialect, Version};
use crate::core::sql_script::history_table_ddl;
use crate::core::state::HistoryRow;

pub struct Sqlite {
    /// `None` for a dry run of a database file that does not exist yet.
    connection: Option<Connection>,
}

/// Sorts SQLite's result codes by what the user can do about them.
fn error(e: rusqlite::Error) -> DbError {
    let message = e.to_string();
    let code = match &e {
        rusqlite::Error::SqliteFailure(failure, _) => Some(failure.code),
        _ => None,
    };
    match code {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => DbError::Busy(message),
        Some(ErrorCode::DiskFull) => DbError::DiskFull(message),
        Some(ErrorCode::ReadOnly) => DbError::ReadOnly(message),
        Some(ErrorCode::PermissionDenied | ErrorCode::AuthorizationForStatementDenied | ErrorCode::CannotOpen) => {
            DbError::PermissionDenied(message)
        }
        _ => match message.strip_prefix("no such function: ") {
            Some(rest) => {
                let function = rest.split_whitespace().next().unwrap_or(rest).to_string();
                DbError::MissingFunction { function, message }
            }
            None => DbError::Statement(message),
        },
    }
}

impl Sqlite {
    /// Opens the file; a read-write open creates it and loads `extensions` (in order).
    pub fn open(
        path: &Path,
        read_only: bool,
        lock_timeout: Duration,
        extensions: &[PathBuf],
    ) -> Result<Sqlite, DbError> {
        if read_only && !path.exists() {
            return Ok(Sqlite { connection: None });
        }
        if read_only {
            recover_hot_journal(path, lock_timeout)?;
        }
        let flags = if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        let connection = Connection::open_with_flags(path, flags).map_err(error)?;
        connection.busy_timeout(lock_timeout).map_err(error)?;
        if !read_only {
            load_extensions(&connection, extensions)?;
        }
        Ok(Sqlite { connection: Some(connection) })
    }

    fn connection(&self) -> Result<&Connection, DbError> {
        self.connection.as_ref().ok_or_else(|| DbError::Statement("the database does not exist (dry run)".into()))
    }
}

/// A process that died in a write transaction (kill -9, power loss) leaves a hot rollback
/// journal beside the database, which only a connection that may write undoes; a read-only one
/// fails with "attempt to write a readonly database". So before a read-only open, a journal that
/// is there and not empty gets one read on a writing connection: SQLite then rolls it back as its
/// own recovery procedure prescribes, and only when no live connection holds a write lock (a
/// running import's journal is not hot, and is left alone).
fn recover_hot_journal(path: &Path, lock_timeout: Duration) -> Result<(), DbError> {
    let mut journal = path.as_os_str().to_owned();
    journal.push("-journal");
    let hot = std::fs::metadata(&journal).is_ok_and(|m| m.len() > 0);
    if !hot {
        return Ok(());
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags).map_err(error)?;
    connection.busy_timeout(lock_timeout).map_err(error)?;
    connection.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(())).map_err(error)?;
    Ok(())
}

/// Checks that each extension loads, into a database in memory: before the target or its
/// database is touched, so that a wrong path changes nothing.
pub fn check_extensions(extensions: &[PathBuf]) -> Result<(), DbError> {
    if extensions.is_empty() {
        return Ok(());
    }
    for path in extensions {
        if !path.is_file() {
            return Err(DbError::Extension(format!("the SQLite extension `{}` is not a file", path.display())));
        }
    }
    let connection = Connection::open_in_memory().map_err(error)?;
    load_extensions(&connection, extensions)
}

/// Loads the operator's extensions, then switches loading off for good.
fn load_extensions(connection: &Connection, extensions: &[PathBuf]) -> Result<(), DbError> {
    if extensions.is_empty() {
        return Ok(());
    }
    let failed = |path: &Path, e: rusqlite::Error| {
        DbError::Extension(format!("cannot load the SQLite extension `{}`: {}", path.display(), error(e)))
    };
    // SAFETY: loading is enabled only while the operator's own libraries load; no SQL runs in
    // between, and it is disabled again before this function returns, on every path.
    unsafe { connection.load_extension_enable() }.map_err(error)?;
    let mut result = Ok(());
    for path in extensions {
        // SAFETY: the library is one the operator named on the command line for this target (as
        // the application loads it into its own connections); never anything from a bundle.
        if let Err(e) = unsafe { connection.load_extension(path, None::<&str>) } {
            result = Err(failed(path, e));
            break;
        }
    }
    connection.load_extension_disable().map_err(error)?;
    result
}

impl Driver for Sqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn read_history(&mut self, table: &str) -> Result<Option<Vec<HistoryRow>>, DbError> {
        let table = history_table_name(table)?;
        let Some(connection) = &self.connection else { return Ok(None) };
        if !table_exists(connection, table)? {
            return Ok(None);
        }
        let mut statement = connection.prepare(&format!("SELECT {HISTORY_COLUMNS} FROM {table}")).map_err(error)?;
        let rows = statement
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
            .map_err(error)?
            .collect::<Result<Vec<RawHistoryRow>, _>>()
            .map_err(error)?;
        parse_history(rows).map(Some)
    }

    fn has_other_tables(&mut self, table: &str) -> Result<bool, DbError> {
        let Some(connection) = &self.connection else { return Ok(false) };
        let count: i64 = connection
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name <> ?1 AND name <> ?2 AND name NOT LIKE 'sqlite_%'",
                params![table, identity_table_name(table)?],
                |r| r.get(0),
            )
            .map_err(error)?;
        Ok(count > 0)
    }

    fn begin(&mut self) -> Result<(), DbError> {
        // Outside a transaction, where the pragma takes effect; every transaction of the import
        // starts here, so a migration that turned enforcement on cannot leave it on.
        self.connection()?.execute_batch("PRAGMA foreign_keys = OFF; BEGIN IMMEDIATE").map_err(error)
    }

    fn commit(&mut self) -> Result<(), DbError> {
        self.connection()?.execute_batch("COMMIT").map_err(error)
    }

    fn rollback(&mut self) -> Result<(), DbError> {
        let connection = self.connection()?;
        if connection.is_autocommit() {
            return Ok(()); // nothing open (SQLite may have rolled back by itself)
        }
        connection.execute_batch("ROLLBACK").map_err(error)
    }

    fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        // `execute_batch` runs the text as written, including statements that return rows.
        self.connection()?.execute_batch(sql).map_err(error)
    }

    fn ensure_history(&mut self, table: &str) -> Result<(), DbError> {
        let table = history_table_name(table)?;
        self.connection()?.execute_batch(&history_table_ddl(Dialect::Sqlite, table)).map_err(error)
    }

    fn record(&mut self, table: &str, row: &NewRow<'_>) -> Result<(), DbError> {
        let table = history_table_name(table)?;
        self.connection()?
            .execute(
                &format!(
                    "INSERT OR REPLACE INTO {table} (version, name, sha256, statements_done, statements_total, release_id, applied_by, applied_at, duration_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'import', ?7, ?8)"
                ),
                params![
                    row.version.as_str(),
                    row.name,
                    row.sha256,
                    row.statements_done,
                    row.statements_total,
                    row.release_id,
                    row.applied_at,
                    i64::try_from(row.duration_ms).unwrap_or(i64::MAX)
                ],
            )
            .map(|_| ())
            .map_err(error)
    }

    fn unrecord(&mut self, table: &str, version: &Version) -> Result<(), DbError> {
        let table = history_table_name(table)?;
        self.connection()?
            .execute(&format!("DELETE FROM {table} WHERE version = ?1"), params![version.as_str()])
            .map(|_| ())
            .map_err(error)
    }

    fn read_identity(&mut self, table: &str) -> Result<Option<IdentityRow>, DbError> {
        let table = identity_table_name(table)?;
        let Some(connection) = &self.connection else { return Ok(None) };
        if !table_exists(connection, &table)? {
            return Ok(None);
        }
        let sql = format!("SELECT {IDENTITY_COLUMNS} FROM {table} WHERE id = 1");
        let mut statement = connection.prepare(&sql).map_err(error)?;
        let mut rows = statement
            .query_map([], |r| {
                Ok(IdentityRow {
                    project: r.get(0)?,
                    target_id: r.get(1)?,
                    environment: r.get(2)?,
                    release_id: r.get(3)?,
                    release_version: r.get(4)?,
                    detail: r.get(5)?,
                    updated_at: r.get(6)?,
                })
            })
            .map_err(error)?;
        rows.next().transpose().map_err(error)
    }

    fn ensure_identity(&mut self, table: &str) -> Result<(), DbError> {
        let ddl = identity_table_ddl(Dialect::Sqlite, history_table_name(table)?);
        self.connection()?.execute_batch(&ddl).map_err(error)
    }

    fn record_identity(&mut self, table: &str, row: &IdentityRow) -> Result<(), DbError> {
        let name = identity_table_name(table)?;
        self.connection()?
            .execute(
                &format!(
                    "INSERT OR REPLACE INTO {name} (id, {IDENTITY_COLUMNS}) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                ),
                params![
                    row.project,
                    row.target_id,
                    row.environment,
                    row.release_id,
                    row.release_version,
                    row.detail,
                    row.updated_at
                ],
            )
            .map(|_| ())
            .map_err(error)
    }

    fn constraint_violations(&mut self) -> Result<Vec<Violation>, DbError> {
        let connection = self.connection()?;
        let mut statement =
            connection.prepare("SELECT \"table\", rowid, parent FROM pragma_foreign_key_check").map_err(error)?;
        let found = statement
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?, r.get::<_, String>(2)?)))
            .map_err(error)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(error)?;
        let mut violations = Vec::with_capacity(found.len());
        let mut parents: std::collections::BTreeMap<String, bool> = std::collections::BTreeMap::new();
        for (table, rowid, parent) in found {
            let parent_exists = match parents.get(&parent) {
                Some(exists) => *exists,
                None => {
                    let exists = connection
                        .query_row(
                            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1 COLLATE NOCASE",
                            params![parent],
                            |r| r.get::<_, i64>(0),
                        )
                        .map_err(error)?
                        > 0;
                    parents.insert(parent.clone(), exists);
                    exists
                }
            };
            violations.push(Violation { table, rowid, parent, parent_exists, row: String::new() });
        }
        Ok(violations)
    }

    fn describe(&mut self, violation: &Violation) -> String {
        self.describe_violation(violation)
    }
}

impl Sqlite {
    fn describe_violation(&self, violation: &Violation) -> String {
        match (&self.connection, violation.rowid) {
            (Some(connection), Some(rowid)) => describe_row(connection, &violation.table, rowid),
            _ => String::new(),
        }
    }
}

/// The first columns of a row, `name = value`, for a message; empty when it cannot be read.
/// Whether a table of that name exists.
fn table_exists(connection: &Connection, table: &str) -> Result<bool, DbError> {
    let count: i64 = connection
        .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", params![table], |r| {
            r.get(0)
        })
        .map_err(error)?;
    Ok(count > 0)
}

fn describe_row(connection: &Connection, table: &str, rowid: i64) -> String {
    let quoted = format!("\"{}\"", table.replace('"', "\"\""));
    let Ok(mut statement) = connection.prepare(&format!("SELECT * FROM {quoted} WHERE rowid = ?1")) else {
        return String::new();
    };
    let names: Vec<String> = statement.column_names().map(str::to_string).collect();
    let values = statement.query_row(params![rowid], |r| {
        (0..names.len().min(4)).map(|i| r.get::<_, rusqlite::types::Value>(i)).collect::<Result<Vec<_>, _>>()
    });
    let Ok(values) = values else { return String::new() };
    names
        .iter()
        .zip(values)
        .map(|(name, value)| {
            let shown = match value {
                rusqlite::types::Value::Null => "NULL".to_string(),
                rusqlite::types::Value::Integer(i) => i.to_string(),
                rusqlite::types::Value::Real(f) => f.to_string(),
                rusqlite::types::Value::Text(t) => format!("'{}'", t.chars().take(40).collect::<String>()),
                rusqlite::types::Value::Blob(b) => format!("<{} bytes>", b.len()),
            };
            format!("{name} = {shown}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}
