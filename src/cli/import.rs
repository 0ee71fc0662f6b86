//! `migrate import`: verify → lock → read → decide → (dry run: print and stop) → apply → state.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::apply::{ApplyContext, ApplyFailure, Cause, apply};
use crate::core::bookkeeping::{AfterApply, Ending, state_after};
use crate::core::decide::{Decision, Refusal, Steps, TargetFacts, decide, identity_refusal};
use crate::core::hash::ContentHash;
use crate::core::identity::TargetIdentity;
use crate::core::manifest::Manifest;
use crate::core::model::{Dialect, Version};
use crate::core::report::import::{ImportReport, dry_run_text, import_report};
use crate::core::state::{HistoryRow, PartialMigration, TargetState};
use crate::db::{DbError, Driver};
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
    /// The target folder (assets, state, and the embedded database). Optional for a bundle
    /// without assets into a server's database (`--db`): the database keeps the target's record
    #[arg(long, value_name = "DIR", conflicts_with = "fleet")]
    pub target: Option<PathBuf>,
    /// Every target of a fleet file instead, wave by wave, with a summary
    #[arg(long, value_name = "FILE", help_heading = "Fleets")]
    pub fleet: Option<PathBuf>,
    /// Only this wave of the fleet
    #[arg(long, value_name = "NAME", requires = "fleet", help_heading = "Fleets")]
    pub wave: Option<String>,
    /// How many targets run at once [default: each wave's `parallel`, else 1]
    #[arg(long, value_name = "N", requires = "fleet", help_heading = "Fleets")]
    pub parallel: Option<u32>,
    /// How many targets of a wave may fail before the rollout stops: a count or a percentage
    /// (`2%`) [default: each wave's `max_failures`, else 0]
    #[arg(long, value_name = "N|P%", requires = "fleet", help_heading = "Fleets")]
    pub max_failures: Option<String>,
    /// Skip the targets whose receipt (in `--receipts`) shows this release; retry the others
    #[arg(long, requires = "fleet", help_heading = "Fleets")]
    pub resume: bool,
    /// Take the I-th of N shares of the fleet (I from 0), stable when targets are added: a
    /// Kubernetes Indexed Job's completion index or a CI matrix index
    #[arg(long, value_name = "I/N", requires = "fleet", help_heading = "Fleets")]
    pub shard: Option<String>,
    /// Where each target's receipt goes, as `DIR/<target>.json`
    #[arg(long, value_name = "DIR", requires = "fleet", default_value = "receipts", help_heading = "Fleets")]
    pub receipts: PathBuf,
    /// The environment this target belongs to (recorded at the first import)
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// The database: `sqlite:PATH` (a relative PATH is inside the target), `postgres://...` or
    /// `mysql://...` [default: sqlite:db.sqlite3]. What a PostgreSQL or MySQL URL leaves out
    /// comes from its client's conventions (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE,
    /// PGSSLMODE, PGSERVICE, ~/.pgpass; MYSQL_HOST, MYSQL_TCP_PORT, MYSQL_PWD, ~/.my.cnf); `-v`
    /// shows what was used
    #[arg(long, value_name = "URL", env = "MIGRATE_DATABASE_URL")]
    pub db: Option<String>,
    #[command(flatten)]
    pub connection: super::connection::ConnectionArgs,
    /// Print what would run, change nothing
    #[arg(long, conflicts_with = "fleet")]
    pub dry_run: bool,
    /// Write the receipt of this import to FILE (for `migrate env record`)
    #[arg(long, value_name = "FILE", conflicts_with = "fleet")]
    pub receipt: Option<PathBuf>,
    /// Adopt a database migrated by other means as holding every migration up to VERSION
    #[arg(long, value_name = "VERSION")]
    pub baseline: Option<String>,
    /// Allow a downgrade bundle to run its down sections
    #[arg(long)]
    pub allow_downgrade: bool,
    /// A public key whose signature is required: a minisign `.pub` file or the bare base64 key;
    /// may be repeated
    #[arg(long, value_name = "KEY")]
    pub trust: Vec<PathBuf>,
    /// Seconds to wait for another import's lock
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub lock_timeout: u64,
    /// A SQLite extension to load before the migrations (functions the application registers
    /// on its own connections); may be repeated. Never loaded from the bundle, and SQL in a
    /// migration cannot load one
    #[arg(long = "sqlite-extension", value_name = "PATH", env = "MIGRATE_SQLITE_EXTENSIONS", value_delimiter = ':')]
    pub sqlite_extensions: Vec<PathBuf>,
    /// When to show progress on stderr
    #[arg(long, value_enum, value_name = "WHEN", default_value = "auto")]
    pub progress: ProgressMode,
}

