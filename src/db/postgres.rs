//! PostgreSQL, through the synchronous `postgres` client.
//!
//! Quirks: DDL is transactional, so a whole release runs in one transaction, except
//! `-- migrate:no-transaction` migrations (`CREATE INDEX CONCURRENTLY`), which run between
//! commits. Statements go through the simple query protocol, so a migration's text reaches the
//! server as written (`$$` bodies and all). The lock is a session-level advisory lock derived
//! from the history table's name, taken before anything is read and released with the session.
//! A schema comes from the URL (`options=-csearch_path=...`). A dry run's session is read-only.
//! TLS follows the URL's `sslmode` as libpq does: `prefer` (the default) encrypts when the server
//! offers it, `require` insists, neither checks the certificate; `verify-ca` also checks that a
//! CA in `sslrootcert` (a PEM file) signed it, and `verify-full` that it names the host.

use std::time::{Duration, Instant};

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use postgres::Client;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::{DbError, Driver, HISTORY_COLUMNS, NewRow, history_table_name, identity_table_name, parse_history};
use crate::core::identity::{IDENTITY_COLUMNS, IdentityRow, identity_table_ddl};
use crate::core::model::{Dialect, Version};
use crate::core::sql_script::history_table_ddl;
use crate::core::state::HistoryRow;

pub struct Postgres {
    /// Always `Some` until the driver is dropped (then it may go back to its `Sessions`).
    client: Option<Client>,
    /// The history insert, prepared once: a release records a row per migration, and preparing
    /// each time costs a round trip.
    record_statement: Option<postgres::Statement>,
    /// Where the session goes when the import is done with it, and its key there.
    home: Option<(Rc<Sessions>, String)>,
}

/// The sessions a fleet's worker keeps between its targets, by server, database, user and
/// connection settings (the URL without its `options`): a tenant per schema of one database is
/// a `SET search_path` away from the next, where a new session costs the server a process, an
/// authentication and a TLS handshake — most of what a pass over up-to-date tenants costs.
///
/// A session goes back only when the import leaves it idle, and after `DISCARD ALL` (as a
/// pooler resets one between clients): settings, role, temporary tables, prepared statements,
/// `LISTEN`s and advisory locks of one target never reach the next. A target's `options` are set
/// on the session with `set_config`; a URL whose `options` are more than `-c name=value`
/// settings gets a session of its own.
#[derive(Default)]
pub struct Sessions {
    idle: RefCell<Vec<(String, Client)>>,
}

impl Sessions {
    /// Idle sessions kept per worker at most.
    const KEEP: usize = 4;

    fn take(&self, key: &str) -> Option<Client> {
        let mut idle = self.idle.borrow_mut();
        let at = idle.iter().rposition(|(k, _)| k == key)?;
        Some(idle.remove(at).1)
    }

    fn give(&self, key: String, client: Client) {
        let mut idle = self.idle.borrow_mut();
        if idle.len() >= Self::KEEP {
            idle.remove(0);
        }
        idle.push((key, client));
    }
}

/// The URL without its `options` parameter, and the settings `options` makes (`-c name=value`,
/// `-cname=value`, `--name=value`); `None` when `options` holds anything else.
fn split_options(url: &str) -> Option<(String, Vec<(String, String)>)> {
    let Some((base, query)) = url.split_once('?') else { return Some((url.to_string(), Vec::new())) };
    let mut kept = Vec::new();
    let mut settings = Vec::new();
    for pair in query.split('&') {
        let Some(value) = pair.strip_prefix("options=") else {
            kept.push(pair);
            continue;
        };
        let value = crate::core::redact::percent_decode(value);
        if value.contains('\\') {
            return None;
        }
        let mut words = value.split_ascii_whitespace();
        while let Some(word) = words.next() {
            let setting = match word {
                "-c" => words.next()?,
                _ => word.strip_prefix("--").or_else(|| word.strip_prefix("-c"))?,
            };
            let (name, value) = setting.split_once('=')?;
            if name.is_empty() {
                return None;
            }
            settings.push((name.replace('-', "_"), value.to_string()));
        }
    }
    let base = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    Some((base, settings))
}

