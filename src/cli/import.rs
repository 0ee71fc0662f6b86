//! `migrate import`: verify → lock → read → decide → (dry run: print and stop) → apply → state.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::apply::{ApplyFailure, apply};
use crate::core::decide::{Decision, TargetFacts, decide};
use crate::core::hash::ContentHash;
use crate::core::manifest::Manifest;
use crate::core::model::Version;
use crate::core::record::{
    AppliedAsset, AppliedMigration, MigrationStatus, RECORD_FORMAT_VERSION, Receipt, ReceiptRelease, ReceiptSource,
    StatementProgress,
};
use crate::core::report::import::{ImportReport, dry_run_text, import_report};
use crate::core::state::{ImportEntry, STATE_FORMAT_VERSION, StateRelease, TargetState};
use crate::db::Driver;
use crate::exit::{Failure, FailureKind, Outcome};
use crate::output::Printer;
use crate::progress::{Progress, ProgressMode};
use crate::settings::Format;
use crate::target::Target;

/// Apply a bundle on a target
///
/// Verifies the bundle (and its signature, when the target trusts keys in
/// `<target>/.migrate/trusted/` or `--trust` names one), locks the target, and decides by itself:
/// initialise an empty target, upgrade one at the bundle's base (or, for a full bundle, any target
/// that is behind), do nothing when the target holds the release, or refuse. Then applies the
/// migrations (one transaction where they allow it), the assets, and writes
/// `<target>/.migrate/state.json`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The bundle file
    pub file: PathBuf,
    /// The target folder (assets, state, and the embedded database)
    #[arg(long, value_name = "DIR")]
    pub target: PathBuf,
    /// The environment this target belongs to (recorded at the first import)
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// The database: `sqlite:PATH` (a relative PATH is inside the target), `postgres://...` or
    /// `mysql://...` [default: sqlite:db.sqlite3]
    #[arg(long, value_name = "URL", env = "MIGRATE_DATABASE_URL")]
    pub db: Option<String>,
    /// Print what would run, change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Write the receipt of this import to FILE (for `migrate env record`)
    #[arg(long, value_name = "FILE")]
    pub receipt: Option<PathBuf>,
    /// Adopt a database migrated by other means as holding every migration up to VERSION
    #[arg(long, value_name = "VERSION")]
    pub baseline: Option<String>,
    /// Allow a downgrade bundle to run its down sections
    #[arg(long)]
    pub allow_downgrade: bool,
    /// A public key whose signature is required; may be repeated
    #[arg(long, value_name = "KEY")]
    pub trust: Vec<PathBuf>,
    /// Seconds to wait for another import's lock
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub lock_timeout: u64,
    /// When to show progress on stderr
    #[arg(long, value_enum, value_name = "WHEN", default_value = "auto")]
    pub progress: ProgressMode,
}

fn usage(code: &'static str, message: String) -> Failure {
    Failure::usage(miette::miette!(code = code, "{message}"))
}

/// The embedded default: a SQLite file in the target folder (relative paths are the target's).
pub const DEFAULT_DATABASE: &str = "sqlite:db.sqlite3";