fn usage(code: &'static str, message: String) -> Failure {
    Failure::usage(miette::miette!(code = code, "{message}"))
}

/// What one import is asked to do, resolved from the command line.
pub struct ImportRequest<'a> {
    pub target: &'a Target,
    pub env: Option<&'a str>,
    /// `--db` (or `MIGRATE_DATABASE_URL`); else the target's recorded database, else the default.
    pub db: Option<&'a str>,
    /// `--db-password-file`, `--defaults-extra-file`: with the clients' conventions, what the URL
    /// leaves out.
    pub connection: &'a super::connection::ConnectionArgs,
    pub dry_run: bool,
    pub receipt: Option<&'a Path>,
    pub baseline: Option<Version>,
    pub allow_downgrade: bool,
    pub lock_timeout: Duration,
    pub format: Format,
}

/// Opens the database at a URL, read-only or not.
pub type Opener<'a> = dyn FnMut(&str, bool) -> Result<Box<dyn Driver>, DbError> + 'a;

pub fn run_import(args: &ImportArgs, format: Format, printer: &Printer) -> Result<Outcome, Failure> {
    if args.fleet.is_some() {
        return fleet::run_fleet_import(args, format, printer);
    }
    let scratch;
    let target = match &args.target {
        Some(folder) => Target::new(folder),
        None => {
            scratch = Scratch::for_folderless(args)?;
            Target::new(&scratch.0)
        }
    };
    let mut trust = args.trust.clone();
    trust.extend(target.trusted_keys());
    let mut progress = Progress::for_printer(args.progress, printer);
    progress.phase("verifying the bundle");
    let bundle = crate::bundle_file::open_bundle(&args.file, &trust)?;
    if args.target.is_none() && crate::core::identity::carries_assets(&bundle.manifest) {
        return Err(usage(
            "migrate::target_needed",
            "this bundle carries assets, which are written in the target's folder: pass `--target DIR`".into(),
        ));
    }
    let members: BTreeMap<String, Arc<str>> = bundle
        .members
        .iter()
        .map(|(path, bytes)| (path.clone(), Arc::from(String::from_utf8_lossy(bytes).as_ref())))
        .collect();
    let common = Common::from_args(args)?;
    let request = ImportRequest {
        target: &target,
        env: args.env.as_deref(),
        db: args.db.as_deref(),
        connection: &args.connection,
        dry_run: args.dry_run,
        receipt: args.receipt.as_deref(),
        baseline: common.baseline,
        allow_downgrade: args.allow_downgrade,
        lock_timeout: Duration::from_secs(args.lock_timeout),
        format,
    };
    let table = bundle.manifest.history_table.clone();
    let mut open = |url: &str, read_only: bool| {
        crate::db::open_driver(url, &target, &table, read_only, request.lock_timeout, &args.sqlite_extensions)
    };
    let imported = import_bundle(&request, &bundle.manifest, &members, &mut open, printer, &mut progress)?;
    printer.product(&imported.report);
    Ok(Outcome::Success)
}

/// The folder of an import without `--target`: the lock, journal and state of this run only,
/// removed at its end. The target's record is in its database.
struct Scratch(PathBuf);