/// Makes a target's `options` settings on a session, as they would be at its start.
fn apply_settings(client: &mut Client, settings: &[(String, String)]) -> Result<(), postgres::Error> {
    if settings.is_empty() {
        return Ok(());
    }
    let (names, values): (Vec<&str>, Vec<&str>) = settings.iter().map(|(n, v)| (n.as_str(), v.as_str())).unzip();
    client
        .execute(
            "SELECT set_config(name, value, false) FROM unnest($1::text[], $2::text[]) AS s(name, value)",
            &[&names, &values],
        )
        .map(|_| ())
}

fn error(e: postgres::Error) -> DbError {
    if let Some(db) = e.as_db_error() {
        let message = format!("{}: {}", db.severity(), db.message());
        // SQLSTATE classes: https://www.postgresql.org/docs/current/errcodes-appendix.html
        let code = db.code().code();
        return match code {
            "28000" | "28P01" | "42501" => DbError::PermissionDenied(message),
            "53100" => DbError::DiskFull(message),
            "55P03" | "40P01" => DbError::Busy(message),
            "25006" => DbError::ReadOnly(message),
            "3D000" => DbError::BadUrl(message),
            _ if code.starts_with("08") || code.starts_with("57P") => DbError::Unreachable(message),
            _ => DbError::Statement(message),
        };
    }
    // The client's own errors ("error performing TLS handshake") keep their cause apart.
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    if message.starts_with("error performing TLS handshake") {
        DbError::Tls(message)
    } else if message.starts_with("invalid connection string") || message.starts_with("invalid configuration") {
        DbError::BadUrl(message)
    } else if message.starts_with("authentication error") {
        DbError::PermissionDenied(message)
    } else if e.is_closed()
        || ["error connecting to server", "error communicating with the server", "timeout waiting for server"]
            .iter()
            .any(|p| message.starts_with(p))
    {
        DbError::Unreachable(message)
    } else {
        DbError::Statement(message)
    }
}

/// What the URL's `sslmode` asks of the server's certificate.
enum Verify {
    /// `disable`, `prefer`, `require`: the certificate is not checked (the handshake's
    /// signatures still are).
    Nothing,
    /// `verify-ca`, `verify-full`: signed by a CA of `roots`; with `host`, also naming the host.
    Certificate { roots: rustls::RootCertStore, host: bool },
}

