//! `migrate status`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::core::hash::ContentHash;
use crate::core::state::TargetState;
use crate::core::status::{Drift, Status, not_a_target, status};
use crate::exit::{Failure, Outcome};
use crate::output::Printer;
use crate::settings::Format;
use crate::target::Target;

/// Show what a target holds, and any drift from what was imported
///
/// Compares the target's asset files and history table with `.migrate/state.json`: changed or
/// missing asset files, history rows from no known release, changed or missing rows, partial
/// migrations. Rows written by a bundle's offline script are reported as such, not as drift.
/// Exits 1 on drift.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The target folder
    #[arg(long, value_name = "DIR")]
    pub target: PathBuf,
    /// The database [default: the one the target recorded]
    #[arg(long, value_name = "URL", env = "MIGRATE_DATABASE_URL")]
    pub db: Option<String>,
}

pub fn run_status(args: &StatusArgs, format: Format, printer: &Printer) -> Result<Outcome, Failure> {
    let target = Target::new(&args.target);
    let unreadable = |e: String| Failure::usage(miette::miette!(code = "migrate::state_unreadable", "{e}"));
    let Some(bytes) = target.read_state().map_err(|e| unreadable(e.to_string()))? else {
        let text = match format {
            Format::Json => {
                let database =
                    crate::cli::import::redact(args.db.as_deref().unwrap_or(crate::cli::import::DEFAULT_DATABASE));
                format!("{}\n", serde_json::to_string_pretty(&not_a_target(database)).unwrap_or_default())
            }
            Format::Text | Format::Markdown => {
                format!("`{}` is not a target yet: nothing was imported there\n", args.target.display())
            }
        };
        printer.product(&text);
        return Ok(Outcome::Success);
    };
    let state = TargetState::parse(&bytes).map_err(|e| unreadable(e.to_string()))?;
    let db_url = args.db.clone().unwrap_or_else(|| state.database.clone());
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
    let report = status(&state, &files, &history);
    let rendered = match format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&report).unwrap_or_default()),
        Format::Text | Format::Markdown => render(&report),
    };
    printer.product(&rendered);
    Ok(if report.drift.is_empty() { Outcome::Success } else { Outcome::Findings })
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
