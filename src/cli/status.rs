//! `migrate status`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::core::hash::ContentHash;
use crate::core::state::TargetState;
use crate::core::status::{Drift, FleetStatus, FleetTargetStatus, Status, not_a_target, status};
use crate::exit::{Failure, Outcome};
use crate::output::Printer;
use crate::settings::Format;
use crate::target::Target;

/// Show what a target holds, and any drift from what was imported
///
/// Compares the target's asset files and history table with `.migrate/state.json`: changed or
/// missing asset files, history rows from no known release, changed or missing rows, partial
/// migrations. Rows written by a bundle's offline script are reported as such, not as drift.
/// Exits 1 on drift. With `--fleet FILE`, every target of the fleet, wave by wave, and the most
/// severe exit code of its targets.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The target folder; without it, `--db URL` reads the target from its database alone (its
    /// record beside the history table, and the history)
    #[arg(long, value_name = "DIR", conflicts_with = "fleet")]
    pub target: Option<PathBuf>,
    /// Every target of a fleet file instead, wave by wave
    #[arg(long, value_name = "FILE")]
    pub fleet: Option<PathBuf>,
    /// The database [default: the one the target recorded]. What a PostgreSQL or MySQL URL
    /// leaves out comes from its client's conventions, as for `import`
    #[arg(long, value_name = "URL", env = "MIGRATE_DATABASE_URL")]
    pub db: Option<String>,
    /// The history table's name, for `--db` without `--target` (a target folder records it)
    #[arg(long, value_name = "NAME", default_value = "migrate_history", conflicts_with = "target")]
    pub history_table: String,
    #[command(flatten)]
    pub connection: super::connection::ConnectionArgs,
}

pub fn run_status(args: &StatusArgs, format: Format, printer: &Printer) -> Result<Outcome, Failure> {
    if let Some(fleet) = &args.fleet {
        if args.db.is_some() {
            printer.status(
                "note: `--db` (or MIGRATE_DATABASE_URL) is not used with `--fleet`: each target names its own database",
            );
        }
        return fleet_status(fleet, &args.connection, format, printer);
    }
    let report = match (&args.target, &args.db) {
        (Some(folder), db) => target_status(folder, db.as_deref(), &args.connection, printer)?,
        (None, Some(db)) => database_status(db, &args.history_table, &args.connection, printer)?,
        (None, None) => {
            return Err(Failure::usage(miette::miette!(
                code = "migrate::no_target",
                help = "pass `--target DIR`, `--db URL` for a target known by its database, or `--fleet FILE` for every target of a fleet",
                "which target? `status` needs `--target DIR`, `--db URL` or `--fleet FILE`"
            )));
        }
    };
    let Some(report) = report else {
        let text = match format {
            Format::Json => {
                let database = crate::core::redact::redact(args.db.as_deref().unwrap_or(crate::db::DEFAULT_DATABASE));
                format!("{}\n", serde_json::to_string_pretty(&not_a_target(database)).unwrap_or_default())
            }
            Format::Text | Format::Markdown => match &args.target {
                Some(folder) => format!("`{}` is not a target yet: nothing was imported there\n", folder.display()),
                None => format!(
                    "`{}` is not a target yet: it has no history table `{}`\n",
                    crate::core::redact::redact(args.db.as_deref().unwrap_or_default()),
                    args.history_table
                ),
            },
        };
        printer.product(&text);
        return Ok(Outcome::Success);
    };
    let rendered = match format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&report).unwrap_or_default()),
        Format::Text | Format::Markdown => render(&report),
    };
    printer.product(&rendered);
    Ok(if report.drift.is_empty() { Outcome::Success } else { Outcome::Findings })
}

/// The status of the target in `folder` (its database: `db`, else the recorded one); `None` when
/// nothing was imported there yet.
fn target_status(
    folder: &std::path::Path,
    db: Option<&str>,
    connection: &super::connection::ConnectionArgs,
    printer: &Printer,
) -> Result<Option<Status>, Failure> {
    let target = Target::new(folder);
    let unreadable = |e: String| Failure::usage(miette::miette!(code = "migrate::state_unreadable", "{e}"));
    let Some(bytes) = target.read_state().map_err(|e| unreadable(e.to_string()))? else {
        // A new or missing folder on a database with a target's record is that target (the
        // history table's default name: a folder records another).
        return match db {
            Some(db) => {
                Ok(database_status(db, "migrate_history", connection, printer)?.filter(|s| s.target_id.is_some()))
            }
            None => Ok(None),
        };
    };
    let state = TargetState::parse(&bytes).map_err(|e| unreadable(e.to_string()))?;
    let db_url = db.map(str::to_string).unwrap_or_else(|| state.database.clone());
    let (mut driver, url, _) = open_read_only(folder, &db_url, &state.history_table, connection, printer)?;
    let unreadable = |e| read_failure(&url, e);
    let history = driver.read_history(&state.history_table).map_err(unreadable)?.unwrap_or_default();
    let files: BTreeMap<_, Option<ContentHash>> = state
        .assets
        .keys()
        .map(|id| {
            let found = target.asset_path(id).ok().and_then(|p| std::fs::read(p).ok()).map(|b| ContentHash::of(&b));
            (id.clone(), found)
        })
        .collect();
    Ok(Some(status(&state, &files, &history)))
}