/// Takes `sslmode=verify-*` and `sslrootcert` out of the URL (the client knows neither), leaving
/// `sslmode=require` in their place so that the client insists on TLS.
fn split_verification(url: &str) -> Result<(String, Verify), DbError> {
    let Some((base, query)) = url.split_once('?') else { return Ok((url.to_string(), Verify::Nothing)) };
    let (mut mode, mut root) = (None, None);
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("sslmode", value @ ("verify-ca" | "verify-full"))) => mode = Some(value),
            Some(("sslrootcert", value)) => root = Some(value),
            _ => kept.push(pair),
        }
    }
    let Some(mode) = mode else {
        if root.is_some() {
            return Err(DbError::BadUrl("`sslrootcert` needs `sslmode=verify-ca` or `sslmode=verify-full`".into()));
        }
        return Ok((url.to_string(), Verify::Nothing));
    };
    let root =
        root.ok_or_else(|| DbError::BadUrl(format!("`sslmode={mode}` needs `sslrootcert=FILE`, the CA's PEM file")))?;
    let mut roots = rustls::RootCertStore::empty();
    let certificates = CertificateDer::pem_file_iter(root)
        .map_err(|e| DbError::Tls(format!("cannot read the CA file `{root}`: {e}")))?;
    for certificate in certificates {
        let certificate = certificate.map_err(|e| DbError::Tls(format!("cannot read the CA file `{root}`: {e}")))?;
        roots
            .add(certificate)
            .map_err(|e| DbError::Tls(format!("the CA file `{root}` holds a bad certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(DbError::Tls(format!("the CA file `{root}` holds no certificate")));
    }
    kept.push("sslmode=require");
    Ok((format!("{base}?{}", kept.join("&")), Verify::Certificate { roots, host: mode == "verify-full" }))
}

/// rustls with ring, checking the server's certificate as `verify` says.
fn tls(verify: Verify) -> Result<tokio_postgres_rustls::MakeRustlsConnect, DbError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match verify {
        Verify::Nothing => Arc::new(Lenient { provider: Arc::clone(&provider), chain: None }),
        Verify::Certificate { roots, host } => {
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                .build()
                .map_err(|e| DbError::Tls(format!("cannot use the CA file: {e}")))?;
            if host { webpki } else { Arc::new(Lenient { provider: Arc::clone(&provider), chain: Some(webpki) }) }
        }
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DbError::Tls(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// The certificate checks of libpq's lenient modes: none (`prefer`, `require`), or, with `chain`,
/// that the chain reaches a trusted CA whatever name the certificate holds (`verify-ca`). The
/// handshake's signatures are checked in every mode.
#[derive(Debug)]
struct Lenient {
    provider: Arc<rustls::crypto::CryptoProvider>,
    chain: Option<Arc<WebPkiServerVerifier>>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else { return Ok(ServerCertVerified::assertion()) };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// A 64-bit advisory lock key for the history table in a schema. An advisory lock is the
/// database's, so tenants that are databases never meet; the schema keeps tenants that are
/// schemas of one database from waiting for each other.
fn lock_key(schema: &str, table: &str) -> i64 {
    let digest = crate::core::hash::ContentHash::of(format!("migrate:{schema}.{table}").as_bytes());
    i64::from_str_radix(&digest.hex()[..15], 16).unwrap_or(0x6d69_6772_6174)
}

impl Postgres {
    /// Connects; unless `read_only`, waits up to `lock_timeout` for the advisory lock of `table`.
    pub fn connect(url: &str, table: &str, read_only: bool, lock_timeout: Duration) -> Result<Postgres, DbError> {
        let (url, verify) = split_verification(url)?;
        let client = Client::connect(&url, tls(verify)?).map_err(error)?;
        Postgres::start(client, None, table, read_only, lock_timeout)
    }

    /// `connect`, on an idle session of `sessions` to the same server, database and user when
    /// there is one (a new one otherwise), which goes back there when the driver is dropped.
    pub fn connect_reusing(
        url: &str,
        table: &str,
        read_only: bool,
        lock_timeout: Duration,
        sessions: &Rc<Sessions>,
    ) -> Result<Postgres, DbError> {
        let Some((base, settings)) = split_options(url) else {
            return Postgres::connect(url, table, read_only, lock_timeout);
        };
        // An idle session that went away meanwhile is replaced by a new one.
        let reused =
            sessions.take(&base).and_then(|mut client| apply_settings(&mut client, &settings).ok().map(|()| client));
        let client = match reused {
            Some(client) => client,
            None => {
                let (plain, verify) = split_verification(&base)?;
                let mut client = Client::connect(&plain, tls(verify)?).map_err(error)?;
                if apply_settings(&mut client, &settings).is_err() {
                    // A setting only a session's start takes: the URL as it is, on its own.
                    return Postgres::connect(url, table, read_only, lock_timeout);
                }
                client
            }
        };
        Postgres::start(client, Some((sessions.clone(), base)), table, read_only, lock_timeout)
    }

    fn start(
        mut client: Client,
        home: Option<(Rc<Sessions>, String)>,
        table: &str,
        read_only: bool,
        lock_timeout: Duration,
    ) -> Result<Postgres, DbError> {
        if read_only {
            client.batch_execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY").map_err(error)?;
        } else {
            // Where the history table is (or will be made): the first schema of the search path.
            let schema =
                client.simple_query("SELECT current_schema()").map_err(error)?.into_iter().find_map(|m| match m {
                    postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
                    _ => None,
                });
            let key = lock_key(schema.as_deref().unwrap_or(""), history_table_name(table)?);
            let started = Instant::now();
            loop {
                let locked: bool = client.query_one("SELECT pg_try_advisory_lock($1)", &[&key]).map_err(error)?.get(0);
                if locked {
                    break;
                }
                if started.elapsed() >= lock_timeout {
                    return Err(DbError::Busy(format!(
                        "another import held the database's advisory lock for {} s",
                        lock_timeout.as_secs()
                    )));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(Postgres { client: Some(client), record_statement: None, home })
    }

    fn client(&mut self) -> &mut Client {
        self.client.as_mut().expect("a driver holds its session until it is dropped")
    }

    /// Whether a table of the search path's first schema exists. `table` is a checked identifier:
    /// it goes in the text, in one round trip of the simple query protocol.
    fn exists(&mut self, table: &str) -> Result<bool, DbError> {
        let rows = self.text_rows(&format!("SELECT to_regclass('{table}') IS NOT NULL"))?;
        Ok(rows.into_iter().next().and_then(|mut row| row.next().flatten()).as_deref() == Some("t"))
    }

    /// The rows of a query without parameters, as text (`None` for NULL), in one round trip:
    /// the extended protocol's prepare would cost a second one, a fleet's tenants pay it on
    /// every read.
    fn text_rows(&mut self, sql: &str) -> Result<Vec<std::vec::IntoIter<Option<String>>>, DbError> {
        let messages = self.client().simple_query(sql).map_err(error)?;
        Ok(messages
            .iter()
            .filter_map(|message| match message {
                postgres::SimpleQueryMessage::Row(row) => {
                    Some((0..row.len()).map(|i| row.get(i).map(str::to_string)).collect::<Vec<_>>().into_iter())
                }
                _ => None,
            })
            .collect())
    }
}

impl Drop for Postgres {
    /// A session from `Sessions` goes back there, reset, when nothing is left open on it; any
    /// other is closed (the server then rolls back what is open and releases the lock).
    fn drop(&mut self) {
        self.record_statement = None;
        if let (Some((sessions, key)), Some(mut client)) = (self.home.take(), self.client.take())
            && !client.is_closed()
            && client.batch_execute("DISCARD ALL").is_ok()
        {
            sessions.give(key, client);
        }
    }
}

impl Driver for Postgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn read_history(&mut self, table: &str) -> Result<Option<Vec<HistoryRow>>, DbError> {
        let table = history_table_name(table)?;
        if !self.exists(table)? {
            return Ok(None);
        }
        let rows = self.text_rows(&format!("SELECT {HISTORY_COLUMNS} FROM {table}"))?;
        let number = |value: Option<String>| value.and_then(|v| v.parse::<i64>().ok()).unwrap_or(-1);
        parse_history(rows.into_iter().map(|mut row| {
            let mut next = || row.next().flatten().unwrap_or_default();
            let (version, name, sha256) = (next(), next(), next());
            let (done, total) = (number(Some(next())), number(Some(next())));
            (version, name, sha256, done, total, next())
        }))
        .map(Some)
    }

    fn has_other_tables(&mut self, table: &str) -> Result<bool, DbError> {
        let count: i64 = self
            .client()
            .query_one(
                "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename <> $1 AND tablename <> $2",
                &[&table, &identity_table_name(table)?],
            )
            .map_err(error)?
            .get(0);
        Ok(count > 0)
    }

    fn begin(&mut self) -> Result<(), DbError> {
        self.client().batch_execute("BEGIN").map_err(error)
    }

    fn commit(&mut self) -> Result<(), DbError> {
        self.client().batch_execute("COMMIT").map_err(error)
    }

    fn rollback(&mut self) -> Result<(), DbError> {
        self.client().batch_execute("ROLLBACK").map_err(error)
    }

    fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        self.client().batch_execute(sql).map_err(error)
    }

    /// One round trip for a whole migration: its statements, verbatim, joined into one simple
    /// query (they run inside the open transaction). A round trip per statement made imports
    /// twice as slow as `psql`. The server's error position, when it gives one, names the
    /// statement.
    fn execute_all(&mut self, statements: &[&str]) -> Result<(), (DbError, Option<usize>)> {
        let mut batch = String::new();
        let mut starts = Vec::with_capacity(statements.len());
        for sql in statements {
            starts.push(batch.chars().count());
            batch.push_str(sql);
            batch.push_str(";\n");
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.client().batch_execute(&batch).map_err(|e| {
            let index = e.as_db_error().and_then(|db| match db.position() {
                Some(postgres::error::ErrorPosition::Original(position)) => {
                    let position = usize::try_from(*position).unwrap_or(0).saturating_sub(1);
                    Some(starts.iter().rposition(|start| *start <= position).unwrap_or(0))
                }
                _ => None,
            });
            let index = if statements.len() == 1 { Some(0) } else { index };
            (error(e), index)
        })
    }

    fn ensure_history(&mut self, table: &str) -> Result<(), DbError> {
        let table = history_table_name(table)?;
        self.client().batch_execute(&history_table_ddl(Dialect::Postgres, table)).map_err(error)
    }

    fn record(&mut self, table: &str, row: &NewRow<'_>) -> Result<(), DbError> {
        let table = history_table_name(table)?;
        let done = i32::try_from(row.statements_done).unwrap_or(i32::MAX);
        let total = i32::try_from(row.statements_total).unwrap_or(i32::MAX);
        let duration = i64::try_from(row.duration_ms).unwrap_or(i64::MAX);
        let statement = match &self.record_statement {
            Some(statement) => statement.clone(),
            None => {
                let statement = self
                    .client()
                    .prepare(&format!(
                        "INSERT INTO {table} (version, name, sha256, statements_done, statements_total, release_id, applied_by, applied_at, duration_ms)
                         VALUES ($1, $2, $3, $4, $5, $6, 'import', $7::text::timestamptz, $8)
                         ON CONFLICT (version) DO UPDATE SET statements_done = EXCLUDED.statements_done,
                           statements_total = EXCLUDED.statements_total, release_id = EXCLUDED.release_id,
                           applied_by = 'import', applied_at = EXCLUDED.applied_at, duration_ms = EXCLUDED.duration_ms"
                    ))
                    .map_err(error)?;
                self.record_statement = Some(statement.clone());
                statement
            }
        };
        self.client()
            .execute(
                &statement,
                &[
                    &row.version.as_str(),
                    &row.name,
                    &row.sha256,
                    &done,
                    &total,
                    &row.release_id,
                    &row.applied_at,
                    &duration,
                ],
            )
            .map(|_| ())
            .map_err(error)
    }

    fn unrecord(&mut self, table: &str, version: &Version) -> Result<(), DbError> {
        let table = history_table_name(table)?;
        self.client()
            .execute(&format!("DELETE FROM {table} WHERE version = $1"), &[&version.as_str()])
            .map(|_| ())
            .map_err(error)
    }

    fn read_identity(&mut self, table: &str) -> Result<Option<IdentityRow>, DbError> {
        let table = identity_table_name(table)?;
        if !self.exists(&table)? {
            return Ok(None);
        }
        let rows = self.text_rows(&format!("SELECT {IDENTITY_COLUMNS} FROM {table} WHERE id = 1"))?;
        Ok(rows.into_iter().next().map(|mut row| {
            let mut next = || row.next().flatten();
            IdentityRow {
                project: next().unwrap_or_default(),
                target_id: next().unwrap_or_default(),
                environment: next(),
                release_id: next(),
                release_version: next(),
                detail: next().unwrap_or_default(),
                updated_at: next().unwrap_or_default(),
            }
        }))
    }

    fn ensure_identity(&mut self, table: &str) -> Result<(), DbError> {
        let ddl = identity_table_ddl(Dialect::Postgres, history_table_name(table)?);
        self.client().batch_execute(&ddl).map_err(error)
    }

    fn record_identity(&mut self, table: &str, row: &IdentityRow) -> Result<(), DbError> {
        let name = identity_table_name(table)?;
        let upsert = format!(
            "INSERT INTO {name} (id, {IDENTITY_COLUMNS})
             VALUES (1, $1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO UPDATE SET project = EXCLUDED.project, target_id = EXCLUDED.target_id,
               environment = EXCLUDED.environment, release_id = EXCLUDED.release_id,
               release_version = EXCLUDED.release_version, detail = EXCLUDED.detail,
               updated_at = EXCLUDED.updated_at"
        );
        self.client()
            .execute(
                &upsert,
                &[
                    &row.project,
                    &row.target_id,
                    &row.environment,
                    &row.release_id,
                    &row.release_version,
                    &row.detail,
                    &row.updated_at,
                ],
            )
            .map(|_| ())
            .map_err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::split_options;

    fn split(url: &str) -> Option<(String, Vec<(String, String)>)> {
        split_options(url)
    }

    fn settings(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    /// A fleet's session is shared by URLs that differ only in `options` settings; what else
    /// `options` can say gets a session of its own.
    #[test]
    fn options_become_settings_and_the_rest_of_the_url_is_the_key() {
        let base = "postgres://u@h:5432/db";
        assert_eq!(split(base), Some((base.to_string(), vec![])));
        assert_eq!(
            split(&format!("{base}?options=-csearch_path%3Dtenant_01")),
            Some((base.to_string(), settings(&[("search_path", "tenant_01")])))
        );
        assert_eq!(
            split(&format!(
                "{base}?sslmode=require&options=-c%20search_path%3Dt%20--statement-timeout%3D5s&application_name=x"
            )),
            Some((
                format!("{base}?sslmode=require&application_name=x"),
                settings(&[("search_path", "t"), ("statement_timeout", "5s")])
            ))
        );
        // Not a setting, an escaped space, a setting without a value: no shared session.
        for options in ["-X", "-c%20search_path%3Da%5C%20b", "-csearch_path", "-c"] {
            assert_eq!(split(&format!("{base}?options={options}")), None, "{options}");
        }
    }
}