impl Scratch {
    fn for_folderless(args: &ImportArgs) -> Result<Scratch, Failure> {
        let server = args.db.as_deref().is_some_and(|url| !url.starts_with("sqlite:"));
        if !server {
            return Err(usage(
                "migrate::target_needed",
                "which target? pass `--target DIR`, or `--db URL` of a PostgreSQL or MySQL database for a bundle without assets (a SQLite database is imported with its folder)".into(),
            ));
        }
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!("migrate-import-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&path).map_err(|e| {
            usage("migrate::target_unusable", format!("cannot create a working folder `{}`: {e}", path.display()))
        })?;
        Ok(Scratch(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What `import` checks in its arguments before any target is touched, for one target or a
/// fleet.
pub struct Common {
    pub baseline: Option<Version>,
}

impl Common {
    pub fn from_args(args: &ImportArgs) -> Result<Common, Failure> {
        // A wrong `--sqlite-extension` is found before the target or its database is touched.
        crate::db::sqlite::check_extensions(&args.sqlite_extensions)
            .map_err(|e| Failure::usage(miette::miette!(code = e.code(), help = e.help(), "{e}")))?;
        let baseline = match &args.baseline {
            Some(v) => Some(
                Version::parse(v).ok_or_else(|| usage("migrate::bad_version", format!("`{v}` is not a version")))?,
            ),
            None => None,
        };
        Ok(Common { baseline })
    }
}

/// What an import did: its decision, and its report (the command's product).
#[derive(Debug, Clone)]
pub struct Imported {
    /// `initialise`, `upgrade`, `resume`, `downgrade`, ... or `nothing_to_do`.
    pub decision: &'static str,
    pub report: String,
}

/// Imports a verified bundle: lock → read → decide → (dry run: print and stop) → apply → state.
pub fn import_bundle(
    request: &ImportRequest<'_>,
    manifest: &Manifest,
    members: &BTreeMap<String, Arc<str>>,
    open: &mut Opener<'_>,
    printer: &Printer,
    progress: &mut Progress,
) -> Result<Imported, Failure> {
    let target = request.target;
    std::fs::create_dir_all(&target.root).map_err(|e| {
        usage("migrate::target_unusable", format!("cannot create the target `{}`: {e}", target.root.display()))
    })?;
    let holder = format!(
        "host {}, pid {}, since {}",
        std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "unknown".into()),
        std::process::id(),
        crate::clock::now_rfc3339()
    );
    progress.phase("taking the target's lock");
    let _lock = target.lock(request.lock_timeout, &holder).map_err(|e| match e {
        crate::target::TargetError::Busy { .. } => Failure::temporary(miette::miette!(
            code = "migrate::target_busy",
            help = "wait for the other import to finish, or raise `--lock-timeout`; nothing was changed",
            "{e}"
        )),
        escape @ crate::target::TargetError::Escape { .. } => Failure::refused(miette::miette!(
            code = "migrate::target_link",
            help = "migrate keeps its lock, journal and state in a real `.migrate` folder inside the target: remove the link; nothing was changed",
            "{escape}"
        )),
        other => usage("migrate::target_unusable", other.to_string()),
    })?;

    let state = match target.read_state().map_err(|e| usage("migrate::state_unreadable", e.to_string()))? {
        Some(bytes) => Some(TargetState::parse(&bytes).map_err(|e| usage("migrate::state_unreadable", e.to_string()))?),
        None => None,
    };
    if request.receipt.is_some()
        && request.env.is_none()
        && state.as_ref().and_then(|s| s.environment.as_ref()).is_none()
    {
        return Err(usage(
            "migrate::receipt_needs_env",
            "a receipt names its environment, and this target has none: pass `--env NAME`".into(),
        ));
    }
    // A journal left by an import that died names the migrations it ran outside a transaction.
    let journal = target.read_journal();
    // A relative SQLite path is relative to the target folder, so a target can be moved or restored
    // elsewhere with its database.
    let db_url = request
        .db
        .map(str::to_string)
        .or_else(|| state.as_ref().map(|s| s.database.clone()))
        .unwrap_or_else(|| crate::db::DEFAULT_DATABASE.into());
    // What a server's URL leaves out comes from its client's conventions (PG*, service files,
    // ~/.pgpass, option files, `--db-password-file`): the effective URL connects, and without its
    // password it is the database shown and recorded.
    let connection =
        super::connection::resolve(&db_url, request.connection).map_err(|e| crate::db::failure(&db_url, "open", e))?;
    if !connection.warnings.is_empty() {
        // The spinner goes first: the warnings print on a clean line.
        progress.finish();
    }
    for warning in &connection.warnings {
        printer.status(&format!("warning: {warning}"));
    }
    progress.log(|| connection.describe());
    let db_url = connection.url;
    let shown_url = connection.shown;
    let sqlite = db_url.starts_with("sqlite:");
    let unsafe_path = |id: &crate::core::model::ItemId| target.asset_path(id).err().map(|e| e.to_string());
    // Another project's bundle, database or environment is refused before anything is opened.
    let early = TargetFacts {
        dialect: Dialect::Sqlite,
        state: state.as_ref(),
        history: None,
        database_has_tables: false,
        database: &shown_url,
        environment: request.env,
        allow_downgrade: request.allow_downgrade,
        baseline: None,
        journal: None,
        unsafe_path: &unsafe_path,
    };
    if let Some(refusal) = identity_refusal(manifest, &early) {
        return Err(refused(refusal));
    }
    // SQLite: read and decide on a read-only connection (which creates no file), write after the
    // decision, under the target's lock. A server: one session, holding the database's lock from
    // before the history is read until the import ends.
    progress.phase("reading the database's history");
    let before = |e: DbError| crate::db::failure(&db_url, "read", e);
    let mut driver = open(&db_url, request.dry_run || sqlite).map_err(before)?;
    let session = manifest.session.get(&driver.dialect()).map(|s| s.statements.clone()).unwrap_or_default();
    if !sqlite {
        run_session(driver.as_mut(), &session).map_err(before)?;
    }
    let history = driver.read_history(&manifest.history_table).map_err(before)?;
    // Only a database without a history table is asked whether it holds anything else.
    let has_tables = history.is_none() && driver.has_other_tables(&manifest.history_table).map_err(before)?;
    // The target's identity kept in the database: a new or missing folder is that target; a
    // folder of another target is refused.
    let recorded = read_identity(driver.as_mut(), &manifest.history_table).map_err(|e| match e {
        Ok(e) => before(e),
        Err(refusal) => refused(refusal),
    })?;
    let (state, rebuilt) = crate::core::identity::reconcile(state, recorded.as_ref(), manifest, |identity| {
        crate::core::identity::state_from_identity(
            identity,
            &shown_url,
            driver.dialect(),
            &manifest.history_table,
            history.as_deref().unwrap_or_default(),
        )
    })
    .map_err(refused)?;
    progress.log(|| {
        let rows = history.as_ref().map_or("no history table".to_string(), |h| format!("{} history rows", h.len()));
        let held = state.as_ref().and_then(|s| s.release.as_ref()).map_or("none".to_string(), |r| r.id.to_string());
        let from = if rebuilt { "the database's target record" } else { "state.json" };
        format!("`{shown_url}`: {rows}, other tables: {has_tables}; release recorded in {from}: {held}")
    });
    let facts = TargetFacts {
        dialect: driver.dialect(),
        state: state.as_ref(),
        history: history.as_deref(),
        database_has_tables: has_tables,
        database: &shown_url,
        environment: request.env,
        allow_downgrade: request.allow_downgrade,
        baseline: request.baseline.clone(),
        journal: journal.as_ref().map(|j| j.as_ref().map_err(|_| ())),
        unsafe_path: &unsafe_path,
    };
    // What prints next goes to the same terminal: the spinner goes first.
    progress.finish();
    let decision = decide(manifest, members, &facts);
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
            if let (Some(state), false) = (state.as_ref(), request.dry_run) {
                // A folder that was new becomes the target; a database without the target's
                // record (imported before there was one, or its write failed) gets it.
                if rebuilt {
                    target.write_state(state).map_err(|e| usage("migrate::state_unwritten", e.to_string()))?;
                }
                let identity = TargetIdentity::of(state);
                if identity.differs_from(recorded.as_ref()) {
                    if sqlite {
                        driver = open(&db_url, false).map_err(|e| crate::db::failure(&db_url, "open", e))?;
                    }
                    // Nothing else changes: a failure here is a warning, and the next import
                    // writes the record.
                    if let Err(e) =
                        write_identity(driver.as_mut(), &manifest.history_table, &identity, recorded.is_some())
                    {
                        printer.status(&format!("warning: {}", e.report));
                    }
                }
                // The receipt says that the target holds the release, as of now.
                if let Some(path) = request.receipt {
                    let now = crate::clock::now_rfc3339();
                    write_receipt(path, state, manifest, history.as_deref().unwrap_or_default(), &now)?;
                }
            }
            let report = render_report(&import_report(manifest, facts.dialect, None, request.dry_run), request.format);
            return Ok(Imported { decision: "nothing_to_do", report });
        }
        Decision::Refuse(refusal) => return Err(refused(refusal)),
        Decision::Apply(steps) => steps,
    };
    if request.dry_run {
        let report = render_report(&import_report(manifest, facts.dialect, Some(&steps), true), request.format);
        return Ok(Imported { decision: steps.kind.name(), report });
    }
    if sqlite {
        driver = open(&db_url, false).map_err(|e| crate::db::failure(&db_url, "open", e))?;
        run_session(driver.as_mut(), &session).map_err(|e| crate::db::failure(&db_url, "open", e))?;
    }