/// The status of a target read from its database alone (`status --db URL`): its record beside
/// the history table, and the history. With no folder, only partial migrations are drift; a
/// database without a record (imported before there was one, or only by the offline script)
/// shows its history without a target id. `None` when there is no history table.
fn database_status(
    db: &str,
    history_table: &str,
    connection: &super::connection::ConnectionArgs,
    printer: &Printer,
) -> Result<Option<Status>, Failure> {
    if !crate::core::project::is_identifier(history_table) {
        return Err(Failure::usage(miette::miette!(
            code = "migrate::bad_history_table",
            "`{history_table}` is not a plain identifier"
        )));
    }
    let (mut driver, url, shown) = open_read_only(Path::new("."), db, history_table, connection, printer)?;
    let unreadable = |e| read_failure(&url, e);
    let Some(history) = driver.read_history(history_table).map_err(unreadable)? else { return Ok(None) };
    let row = driver.read_identity(history_table).map_err(unreadable)?;
    let identity = row.map(crate::core::identity::TargetIdentity::from_row).transpose().map_err(|e| {
        Failure::refused(miette::miette!(
            code = "migrate::identity_unreadable",
            "the target's record in `{shown}` cannot be read: {e}"
        ))
    })?;
    let anonymous = crate::core::identity::TargetIdentity {
        project: String::new(),
        target_id: String::new(),
        environment: None,
        release: None,
        assets: 0,
        partial: None,
    };
    let state = crate::core::identity::state_from_identity(
        identity.as_ref().unwrap_or(&anonymous),
        &shown,
        driver.dialect(),
        history_table,
        &history,
    );
    let mut report = status(&state, &BTreeMap::new(), &history);
    // The folder's assets are not in the database: its record says how many there were.
    report.assets = identity.as_ref().map_or(0, |i| i.assets);
    if identity.is_none() {
        report.target_id = None;
    }
    Ok(Some(report))
}

/// Opens a database read-only for `status`, with what its URL leaves out from the client's
/// conventions; returns the driver, the effective URL (for scrubbing messages) and the URL to
/// show (without its password).
fn open_read_only(
    root: &Path,
    db: &str,
    history_table: &str,
    connection: &super::connection::ConnectionArgs,
    printer: &Printer,
) -> Result<(Box<dyn crate::db::Driver>, String, String), Failure> {
    let effective = super::connection::resolve(db, connection)
        .map_err(|e| Failure::refused(crate::db::failure(db, "read", e).report))?;
    for warning in &effective.warnings {
        printer.status(&format!("warning: {warning}"));
    }
    printer.debug(|| effective.describe());
    let driver =
        crate::db::open_driver(&effective.url, &Target::new(root), history_table, true, Duration::from_secs(5), &[])
            .map_err(|e| read_failure(&effective.url, e))?;
    Ok((driver, effective.url, effective.shown))
}

/// A database `status` cannot read: a URL that cannot work is refused like any other.
fn read_failure(url: &str, e: crate::db::DbError) -> Failure {
    let bad_url = matches!(e, crate::db::DbError::BadUrl(_));
    let failure = crate::db::failure(url, "read", e);
    if bad_url { Failure::refused(failure.report) } else { failure }
}

