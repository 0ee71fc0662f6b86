//! MySQL and MariaDB, through the pure-Rust `mysql` client.
//!
//! Quirks: every DDL statement commits by itself, so nothing of a migration with DDL can be
//! rolled back; `apply` records progress statement by statement (a row marked 0 of n before the
//! first statement, updated after each). Statements go through the text protocol whole, so
//! routine bodies need no `DELIMITER`. The lock is `GET_LOCK`, held by the session.
//! TLS follows the URL's `ssl-mode`, as the `mysql` client names it: `DISABLED` (the default
//! here), `REQUIRED` (encrypted, the certificate not checked, as the client does), `VERIFY_CA`
//! and `VERIFY_IDENTITY` (checked against the built-in roots, or the URL's `root_cert_path`).
//! A server without TLS is refused when TLS is asked for, never silently used in clear.

use std::time::Duration;

use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder, SslOpts};

use super::{
    DbError, Driver, HISTORY_COLUMNS, NewRow, RawHistoryRow, history_table_name, identity_table_name, parse_history,
};
use crate::core::identity::{IDENTITY_COLUMNS, IdentityRow, identity_table_ddl};
use crate::core::model::{Dialect, Version};
use crate::core::sql_script::history_table_ddl;
use crate::core::state::HistoryRow;

pub struct Mysql {
    connection: Conn,
}

/// The message without the crate's `MySqlError { ... }` wrapping (users read these), sorted by
/// the server's error number.
fn error(e: mysql::Error) -> DbError {
    match e {
        mysql::Error::MySqlError(e) => {
            let message = e.to_string();
            match e.code {
                // access denied (user, database, table, column, routine), super/other privilege needed
                1044 | 1045 | 1142 | 1143 | 1227 | 1370 | 1698 => DbError::PermissionDenied(message),
                // lock wait timeout, deadlock
                1205 | 1213 => DbError::Busy(message),
                // table full, disk full, out of space in the tablespace
                1021 | 1114 | 3 => DbError::DiskFull(message),
                // read-only server or transaction
                1290 | 1792 | 1836 => DbError::ReadOnly(message),
                1049 => DbError::BadUrl(message),
                // server shutting down, connection lost
                1053 | 2006 | 2013 => DbError::Unreachable(message),
                _ => DbError::Statement(message),
            }
        }
        mysql::Error::DriverError(e) => match e {
            mysql::DriverError::CouldNotConnect(_) | mysql::DriverError::ConnectTimeout => {
                DbError::Unreachable(e.to_string())
            }
            mysql::DriverError::TlsNotSupported => DbError::Tls(e.to_string()),
            other => DbError::Statement(other.to_string()),
        },
        // rustls reports a refused certificate through the socket's I/O.
        e @ (mysql::Error::IoError(_) | mysql::Error::CodecError(_)) => {
            let message = e.to_string();
            if ["certificate", "TLS", "tls", "handshake"].iter().any(|w| message.contains(w)) {
                DbError::Tls(message)
            } else {
                DbError::Unreachable(message)
            }
        }
        mysql::Error::TlsError(e) => DbError::Tls(format!("TLS: {e}")),
        mysql::Error::UrlError(e) => DbError::BadUrl(e.to_string()),
        other => DbError::Statement(other.to_string()),
    }
}

/// The `GET_LOCK` name of the history table of a database: `migrate:<database>.<table>`, or a
/// hash of it where that is longer than the 64 characters a lock name may have.
fn lock_name(database: &str, table: &str) -> String {
    let name = format!("migrate:{database}.{table}");
    if name.chars().count() <= 64 {
        return name;
    }
    format!("migrate:{}", &crate::core::hash::ContentHash::of(name.as_bytes()).hex()[..32])
}

