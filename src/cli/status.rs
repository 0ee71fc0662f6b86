//! `migrate status`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
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
    /// The target folder
    #[arg(long, value_name = "DIR", required_unless_present = "fleet", conflicts_with = "fleet")]
    pub target: Option<PathBuf>,
    /// Every target of a fleet file instead, wave by wave
    #[arg(long, value_name = "FILE")]
    pub fleet: Option<PathBuf>,
    /// The database [default: the one the target recorded]. What a PostgreSQL or MySQL URL
    /// leaves out comes from its client's conventions, as for `import`
    #[arg(long, value_name = "URL", env = "MIGRATE_DATABASE_URL")]
    pub db: Option<String>,
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
    let Some(folder) = &args.target else {
        return Err(Failure::usage(miette::miette!(
            code = "migrate::no_target",
            help = "pass `--target DIR`, or `--fleet FILE` for every target of a fleet",
            "which target? `status` needs `--target DIR` or `--fleet FILE`"
        )));
    };
    let report = target_status(folder, args.db.as_deref(), &args.connection, printer)?;
    let Some(report) = report else {
        let text = match format {
            Format::Json => {
                let database =
                    crate::cli::import::redact(args.db.as_deref().unwrap_or(crate::cli::import::DEFAULT_DATABASE));
                format!("{}\n", serde_json::to_string_pretty(&not_a_target(database)).unwrap_or_default())
            }
            Format::Text | Format::Markdown => {
                format!("`{}` is not a target yet: nothing was imported there\n", folder.display())
            }
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
        return Ok(None);
    };
    let state = TargetState::parse(&bytes).map_err(|e| unreadable(e.to_string()))?;
    let db_url = db.map(str::to_string).unwrap_or_else(|| state.database.clone());
    // What the URL leaves out comes from its client's conventions, as for `import`.
    let effective = super::connection::resolve(&db_url, connection)
        .map_err(|e| Failure::refused(crate::cli::import::database_failure(&db_url, "read", e).report))?;
    for warning in &effective.warnings {
        printer.status(&format!("warning: {warning}"));
    }
    printer.debug(|| effective.describe());
    let db_url = effective.url;
    let unreadable = |e: crate::db::DbError| {
        let bad_url = matches!(e, crate::db::DbError::BadUrl(_));
        let failure = crate::cli::import::database_failure(&db_url, "read", e);
        // `status` reads: a URL that cannot work is refused like any other unreadable database.
        if bad_url { Failure::refused(failure.report) } else { failure }
    };
    let mut driver =
        crate::cli::import::open_driver(&db_url, &target, &state.history_table, true, Duration::from_secs(5), &[])
            .map_err(unreadable)?;
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

/// `status --fleet FILE`: every target of the fleet, wave by wave, read-only. Exits with the
/// most severe code of its targets (1 drift, 2 unreadable, 5 unreachable).
fn fleet_status(
    path: &std::path::Path,
    connection: &super::connection::ConnectionArgs,
    format: Format,
    printer: &Printer,
) -> Result<Outcome, Failure> {
    let fleet = crate::cli::fleet::read(path)?;
    let mut rows = Vec::new();
    for wave in &fleet.waves {
        for target in &wave.targets {
            let result = crate::cli::fleet::locate(path, target).and_then(|(folder, db)| {
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
    let _ = writeln!(
        out,
        "target {}{env}, database `{}`",
        status.target_id.as_deref().unwrap_or_default(),
        crate::cli::import::redact(&status.database)
    );
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