pub fn run_import(args: &ImportArgs, format: Format, printer: &Printer) -> Result<Outcome, Failure> {
    let target = Target::new(&args.target);
    let mut trust = args.trust.clone();
    trust.extend(target.trusted_keys());
    let mut progress = Progress::for_printer(args.progress, printer);
    progress.phase("verifying the bundle");
    let bundle = super::verify::open_bundle(&args.file, &trust)?;
    let manifest = &bundle.manifest;
    let members: BTreeMap<String, Arc<str>> = bundle
        .members
        .iter()
        .map(|(path, bytes)| (path.clone(), Arc::from(String::from_utf8_lossy(bytes).as_ref())))
        .collect();

    std::fs::create_dir_all(&args.target).map_err(|e| {
        usage("migrate::target_unusable", format!("cannot create the target `{}`: {e}", args.target.display()))
    })?;
    let holder = format!(
        "host {}, pid {}, since {}",
        std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "unknown".into()),
        std::process::id(),
        crate::clock::now_rfc3339()
    );
    progress.phase("taking the target's lock");
    let _lock = target.lock(Duration::from_secs(args.lock_timeout), &holder).map_err(|e| match e {
        crate::target::TargetError::Busy { .. } => Failure::refused(miette::miette!(
            code = "migrate::target_busy",
            help = "wait for the other import to finish, or raise `--lock-timeout`",
            "{e}"
        )),
        other => usage("migrate::target_unusable", other.to_string()),
    })?;

    let state = match target.read_state().map_err(|e| usage("migrate::state_unreadable", e.to_string()))? {
        Some(bytes) => Some(TargetState::parse(&bytes).map_err(|e| usage("migrate::state_unreadable", e.to_string()))?),
        None => None,
    };
    if args.receipt.is_some() && args.env.is_none() && state.as_ref().and_then(|s| s.environment.as_ref()).is_none() {
        return Err(usage(
            "migrate::receipt_needs_env",
            "a receipt names its environment, and this target has none: pass `--env NAME`".into(),
        ));
    }
    // A journal left by an import that died names the statements of the migration it was in.
    let journal = target.read_journal();
    // A relative SQLite path is relative to the target folder, so a target can be moved or restored
    // elsewhere with its database.
    let db_url = args
        .db
        .clone()
        .or_else(|| state.as_ref().map(|s| s.database.clone()))
        .unwrap_or_else(|| DEFAULT_DATABASE.into());
    if let Some(state) = &state {
        if state.database != redact(&db_url) {
            return Err(Failure::refused(miette::miette!(
                code = "migrate::other_database",
                help = "a target belongs to one database; use another target folder",
                "the target's database is `{}`, not `{}`",
                state.database,
                redact(&db_url)
            )));
        }
        if let (Some(recorded), Some(asked)) = (&state.environment, &args.env)
            && recorded != asked
        {
            return Err(Failure::refused(miette::miette!(
                code = "migrate::other_environment",
                help = "a target belongs to one environment",
                "the target belongs to environment `{recorded}`, not `{asked}`"
            )));
        }
    }
    let timeout = Duration::from_secs(args.lock_timeout);
    let shown_url = redact(&db_url);
    let sqlite = db_url.starts_with("sqlite:");
    // SQLite: read and decide on a read-only connection (which creates no file), write after the
    // decision, under the target's lock. A server: one session, holding the database's lock from
    // before the history is read until the import ends.
    let open = |read_only: bool| open_driver(&db_url, &target, &manifest.history_table, read_only, timeout);
    progress.phase("reading the database's history");
    let mut driver = open(args.dry_run || sqlite)?;
    let db_failure = |e: crate::db::DbError| {
        Failure::refused(miette::miette!(code = "migrate::database_unreachable", "cannot read `{shown_url}`: {e}"))
    };
    let history = driver.read_history(&manifest.history_table).map_err(db_failure)?;
    let has_tables = driver.has_other_tables(&manifest.history_table).map_err(db_failure)?;
    progress.log(|| {
        let rows = history.as_ref().map_or("no history table".to_string(), |h| format!("{} history rows", h.len()));
        let held = state.as_ref().and_then(|s| s.release.as_ref()).map_or("none".to_string(), |r| r.id.to_string());
        format!("`{shown_url}`: {rows}, other tables: {has_tables}; release recorded in state.json: {held}")
    });
    let baseline = match &args.baseline {
        Some(v) => {
            Some(Version::parse(v).ok_or_else(|| usage("migrate::bad_version", format!("`{v}` is not a version")))?)
        }
        None => None,
    };
    let facts = TargetFacts {
        dialect: driver.dialect(),
        state: state.as_ref(),
        history: history.as_deref(),
        database_has_tables: has_tables,
        allow_downgrade: args.allow_downgrade,
        baseline,
        partial: state.as_ref().and_then(|s| s.partial.as_ref()).or(journal.as_ref()),
    };
    // What prints next goes to the same terminal: the spinner goes first.
    progress.finish();
    let decision = decide(manifest, &members, &facts);
    progress.log(|| match &decision {
        Decision::NothingToDo => "decision: nothing to do".into(),
        Decision::Refuse(refusal) => format!("decision: refuse ({})", refusal.code),
        Decision::Apply(steps) => format!(
            "decision: {} ({} migrations, {} assets, {} adopted)",
            steps.kind.name(),
            steps.migrations.len(),
            steps.assets.len(),
            steps.adopted.len()
        ),
    });
    let steps = match decision {
        Decision::NothingToDo => {
            printer.product(&render_report(&import_report(manifest, None, args.dry_run), format));
            return Ok(Outcome::Success);
        }
        Decision::Refuse(refusal) => {
            return Err(Failure::refused(miette::miette!(
                code = refusal.code,
                help = refusal.help,
                "{}",
                refusal.message
            )));
        }
        Decision::Apply(steps) => steps,
    };
    if args.dry_run {
        printer.product(&render_report(&import_report(manifest, Some(&steps), true), format));
        return Ok(Outcome::Success);
    }
    // Every asset path is checked before anything changes: none may leave the target.
    for step in &steps.assets {
        target.asset_path(&step.id).map_err(|e| {
            Failure::refused(miette::miette!(
                code = "migrate::path_escape",
                help = "remove the link from the target folder",
                "{e}"
            ))
        })?;
    }
    if sqlite {
        driver = open(false)?;
    }

    let now = crate::clock::now_rfc3339();
    let crash_after = std::env::var("MIGRATE_TEST_CRASH_AFTER").ok().and_then(|v| v.parse().ok());
    progress.task("migrating", steps.migrations.len());
    let result = apply(
        driver.as_mut(),
        &target,
        &manifest.history_table,
        manifest.release.id.as_str(),
        &members,
        &steps,
        &now,
        crash_after,
        &mut progress,
    );
    progress.finish();
    let history_after = driver.read_history(&manifest.history_table).map_err(db_failure)?.unwrap_or_default();
    let mut new_state = state.clone().unwrap_or_else(|| TargetState {
        format_version: STATE_FORMAT_VERSION,
        target_id: new_target_id(&args.target),
        environment: args.env.clone(),
        database: shown_url.clone(),
        dialect: driver.dialect(),
        project: manifest.project.clone(),
        history_table: manifest.history_table.clone(),
        release: None,
        assets: BTreeMap::new(),
        skipped: Vec::new(),
        history: Vec::new(),
        partial: None,
        imports: Vec::new(),
    });
    new_state.history = history_after
        .iter()
        .map(|row| crate::core::state::RecordedMigration { version: row.version.clone(), sha256: row.sha256.clone() })
        .collect();
    if new_state.environment.is_none() {
        new_state.environment = args.env.clone();
    }
    // Record every asset written or deleted, even when the apply stopped part-way.
    for step in &steps.assets {
        let path = target.asset_path(&step.id).ok();
        let present = path.as_ref().and_then(|p| std::fs::read(p).ok());
        match present {
            Some(bytes) if ContentHash::of(&bytes) == step.sha256 => {
                new_state.assets.insert(step.id.clone(), step.sha256.clone());
            }
            None if step.member.is_none() => {
                new_state.assets.remove(&step.id);
            }
            _ => {}
        }
    }
    match result {
        Ok(applied) => {
            new_state.release = Some(StateRelease {
                id: manifest.release.id.clone(),
                version: manifest.release.version.clone(),
                head_commit: manifest.source.head.commit.clone(),
                head_depth: manifest.source.head_depth,
            });
            new_state.skipped = manifest.skipped.clone();
            new_state.partial = None;
            new_state.imports.push(ImportEntry {
                release_id: manifest.release.id.clone(),
                decision: steps.kind.name().to_string(),
                migrations: applied.migrations,
                assets: applied.assets,
                finished_at: now.clone(),
            });
            target.write_state(&new_state).map_err(|e| Failure {
                kind: FailureKind::Partial,
                report: miette::miette!(
                    code = "migrate::state_unwritten",
                    "the release is applied, but `state.json` could not be written: {e}"
                ),
            })?;
            let _ = target.clear_journal();
            if let Some(path) = &args.receipt {
                write_receipt(path, &new_state, manifest, &history_after, &now)?;
            }
            printer.product(&match format {
                Format::Json => render_report(&import_report(manifest, Some(&steps), false), format),
                Format::Text | Format::Markdown => format!(
                    "{}: release {} applied ({} migration{}, {} asset change{})\n",
                    steps.kind.name(),
                    manifest.release.id,
                    applied.migrations,
                    if applied.migrations == 1 { "" } else { "s" },
                    applied.assets,
                    if applied.assets == 1 { "" } else { "s" },
                ),
            });
            Ok(Outcome::Success)
        }
        Err(ApplyFailure::RolledBack { at, message }) => Err(Failure {
            kind: FailureKind::RolledBack,
            report: miette::miette!(
                code = "migrate::apply_rolled_back",
                help = "fix the migration in a new bundle; the target is exactly as before",
                "{at} failed, and everything was rolled back: {message}"
            ),
        }),
        Err(ApplyFailure::Partial { at, message, committed, stopped }) => {
            new_state.partial = stopped.and_then(|(index, done)| {
                let step = steps.migrations.get(index)?;
                Some(crate::core::state::PartialMigration {
                    version: step.version.clone(),
                    statements: step.statements.iter().take(done).map(|s| s.sha256.clone()).collect(),
                    // The failing statement returned an error: it did not take effect.
                    started: done,
                })
            });
            if target.write_state(&new_state).is_ok() {
                let _ = target.clear_journal();
            }
            // The receipt tells the source repository which migration is partial, so that a fix
            // may change the statements not yet run.
            if let Some(path) = &args.receipt
                && let Err(e) = write_receipt(path, &new_state, manifest, &history_after, &now)
            {
                printer.status(&format!("warning: {}", e.report));
            }
            Err(Failure {
                kind: FailureKind::Partial,
                report: miette::miette!(
                    code = "migrate::apply_partial",
                    help = "what is committed is recorded in the history table, `state.json` and the receipt; fix the cause and import again",
                    "{at} failed after changes were committed ({}): {message}",
                    committed.join(", ")
                ),
            })
        }
    }
}