impl Mysql {
    /// Connects; unless `read_only`, waits up to `lock_timeout` for the named lock of `table`.
    pub fn connect(url: &str, table: &str, read_only: bool, lock_timeout: Duration) -> Result<Mysql, DbError> {
        let (url, tls) = split_ssl_mode(url)?;
        let opts = Opts::from_url(&url).map_err(|e| DbError::BadUrl(e.to_string()))?;
        // The client would otherwise move a connection to `127.0.0.1` or `localhost` onto the
        // server's Unix socket, where the server may see another account (`root@localhost`
        // rather than `root@127.0.0.1`, with other privileges, as DEFINER of what the
        // migrations create) and TLS is left behind: the connection goes where the URL says.
        let mut builder = OptsBuilder::from_opts(opts.clone()).prefer_socket(false);
        if let Some(tls) = tls {
            // The URL's own TLS parameters (`root_cert_path`, ...) refine the mode's.
            let from_url = opts.get_ssl_opts().cloned().unwrap_or_default();
            let accept_invalid_certs = tls.accept_invalid_certs() || from_url.accept_invalid_certs();
            let skip_domain_validation = tls.skip_domain_validation() || from_url.skip_domain_validation();
            builder = builder.ssl_opts(Some(
                from_url
                    .with_danger_accept_invalid_certs(accept_invalid_certs)
                    .with_danger_skip_domain_validation(skip_domain_validation),
            ));
        }
        let mut connection = Conn::new(builder).map_err(error)?;
        if read_only {
            connection.query_drop("SET SESSION TRANSACTION READ ONLY").map_err(error)?;
        } else {
            // `GET_LOCK` names are the server's: the database keeps tenants that are databases of
            // one server from waiting for each other.
            let database: Option<String> = connection.query_first("SELECT DATABASE()").map_err(error)?.flatten();
            let name = lock_name(database.as_deref().unwrap_or(""), history_table_name(table)?);
            let seconds = lock_timeout.as_secs();
            let locked: Option<i64> = connection.exec_first("SELECT GET_LOCK(?, ?)", (name, seconds)).map_err(error)?;
            if locked != Some(1) {
                return Err(DbError::Busy(format!(
                    "another import held the database's lock (GET_LOCK) for {seconds} s"
                )));
            }
        }
        Ok(Mysql { connection })
    }
}

/// Takes `ssl-mode` out of the URL (the `mysql` crate does not know it) and says what TLS it asks for.
fn split_ssl_mode(url: &str) -> Result<(String, Option<SslOpts>), DbError> {
    let Some((base, query)) = url.split_once('?') else { return Ok((url.to_string(), None)) };
    let mut mode = None;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some((key, value)) if key.eq_ignore_ascii_case("ssl-mode") || key.eq_ignore_ascii_case("ssl_mode") => {
                mode = Some(value.to_ascii_uppercase());
            }
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    let tls = match mode.as_deref() {
        None | Some("DISABLED") => None,
        Some("REQUIRED") => {
            Some(SslOpts::default().with_danger_accept_invalid_certs(true).with_danger_skip_domain_validation(true))
        }
        Some("VERIFY_CA") => Some(SslOpts::default().with_danger_skip_domain_validation(true)),
        Some("VERIFY_IDENTITY") => Some(SslOpts::default()),
        Some(other) => {
            return Err(DbError::BadUrl(format!(
                "ssl-mode `{other}` is not one of DISABLED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY"
            )));
        }
    };
    Ok((url, tls))
}

impl Mysql {
    /// Whether a table of the connection's database has that name.
    fn table_exists(&mut self, table: &str) -> Result<bool, DbError> {
        let count: Option<i64> = self
            .connection
            .exec_first(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?",
                (table,),
            )
            .map_err(error)?;
        Ok(count.unwrap_or(0) > 0)
    }
}

impl Driver for Mysql {
    fn dialect(&self) -> Dialect {
        Dialect::Mysql
    }

    fn transactional_ddl(&self) -> bool {
        false
    }

    fn read_history(&mut self, table: &str) -> Result<Option<Vec<HistoryRow>>, DbError> {
        let table = history_table_name(table)?;
        if !self.table_exists(table)? {
            return Ok(None);
        }
        let rows: Vec<RawHistoryRow> =
            self.connection.query(format!("SELECT {HISTORY_COLUMNS} FROM {table}")).map_err(error)?;
        parse_history(rows).map(Some)
    }

