//! `migrate env record`: store an import's receipt in `environments/<env>.json` of the source
//! repository, closing the loop so that `plan --env` and `export --env` see what the
//! environment holds.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::core::project::is_environment_name;
use crate::core::record::{EnvironmentRecord, RECORD_FORMAT_VERSION, Receipt};
use crate::exit::{Failure, Outcome};
use crate::settings::{ENVIRONMENTS_DIR, Settings};

/// Environment records
#[derive(Debug, clap::Subcommand)]
pub enum EnvCommand {
    Record(RecordArgs),
}

/// Store a receipt in environments/<env>.json of the work tree (commit it afterwards)
///
/// The record keeps the latest receipt of each target of the environment, keyed by target id;
/// a receipt older than the one recorded for its target is refused.
#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// The receipt that `migrate import --receipt FILE` wrote
    pub receipt: PathBuf,
}

fn usage(code: &'static str, message: String) -> Failure {
    Failure::usage(miette::miette!(code = code, "{message}"))
}

pub fn run_env(settings: &Settings, command: &EnvCommand) -> Result<Outcome, Failure> {
    let EnvCommand::Record(args) = command;
    let bytes = std::fs::read(&args.receipt)
        .map_err(|e| usage("migrate::receipt_unreadable", format!("cannot read `{}`: {e}", args.receipt.display())))?;
    let receipt: Receipt = serde_json::from_slice(&bytes).map_err(|e| {
        usage("migrate::receipt_unreadable", format!("`{}` is not a receipt: {e}", args.receipt.display()))
    })?;
    if receipt.format_version != RECORD_FORMAT_VERSION {
        return Err(usage(
            "migrate::receipt_unreadable",
            format!("receipt format version {} is not known", receipt.format_version),
        ));
    }
    if !is_environment_name(&receipt.environment) {
        return Err(usage(
            "migrate::receipt_unreadable",
            format!("`{}` is not an environment name", receipt.environment),
        ));
    }
    let Some(workdir) = settings.repo.workdir() else {
        return Err(usage("migrate::no_worktree", "recording needs a work tree to write to".into()));
    };
    // A receipt of another project's target must not land in this project's records.
    let project_file = workdir.join(&settings.prefix).join(crate::core::project::PROJECT_FILE);
    let shown_file = format!("{}{}", settings.prefix, crate::core::project::PROJECT_FILE);
    let config = std::fs::read(&project_file)
        .map_err(|e| usage("migrate::no_project", format!("cannot read `{shown_file}`: {e}")))?;
    let project =
        crate::core::project::Project::parse(&shown_file, &settings.prefix, &config).map_err(|e| Failure::usage(*e))?;
    if receipt.project != project.config.project {
        return Err(Failure::refused(miette::miette!(
            code = "migrate::other_project",
            help = format!("record it in the repository of project `{}`", receipt.project),
            "`{}` is a receipt of project `{}`, and this is project `{}`",
            args.receipt.display(),
            receipt.project,
            project.config.project
        )));
    }
    let dir = workdir.join(&settings.prefix).join(ENVIRONMENTS_DIR);
    let path = dir.join(format!("{}.json", receipt.environment));
    let shown = format!("{}{ENVIRONMENTS_DIR}/{}.json", settings.prefix, receipt.environment);
    let mut record = match std::fs::read(&path) {
        Ok(bytes) => EnvironmentRecord::parse(&shown, &receipt.environment, &bytes).map_err(Failure::usage)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => EnvironmentRecord {
            format_version: RECORD_FORMAT_VERSION,
            environment: receipt.environment.clone(),
            targets: BTreeMap::new(),
        },
        Err(e) => return Err(usage("migrate::record_unreadable", format!("cannot read `{shown}`: {e}"))),
    };
    if let Some(previous) = record.targets.get(&receipt.target_id)
        && previous.applied_at > receipt.applied_at
    {
        return Err(Failure::refused(miette::miette!(
            code = "migrate::receipt_outdated",
            help = "record the newest receipt of each target",
            "`{shown}` holds a newer receipt for target `{}` ({} > {})",
            receipt.target_id,
            previous.applied_at,
            receipt.applied_at
        )));
    }
    let target_id = receipt.target_id.clone();
    record.targets.insert(target_id.clone(), receipt);
    std::fs::create_dir_all(&dir)
        .map_err(|e| usage("migrate::record_unwritten", format!("cannot create `{}`: {e}", dir.display())))?;
    let mut text = serde_json::to_vec_pretty(&record).unwrap_or_default();
    text.push(b'\n');
    crate::target::write_durably(&path, &text).map_err(|e| usage("migrate::record_unwritten", e.to_string()))?;
    settings
        .printer
        .status(&format!("recorded target `{target_id}` in `{shown}`; commit it so that `plan --env` sees it"));
    Ok(Outcome::Success)
}