/// Opens the database a URL names: `sqlite:PATH` (relative to the target) or
/// `postgres://...`.
pub fn open_driver(
    url: &str,
    target: &Target,
    table: &str,
    read_only: bool,
    timeout: Duration,
) -> Result<Box<dyn Driver>, Failure> {
    let unreachable = |e: crate::db::DbError| {
        Failure::refused(miette::miette!(
            code = "migrate::database_unreachable",
            help = "check the URL, that the server runs, and the credentials",
            "cannot open `{}`: {e}",
            redact(url)
        ))
    };
    if let Some(path) = url.strip_prefix("sqlite:") {
        return Ok(Box::new(
            crate::db::sqlite::Sqlite::open(&target.root.join(path), read_only, timeout).map_err(unreachable)?,
        ));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Box::new(
            crate::db::postgres::Postgres::connect(url, table, read_only, timeout).map_err(unreachable)?,
        ));
    }
    if url.starts_with("mysql://") || url.starts_with("mariadb://") {
        let url = url.replacen("mariadb://", "mysql://", 1);
        return Ok(Box::new(crate::db::mysql::Mysql::connect(&url, table, read_only, timeout).map_err(unreachable)?));
    }
    Err(usage(
        "migrate::database_not_supported",
        format!("`{}` is not a database URL: use `sqlite:PATH`, `postgres://...` or `mysql://...`", redact(url)),
    ))
}