/// `status --fleet FILE`: every target of the fleet, wave by wave, read-only. Exits with the
/// most severe code of its targets (1 drift, 2 unreadable, 5 unreachable).
fn fleet_status(
    path: &std::path::Path,
    connection: &super::connection::ConnectionArgs,
    format: Format,
    printer: &Printer,
) -> Result<Outcome, Failure> {
    let fleet = crate::fleet_file::read(path)?;
    let mut rows = Vec::new();
    for wave in &fleet.waves {
        for target in &wave.targets {
            let result = crate::fleet_file::locate(path, target).and_then(|(folder, db)| {
                target_status(&folder, db.as_deref(), connection, printer).map(|s| (folder, s))
            });
            let row = match result {
                Ok((_, Some(status))) => {
                    let exit_code = if status.drift.is_empty() { 0 } else { 1 };
                    FleetTargetStatus {
                        name: target.name.clone(),
                        wave: wave.name.clone(),
                        status: Some(status),
                        error: None,
                        exit_code,
                    }
                }
                Ok((folder, None)) => FleetTargetStatus {
                    name: target.name.clone(),
                    wave: wave.name.clone(),
                    status: None,
                    error: Some(format!("`{}` is not a target yet: nothing was imported there", folder.display())),
                    exit_code: 0,
                },
                Err(failure) => {
                    let exit_code = crate::exit::code_of(&failure);
                    let code = failure.report.code().map(|c| c.to_string()).unwrap_or_default();
                    FleetTargetStatus {
                        name: target.name.clone(),
                        wave: wave.name.clone(),
                        status: None,
                        error: Some(format!("{code}: {}", failure.report)),
                        exit_code,
                    }
                }
            };
            rows.push(row);
        }
    }
    let exit_code = crate::exit::most_severe(rows.iter().map(|r| r.exit_code));
    let report = FleetStatus { format_version: crate::core::status::STATUS_FORMAT_VERSION, exit_code, targets: rows };
    let rows = &report.targets;
    let text = match format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&report).unwrap_or_default()),
        Format::Text | Format::Markdown => {
            let mut out = String::new();
            for row in rows {
                let what = match (&row.status, &row.error) {
                    (Some(status), _) => {
                        let release = status
                            .release_id
                            .as_ref()
                            .map_or("no release".to_string(), |id| format!("release {}", id.short()));
                        let drift = if status.drift.is_empty() {
                            "no drift".to_string()
                        } else {
                            format!("{} drift", status.drift.len())
                        };
                        format!("{release}, {} migrations, {drift}", status.migrations.len())
                    }
                    (None, Some(error)) => error.clone(),
                    (None, None) => String::new(),
                };
                let _ = writeln!(out, "{:<12} {:<16} {what}", row.wave, row.name);
            }
            out
        }
    };
    printer.product(&text);
    match exit_code {
        0 => Ok(Outcome::Success),
        1 => Ok(Outcome::Findings),
        code => Err(crate::exit::Failure {
            kind: crate::exit::kind_of_code(code),
            report: miette::miette!(
                code = "migrate::fleet_unreadable",
                "some targets of the fleet could not be read (see above)"
            ),
        }),
    }
}

fn render(status: &Status) -> String {
    let mut out = String::new();
    let env = status.environment.as_ref().map(|e| format!(" in `{e}`")).unwrap_or_default();
    let database = crate::core::redact::redact(&status.database);
    let _ = match &status.target_id {
        Some(id) => writeln!(out, "target {id}{env}, database `{database}`"),
        None => writeln!(
            out,
            "database `{database}`: no target record beside its history (imported before migrate kept one, or only by the offline script; the next import writes it)"
        ),
    };
    match &status.release_id {
        Some(id) => {
            let version = status.release_version.as_ref().map(|v| format!(" ({v})")).unwrap_or_default();
            let _ = writeln!(out, "release {id}{version}");
        }
        None => {
            let _ = writeln!(out, "no release finished yet");
        }
    }
    let _ = writeln!(out, "{} migrations applied, {} assets", status.migrations.len(), status.assets);
    for held in &status.skipped {
        let holds = match &held.sha256 {
            Some(sha) => format!("target holds sha256:{}", sha.short()),
            None => "target has no copy".to_string(),
        };
        let always = if held.always { " always (skip_always)" } else { "" };
        let _ = writeln!(out, "skipped{always}: {}, {holds}", held.id);
    }
    if !status.applied_by_script.is_empty() {
        let versions: Vec<String> = status.applied_by_script.iter().map(ToString::to_string).collect();
        let _ = writeln!(out, "applied by the offline script (the next import adopts them): {}", versions.join(", "));
    }
    if status.drift.is_empty() {
        let _ = writeln!(out, "no drift");
        return out;
    }
    let _ = writeln!(out, "drift:");
    for drift in &status.drift {
        let line = match drift {
            Drift::AssetMissing { id } => format!("asset `{id}` is missing"),
            Drift::AssetChanged { id, expected, found } => {
                format!("asset `{id}` was changed: {} expected, {} found", expected.short(), found.short())
            }
            Drift::UnknownHistoryRow { version, sha256 } => {
                format!("history row {version} ({}) is from no known release", sha256.short())
            }
            Drift::HistoryRowChanged { version, expected, found } => {
                format!("history row {version} changed: {} expected, {} found", expected.short(), found.short())
            }
            Drift::HistoryRowMissing { version } => format!("history row {version} is missing"),
            Drift::PartialMigration { version, done, total } => {
                format!("migration {version} is partially applied ({done}/{total} statements)")
            }
        };
        let _ = writeln!(out, "  {line}");
    }
    out
}
