//! SQLite, the embedded default (`<target>/db.sqlite3`), through rusqlite's bundled library.
//!
//! Quirks: DDL is transactional, so a whole release runs in one transaction; `BEGIN IMMEDIATE`
//! takes the write lock at once, so a second import waits (busy timeout) instead of failing
//! half-way. A dry run opens the file read-only and never creates it.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, params};

use super::{DbError, Driver, HISTORY_COLUMNS, NewRow, RawHistoryRow, parse_history};
use crate::core::model::{Dialect, Version};
use crate::core::project::is_identifier;
use crate::core::sql_script::history_table_ddl;
use crate::core::state::HistoryRow;

pub struct Sqlite {
    /// `None` for a dry run of a database file that does not exist yet.
    connection: Option<Connection>,
}

fn error(e: rusqlite::Error) -> DbError {
    DbError(e.to_string())
}

impl Sqlite {
    pub fn open(path: &Path, read_only: bool, lock_timeout: Duration) -> Result<Sqlite, DbError> {
        if read_only && !path.exists() {
            return Ok(Sqlite { connection: None });
        }
        let flags = if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        let connection = Connection::open_with_flags(path, flags).map_err(error)?;
        connection.busy_timeout(lock_timeout).map_err(error)?;
        Ok(Sqlite { connection: Some(connection) })
    }

    fn connection(&self) -> Result<&Connection, DbError> {
        self.connection.as_ref().ok_or_else(|| DbError("the database does not exist (dry run)".into()))
    }
}

/// The history table's name goes into SQL text; it was checked to be a plain identifier when
/// `migrate.yaml` was read, and is checked again here because it arrives in a bundle.
fn table_name(table: &str) -> Result<&str, DbError> {
    if is_identifier(table) { Ok(table) } else { Err(DbError(format!("`{table}` is not a plain identifier"))) }
}

impl Driver for Sqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn read_history(&mut self, table: &str) -> Result<Option<Vec<HistoryRow>>, DbError> {
        let table = table_name(table)?;
        let Some(connection) = &self.connection else { return Ok(None) };
        let exists: i64 = connection
            .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", params![table], |r| {
                r.get(0)
            })
            .map_err(error)?;
        if exists == 0 {
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
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name <> ?1 AND name NOT LIKE 'sqlite_%'",
                params![table],
                |r| r.get(0),
            )
            .map_err(error)?;
        Ok(count > 0)
    }

    fn begin(&mut self) -> Result<(), DbError> {
        self.connection()?.execute_batch("BEGIN IMMEDIATE").map_err(error)
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
        let table = table_name(table)?;
        self.connection()?.execute_batch(&history_table_ddl(Dialect::Sqlite, table)).map_err(error)
    }

    fn record(&mut self, table: &str, row: &NewRow<'_>) -> Result<(), DbError> {
        let table = table_name(table)?;
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
        let table = table_name(table)?;
        self.connection()?
            .execute(&format!("DELETE FROM {table} WHERE version = ?1"), params![version.as_str()])
            .map(|_| ())
            .map_err(error)
    }
}