    let now = crate::clock::now_rfc3339();
    let crash_after = std::env::var("MIGRATE_TEST_CRASH_AFTER").ok().and_then(|v| v.parse().ok());
    progress.task("migrating", steps.migrations.len());
    let release_id = manifest.release.id.to_string();
    let target_id = state.as_ref().map_or_else(|| new_target_id(&target.root), |s| s.target_id.clone());
    // The target's record as the release leaves it when every step succeeds, committed with the
    // last migrations.
    let dialect = driver.dialect();
    let after_apply = |history, assets| AfterApply {
        manifest,
        before: state.as_ref(),
        target_id: &target_id,
        environment: request.env,
        database: &shown_url,
        dialect,
        history,
        assets,
    };
    let planned = {
        let expected = steps.assets.iter().map(|step| (step, step.member.as_ref().map(|_| step.sha256.clone())));
        let ending = Ending::Applied { kind: steps.kind, migrations: 0, assets: 0, finished_at: &now };
        TargetIdentity::of(&state_after(&after_apply(&[], expected.collect()), ending))
    };
    let planned_row = planned.to_row(&now);
    let cx = ApplyContext {
        target,
        history_table: &manifest.history_table,
        history_existed: history.is_some(),
        release_id: &release_id,
        members,
        now: &now,
        identity: Some((&planned_row, recorded.is_some())),
        crash_after,
    };
    let result = apply(driver.as_mut(), &cx, &steps, progress);
    progress.finish();
    if let Err(ApplyFailure::RolledBack { at, cause }) = result {
        // Nothing changed, and nothing is left to resume: the journal goes.
        let _ = target.clear_journal();
        return Err(rolled_back(&at, &cause));
    }
    let history_after = driver
        .read_history(&manifest.history_table)
        .map_err(|e| Failure {
            kind: FailureKind::Partial,
            report: miette::miette!(
                code = "migrate::history_unreadable",
                help = "run `migrate status` to see what the target holds, then import again",
                "the import changed the database, then could not read its history back: {e}"
            ),
        })?
        .unwrap_or_default();
    // What is on disk now, for the state: each asset step's file, hashed.
    let found: Vec<_> = steps
        .assets
        .iter()
        .map(|step| {
            let bytes = target.asset_path(&step.id).ok().and_then(|p| std::fs::read(p).ok());
            (step, bytes.map(|b| ContentHash::of(&b)))
        })
        .collect();
    let after = after_apply(&history_after, found);
    match result {
        Ok(applied) => {
            let ending = Ending::Applied {
                kind: steps.kind,
                migrations: applied.migrations,
                assets: applied.assets,
                finished_at: &now,
            };
            let new_state = state_after(&after, ending);
            target.write_state(&new_state).map_err(|e| Failure {
                kind: FailureKind::Partial,
                report: miette::miette!(
                    code = "migrate::state_unwritten",
                    "the release is applied, but `state.json` could not be written: {e}"
                ),
            })?;
            let _ = target.clear_journal();
            // Committed with the migrations, unless the last ran outside a transaction or an
            // asset did not end as planned.
            let identity = TargetIdentity::of(&new_state);
            if !(applied.identity_written && identity == planned) {
                write_identity(driver.as_mut(), &manifest.history_table, &identity, recorded.is_some())?;
            }
            if let Some(path) = request.receipt {
                write_receipt(path, &new_state, manifest, &history_after, &now)?;
            }
            let report = match request.format {
                Format::Json => {
                    render_report(&import_report(manifest, driver.dialect(), Some(&steps), false), request.format)
                }
                Format::Text | Format::Markdown => format!(
                    "{}: release {} applied ({} migration{}, {} asset change{})\n",
                    steps.kind.name(),
                    manifest.release.id,
                    applied.migrations,
                    if applied.migrations == 1 { "" } else { "s" },
                    applied.assets,
                    if applied.assets == 1 { "" } else { "s" },
                ),
            };
            Ok(Imported { decision: steps.kind.name(), report })
        }
        Err(ApplyFailure::RolledBack { at, cause }) => Err(rolled_back(&at, &cause)),
        Err(ApplyFailure::Partial { at, cause, committed, stopped }) => {
            let partial = stopped.and_then(|(index, ran)| partial_record(&steps, index, ran));
            let new_state = state_after(&after, Ending::Stopped { partial });
            if target.write_state(&new_state).is_ok() {
                let _ = target.clear_journal();
            }
            // The database keeps which statements ran too, for a new folder (a stateless job).
            if let Err(e) = write_identity(
                driver.as_mut(),
                &manifest.history_table,
                &TargetIdentity::of(&new_state),
                recorded.is_some(),
            ) {
                printer.status(&format!("warning: {}", e.report));
            }
            // The receipt tells the source repository which migration is partial, so that a fix
            // may change the statements not yet run.
            if let Some(path) = request.receipt
                && let Err(e) = write_receipt(path, &new_state, manifest, &history_after, &now)
            {
                printer.status(&format!("warning: {}", e.report));
            }
            let help = match &cause {
                Cause::Database(e) if !matches!(e, DbError::Statement(_)) => e.help(),
                _ => "what is committed is recorded in the history table, `state.json` and the receipt; fix the cause and import again".to_string(),
            };
            Err(Failure {
                kind: FailureKind::Partial,
                report: miette::miette!(
                    code = "migrate::apply_partial",
                    help = help,
                    "{at} failed after changes were committed ({}): {cause}",
                    crate::apply::describe(&committed)
                ),
            })
        }
    }
}