/// A URL without its password.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn new_target_id(root: &std::path::Path) -> String {
    let seed = format!("{}|{}|{}", root.display(), std::process::id(), crate::clock::now_rfc3339());
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let hash = ContentHash::of(format!("{seed}|{nanos}").as_bytes());
    format!("t-{}", &hash.as_str()[7..23])
}

fn write_receipt(
    path: &std::path::Path,
    state: &TargetState,
    manifest: &Manifest,
    history: &[crate::core::state::HistoryRow],
    now: &str,
) -> Result<(), Failure> {
    let Some(environment) = state.environment.clone() else {
        return Err(usage("migrate::receipt_needs_env", "a receipt names its environment: pass `--env NAME`".into()));
    };
    let migrations = history
        .iter()
        .map(|row| AppliedMigration {
            version: row.version.clone(),
            sha256: row.sha256.clone(),
            status: if row.statements_done == row.statements_total {
                MigrationStatus::Applied
            } else {
                MigrationStatus::Partial
            },
            statements: (row.statements_done != row.statements_total)
                .then_some(StatementProgress { done: row.statements_done, total: row.statements_total }),
        })
        .collect();
    let receipt = Receipt {
        format_version: RECORD_FORMAT_VERSION,
        environment,
        project: state.project.clone(),
        target_id: state.target_id.clone(),
        database: redact(&state.database),
        release: ReceiptRelease { id: manifest.release.id.clone(), version: manifest.release.version.clone() },
        source: ReceiptSource {
            head_commit: manifest.source.head.commit.clone(),
            head_depth: manifest.source.head_depth,
        },
        migrations: BTreeMap::from([(state.dialect, migrations)]),
        assets: state
            .assets
            .iter()
            .map(|(id, sha256)| AppliedAsset { id: id.clone(), sha256: sha256.clone() })
            .collect(),
        skipped: state.skipped.clone(),
        applied_at: now.to_string(),
    };
    let mut bytes = serde_json::to_vec_pretty(&receipt).unwrap_or_default();
    bytes.push(b'\n');
    crate::target::write_durably(path, &bytes).map_err(|e| usage("migrate::receipt_unwritten", e.to_string()))
}

/// The report of a dry run or of nothing to do; a real import's text is its one summary line.
fn render_report(report: &ImportReport, format: Format) -> String {
    match format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(report).unwrap_or_default()),
        Format::Text | Format::Markdown => dry_run_text(report),
    }
}
