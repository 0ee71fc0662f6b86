//! The `Driver` trait: the few primitives an import needs from a database. Ordering, checks and
//! bookkeeping are written once, in `apply.rs`; a dialect is one file of primitives.

pub mod mysql;
pub mod postgres;
pub mod sqlite;

use crate::core::model::{Dialect, Version};
use crate::core::state::HistoryRow;

/// A database error, with the database's own message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DbError(pub String);

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
                .ok_or_else(|| DbError(format!("history row `{version}` is not a version")))?,
            name,
            sha256: sha256.try_into().map_err(DbError)?,
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
    /// Writes (or replaces) a history row.
    fn record(&mut self, table: &str, row: &NewRow<'_>) -> Result<(), DbError>;
    fn unrecord(&mut self, table: &str, version: &Version) -> Result<(), DbError>;
}