/// Reads the target's record in the database: `Err(Ok(_))` when it cannot be read, `Err(Err(_))`
/// when what it holds is not ours.
fn read_identity(driver: &mut dyn Driver, table: &str) -> Result<Option<TargetIdentity>, Result<DbError, Refusal>> {
    let Some(row) = driver.read_identity(table).map_err(Ok)? else { return Ok(None) };
    TargetIdentity::from_row(row).map(Some).map_err(|e| {
        Err(Refusal {
            code: "migrate::identity_unreadable",
            message: format!(
                "the target's record in the database (`{}`) cannot be read: {e}",
                crate::core::identity::identity_table(table)
            ),
            help: "restore the table from a backup, or drop it: the next import from the target's folder writes it again; nothing was changed".into(),
        })
    })
}

/// Writes the target's record in the database after its `state.json`: a failure is exit 4, as
/// for `state.json` (the release is applied; the next import writes the record).
fn write_identity(
    driver: &mut dyn Driver,
    table: &str,
    identity: &TargetIdentity,
    exists: bool,
) -> Result<(), Failure> {
    let row = identity.to_row(&crate::clock::now_rfc3339());
    let written =
        if exists { Ok(()) } else { driver.ensure_identity(table) }.and_then(|()| driver.record_identity(table, &row));
    written.map_err(|e| Failure {
        kind: FailureKind::Partial,
        report: miette::miette!(
            code = "migrate::identity_unwritten",
            help = "import again: the next import writes it",
            "the target's record could not be written in the database (`{}`): {e}",
            crate::core::identity::identity_table(table)
        ),
    })
}