    fn has_other_tables(&mut self, table: &str) -> Result<bool, DbError> {
        let count: Option<i64> = self
            .connection
            .exec_first(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name <> ? AND table_name <> ?",
                (table, identity_table_name(table)?),
            )
            .map_err(error)?;
        Ok(count.unwrap_or(0) > 0)
    }

    fn begin(&mut self) -> Result<(), DbError> {
        self.connection.query_drop("START TRANSACTION").map_err(error)
    }

    fn commit(&mut self) -> Result<(), DbError> {
        self.connection.query_drop("COMMIT").map_err(error)
    }

    fn rollback(&mut self) -> Result<(), DbError> {
        self.connection.query_drop("ROLLBACK").map_err(error)
    }

    fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        self.connection.query_drop(sql).map_err(error)
    }

    fn ensure_history(&mut self, table: &str) -> Result<(), DbError> {
        let table = history_table_name(table)?;
        self.connection.query_drop(history_table_ddl(Dialect::Mysql, table)).map_err(error)
    }

    fn record(&mut self, table: &str, row: &NewRow<'_>) -> Result<(), DbError> {
        let table = history_table_name(table)?;
        // RFC 3339 `2026-01-01T00:00:00Z` → DATETIME `2026-01-01 00:00:00`.
        let applied_at = row.applied_at.trim_end_matches('Z').replace('T', " ");
        self.connection
            .exec_drop(
                format!(
                    "REPLACE INTO {table} (version, name, sha256, statements_done, statements_total, release_id, applied_by, applied_at, duration_ms)
                     VALUES (?, ?, ?, ?, ?, ?, 'import', ?, ?)"
                ),
                (
                    row.version.as_str(),
                    row.name,
                    row.sha256,
                    row.statements_done,
                    row.statements_total,
                    row.release_id,
                    applied_at,
                    row.duration_ms,
                ),
            )
            .map_err(error)
    }

    fn unrecord(&mut self, table: &str, version: &Version) -> Result<(), DbError> {
        let table = history_table_name(table)?;
        self.connection.exec_drop(format!("DELETE FROM {table} WHERE version = ?"), (version.as_str(),)).map_err(error)
    }

    fn read_identity(&mut self, table: &str) -> Result<Option<IdentityRow>, DbError> {
        let table = identity_table_name(table)?;
        if !self.table_exists(&table)? {
            return Ok(None);
        }
        type Raw = (String, String, Option<String>, Option<String>, Option<String>, String, String);
        let row: Option<Raw> = self
            .connection
            .query_first(format!("SELECT {IDENTITY_COLUMNS} FROM {table} WHERE id = 1"))
            .map_err(error)?;
        Ok(row.map(|(project, target_id, environment, release_id, release_version, detail, updated_at)| IdentityRow {
            project,
            target_id,
            environment,
            release_id,
            release_version,
            detail,
            updated_at,
        }))
    }

    /// Commits what is open, as MySQL's DDL does.
    fn ensure_identity(&mut self, table: &str) -> Result<(), DbError> {
        let ddl = identity_table_ddl(Dialect::Mysql, history_table_name(table)?);
        self.connection.query_drop(ddl).map_err(error)
    }

    fn record_identity(&mut self, table: &str, row: &IdentityRow) -> Result<(), DbError> {
        let name = identity_table_name(table)?;
        self.connection
            .exec_drop(
                format!(
                    "REPLACE INTO {name} (id, {IDENTITY_COLUMNS})
                     VALUES (1, ?, ?, ?, ?, ?, ?, ?)"
                ),
                (
                    &row.project,
                    &row.target_id,
                    &row.environment,
                    &row.release_id,
                    &row.release_version,
                    &row.detail,
                    &row.updated_at,
                ),
            )
            .map_err(error)
    }
}
