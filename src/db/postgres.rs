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

use std::sync::Arc;

use postgres::Client;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::{DbError, Driver, HISTORY_COLUMNS, NewRow, history_table_name, identity_table_name, parse_history};
use crate::core::identity::{IdentityRow, identity_table_ddl};
use crate::core::model::{Dialect, Version};
use crate::core::sql_script::history_table_ddl;
use crate::core::state::HistoryRow;

pub struct Postgres {
    client: Client,
    /// The history insert, prepared once: a release records a row per migration, and preparing
    /// each time costs a round trip.
    record_statement: Option<postgres::Statement>,
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
        let mut client = Client::connect(&url, tls(verify)?).map_err(error)?;
        if read_only {
            client.batch_execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY").map_err(error)?;
        } else {
            // Where the history table is (or will be made): the first schema of the search path.
            let schema: Option<String> = client.query_one("SELECT current_schema()", &[]).map_err(error)?.get(0);
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
        Ok(Postgres { client, record_statement: None })
    }
}

impl Driver for Postgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn read_history(&mut self, table: &str) -> Result<Option<Vec<HistoryRow>>, DbError> {
        let table = history_table_name(table)?;
        let exists: bool =
            self.client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&table]).map_err(error)?.get(0);
        if !exists {
            return Ok(None);
        }
        let rows = self.client.query(&format!("SELECT {HISTORY_COLUMNS} FROM {table}"), &[]).map_err(error)?;
        parse_history(rows.iter().map(|row| {
            let (done, total): (i32, i32) = (row.get(3), row.get(4));
            (row.get(0), row.get(1), row.get(2), i64::from(done), i64::from(total), row.get(5))
        }))
        .map(Some)
    }

    fn has_other_tables(&mut self, table: &str) -> Result<bool, DbError> {
        let count: i64 = self
            .client
            .query_one(
                "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename <> $1 AND tablename <> $2",
                &[&table, &identity_table_name(table)?],
            )
            .map_err(error)?
            .get(0);
        Ok(count > 0)
    }

    fn begin(&mut self) -> Result<(), DbError> {
        self.client.batch_execute("BEGIN").map_err(error)
    }

    fn commit(&mut self) -> Result<(), DbError> {
        self.client.batch_execute("COMMIT").map_err(error)
    }

    fn rollback(&mut self) -> Result<(), DbError> {
        self.client.batch_execute("ROLLBACK").map_err(error)
    }

    fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        self.client.batch_execute(sql).map_err(error)
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
        self.client.batch_execute(&batch).map_err(|e| {
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
        self.client.batch_execute(&history_table_ddl(Dialect::Postgres, table)).map_err(error)
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
                    .client
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
        self.client
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
        self.client
            .execute(&format!("DELETE FROM {table} WHERE version = $1"), &[&version.as_str()])
            .map(|_| ())
            .map_err(error)
    }

    fn read_identity(&mut self, table: &str) -> Result<Option<IdentityRow>, DbError> {
        let table = identity_table_name(table)?;
        let exists: bool =
            self.client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&table]).map_err(error)?.get(0);
        if !exists {
            return Ok(None);
        }
        let row = self
            .client
            .query_opt(
                &format!(
                    "SELECT project, target_id, environment, release_id, release_version, detail, updated_at FROM {table} WHERE id = 1"
                ),
                &[],
            )
            .map_err(error)?;
        Ok(row.map(|row| IdentityRow {
            project: row.get(0),
            target_id: row.get(1),
            environment: row.get(2),
            release_id: row.get(3),
            release_version: row.get(4),
            detail: row.get(5),
            updated_at: row.get(6),
        }))
    }

    fn write_identity(&mut self, table: &str, row: &IdentityRow) -> Result<(), DbError> {
        let name = identity_table_name(table)?;
        let mut transaction = self.client.transaction().map_err(error)?;
        transaction.batch_execute(&identity_table_ddl(Dialect::Postgres, history_table_name(table)?)).map_err(error)?;
        transaction
            .execute(
                &format!(
                    "INSERT INTO {name} (id, project, target_id, environment, release_id, release_version, detail, updated_at)
                     VALUES (1, $1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (id) DO UPDATE SET project = EXCLUDED.project, target_id = EXCLUDED.target_id,
                       environment = EXCLUDED.environment, release_id = EXCLUDED.release_id,
                       release_version = EXCLUDED.release_version, detail = EXCLUDED.detail,
                       updated_at = EXCLUDED.updated_at"
                ),
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
            .map_err(error)?;
        transaction.commit().map_err(error)
    }
}