fn refused(refusal: crate::core::decide::Refusal) -> Failure {
    Failure::refused(miette::miette!(code = refusal.code, help = refusal.help, "{}", refusal.message))
}

/// The record of a migration left part-way: the statements that returned, so that a re-run
/// resumes after them and refuses if one of them changed.
fn partial_record(steps: &Steps, index: usize, ran: usize) -> Option<PartialMigration> {
    let step = steps.migrations.get(index)?;
    Some(PartialMigration {
        version: step.version.clone(),
        statements: step.statements.iter().take(ran).map(|s| s.sha256.clone()).collect(),
        started: ran,
        revert: step.revert,
    })
}

/// The failure of an apply that changed nothing: exit 3, or 5 when retrying may help.
fn rolled_back(at: &str, cause: &Cause) -> Failure {
    let (code, help, what) = match cause {
        Cause::ForeignKeys(violations) if violations.iter().any(|v| !v.parent_exists) => (
            "migrate::foreign_key_violation",
            "a table that was renamed and then dropped took its children's references with it (SQLite 3.26 and newer); if the history was written for the older behaviour, add `PRAGMA legacy_alter_table = ON` under `session: sqlite:` in migrate.yaml, or rebuild tables the documented way (create the new table, copy, drop the old one, rename the new one); nothing was changed".to_string(),
            "the release".to_string(),
        ),
        Cause::ForeignKeys(_) => (
            "migrate::foreign_key_violation",
            "the release leaves rows whose parent row is missing: fix the migration in a new bundle (with foreign-key enforcement off, as SQLite's procedure for schema changes has it, a DELETE does not cascade either); nothing was changed".to_string(),
            "the release".to_string(),
        ),
        Cause::Database(e) if e.is_temporary() => (e.code(), format!("{}; nothing was changed", e.help()), at.to_string()),
        Cause::Database(DbError::Statement(_)) => (
            "migrate::apply_rolled_back",
            "fix the migration in a new bundle; the target is exactly as before".to_string(),
            at.to_string(),
        ),
        Cause::Database(e) => (e.code(), format!("{}; the target is exactly as before", e.help()), at.to_string()),
        Cause::Target(_) => {
            ("migrate::target_unusable", "the target is exactly as before".to_string(), at.to_string())
        }
    };
    let kind = match cause {
        Cause::Database(e) if e.is_temporary() => FailureKind::Temporary,
        _ => FailureKind::RolledBack,
    };
    Failure {
        kind,
        report: miette::miette!(code = code, help = help, "{what} failed, and everything was rolled back: {cause}"),
    }
}

/// Runs the project's `session:` statements for this dialect, in order.
fn run_session(driver: &mut dyn Driver, statements: &[String]) -> Result<(), DbError> {
    statements.iter().try_for_each(|statement| driver.execute(statement))
}

fn new_target_id(root: &std::path::Path) -> String {
    let seed = format!("{}|{}|{}", root.display(), std::process::id(), crate::clock::now_rfc3339());
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let hash = ContentHash::of(format!("{seed}|{nanos}").as_bytes());
    format!("t-{}", &hash.hex()[..16])
}

fn write_receipt(
    path: &std::path::Path,
    state: &TargetState,
    manifest: &Manifest,
    history: &[HistoryRow],
    now: &str,
) -> Result<(), Failure> {
    let Some(receipt) = crate::core::bookkeeping::receipt(state, manifest, history, now) else {
        return Err(usage("migrate::receipt_needs_env", "a receipt names its environment: pass `--env NAME`".into()));
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

mod fleet;
#[cfg(test)]
mod tests;
