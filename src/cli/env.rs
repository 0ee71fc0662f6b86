//! `migrate env show`: every target of an environment against the project.
//! `migrate env record`: store an import's receipt in `environments/<env>.json` of the source
//! repository, closing the loop so that `plan --env` and `export --env` see what the
//! environment holds; `migrate env retire`: take an environment, or one target, out of the
//! records again (a temporary environment whose databases are gone).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::core::project::is_environment_name;
use crate::core::record::{EnvironmentRecord, Merged, RECORD_FORMAT_VERSION, Receipt};
use crate::exit::{Failure, Outcome};
use crate::settings::{ENVIRONMENTS_DIR, Settings};

/// Environment records
#[derive(Debug, clap::Subcommand)]
pub enum EnvCommand {
    Show(ShowArgs),
    Record(RecordArgs),
    Retire(RetireArgs),
}

/// Show every target of an environment: its release, and its migrations against the project
///
/// From `environments/<env>.json` at the revision (the latest receipt of each target): per
/// dialect, the migrations applied, those that stopped part-way (a re-run resumes them), those
/// of the project the target does not have yet (pending), and those it ran whose text the
/// project no longer has (differ). Exits 1 when a target has a partial migration or differs.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The environment
    pub env: String,
    /// The revision to compare with [default: WORKTREE in a work tree, HEAD in a bare repository]
    #[arg(long, value_name = "REV|WORKTREE")]
    pub rev: Option<String>,
}

/// Remove an environment, or one of its targets, from the records (commit it afterwards)
///
/// Without `--target`, deletes `environments/<env>.json`: what only that environment held no
/// longer counts as shipped, and `plan --env`/`export --env` no longer know it (`environments:`
/// in migrate.yaml is left as it is). With `--target ID`, removes that target's receipt; the
/// last one takes the file with it.
#[derive(Debug, clap::Args)]
pub struct RetireArgs {
    /// The environment
    pub env: String,
    /// Only this target (its id, as the record and `migrate status` show it)
    #[arg(long, value_name = "ID")]
    pub target: Option<String>,
}

fn show(settings: &Settings, args: &ShowArgs) -> Result<Outcome, Failure> {
    use std::fmt::Write as _;
    let rev = args.rev.clone().unwrap_or_else(|| {
        if settings.repo.workdir().is_some() { crate::settings::WORKTREE.into() } else { "HEAD".into() }
    });
    let opened = settings.open_required(&settings.point(&rev)?)?;
    let Some(record) = opened.records()?.into_iter().find(|r| r.environment == args.env) else {
        return Err(usage(
            "migrate::no_record",
            format!("there is no `{ENVIRONMENTS_DIR}/{}.json` at `{rev}`: `{}` has no record", args.env, args.env),
        ));
    };
    let project = crate::core::snapshot::migration_hashes(&opened.project, opened.source(), settings.threads)
        .map_err(|e| crate::settings::read_failure(&rev, e))?;
    let view = crate::core::record::environment_view(&record, &rev, &project);
    let troubled =
        view.targets.iter().any(|t| t.migrations.values().any(|m| !m.partial.is_empty() || !m.differ.is_empty()));
    let text = match settings.format {
        crate::settings::Format::Json => format!("{}\n", serde_json::to_string_pretty(&view).unwrap_or_default()),
        crate::settings::Format::Text | crate::settings::Format::Markdown => {
            let mut out = String::new();
            let _ = writeln!(out, "`{}`: {} target(s), compared with {rev}", view.environment, view.targets.len());
            for target in &view.targets {
                let version = target.release.version.as_ref().map(|v| format!(" ({v})")).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "\n{}  {}  release {}{version}  at {}",
                    target.target_id,
                    target.database,
                    target.release.id.short(),
                    target.applied_at
                );
                for (dialect, m) in &target.migrations {
                    let list = |versions: &[crate::core::model::Version]| {
                        versions.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                    };
                    let mut line = format!("  {dialect}: {} applied", m.applied);
                    if !m.pending.is_empty() {
                        let _ = write!(line, ", {} pending ({})", m.pending.len(), list(&m.pending));
                    }
                    for p in &m.partial {
                        let _ = write!(line, ", {} partial ({}/{})", p.version, p.done, p.total);
                    }
                    if !m.differ.is_empty() {
                        let _ = write!(line, ", differ from the project: {}", list(&m.differ));
                    }
                    let _ = writeln!(out, "{line}");
                }
                for held in &target.skipped {
                    let _ = writeln!(out, "  skipped{}: {}", if held.always { " always" } else { "" }, held.id);
                }
            }
            out
        }
    };
    settings.printer.product(&text);
    Ok(if troubled { Outcome::Findings } else { Outcome::Success })
}

/// Store receipts in environments/<env>.json of the work tree (commit it afterwards)
///
/// The record keeps the latest receipt of each target of the environment, keyed by target id.
/// Receipts may come in any number and any order (one per target of a fleet, from the shards
/// of a Kubernetes Job or a CI matrix): a receipt older than the one recorded for its target is
/// left out with a note, so the record is the same whatever the order.
#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// The receipts that `migrate import --receipt FILE` wrote
    #[arg(required = true, value_name = "RECEIPT")]
    pub receipts: Vec<PathBuf>,
}

fn usage(code: &'static str, message: String) -> Failure {
    Failure::usage(miette::miette!(code = code, "{message}"))
}

pub fn run_env(settings: &Settings, command: &EnvCommand) -> Result<Outcome, Failure> {
    match command {
        EnvCommand::Show(args) => show(settings, args),
        EnvCommand::Record(args) => record(settings, args),
        EnvCommand::Retire(args) => retire(settings, args),
    }
}

/// The work tree's folder of environment records, and how to name a record in messages.
fn records_dir(settings: &Settings) -> Result<(PathBuf, String), Failure> {
    let Some(workdir) = settings.repo.workdir() else {
        return Err(usage("migrate::no_worktree", "environment records are written to a work tree".into()));
    };
    Ok((workdir.join(&settings.prefix).join(ENVIRONMENTS_DIR), format!("{}{ENVIRONMENTS_DIR}", settings.prefix)))
}

fn retire(settings: &Settings, args: &RetireArgs) -> Result<Outcome, Failure> {
    if !is_environment_name(&args.env) {
        return Err(usage("migrate::bad_environment", format!("`{}` is not an environment name", args.env)));
    }
    let (dir, shown_dir) = records_dir(settings)?;
    let path = dir.join(format!("{}.json", args.env));
    let shown = format!("{shown_dir}/{}.json", args.env);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(usage("migrate::no_record", format!("there is no `{shown}`: `{}` has no record", args.env)));
        }
        Err(e) => return Err(usage("migrate::record_unreadable", format!("cannot read `{shown}`: {e}"))),
    };
    let mut record = EnvironmentRecord::parse(&shown, &args.env, &bytes).map_err(Failure::usage)?;
    let remove_file = |what: String| -> Result<Outcome, Failure> {
        std::fs::remove_file(&path)
            .map_err(|e| usage("migrate::record_unwritten", format!("cannot remove `{shown}`: {e}")))?;
        settings.printer.status(&format!("{what}: removed `{shown}`; commit it"));
        Ok(Outcome::Success)
    };
    let Some(target) = &args.target else {
        let targets = record.targets.len();
        return remove_file(format!(
            "retired environment `{}` ({} target{})",
            args.env,
            targets,
            if targets == 1 { "" } else { "s" }
        ));
    };
    if record.targets.remove(target).is_none() {
        let known: Vec<&str> = record.targets.keys().map(String::as_str).collect();
        return Err(Failure::usage(miette::miette!(
            code = "migrate::unknown_target",
            help = format!("the targets of `{}` are: {}", args.env, known.join(", ")),
            "`{shown}` has no target `{target}`"
        )));
    }
    if record.targets.is_empty() {
        return remove_file(format!("retired target `{target}`, the last of `{}`", args.env));
    }
    let mut text = serde_json::to_vec_pretty(&record).unwrap_or_default();
    text.push(b'\n');
    crate::target::write_durably(&path, &text).map_err(|e| usage("migrate::record_unwritten", e.to_string()))?;
    settings.printer.status(&format!("retired target `{target}` from `{shown}`; commit it"));
    Ok(Outcome::Success)
}

fn record(settings: &Settings, args: &RecordArgs) -> Result<Outcome, Failure> {
    // Every receipt is read and checked before any record is written: all or nothing.
    let receipts = args.receipts.iter().map(|path| read_receipt(settings, path)).collect::<Result<Vec<_>, _>>()?;
    let (dir, shown_dir) = records_dir(settings)?;
    let mut by_environment: BTreeMap<String, Vec<Receipt>> = BTreeMap::new();
    for receipt in receipts {
        by_environment.entry(receipt.environment.clone()).or_default().push(receipt);
    }
    for (environment, receipts) in by_environment {
        let path = dir.join(format!("{environment}.json"));
        let shown = format!("{shown_dir}/{environment}.json");
        let mut record = match std::fs::read(&path) {
            Ok(bytes) => EnvironmentRecord::parse(&shown, &environment, &bytes).map_err(Failure::usage)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => EnvironmentRecord {
                format_version: RECORD_FORMAT_VERSION,
                environment: environment.clone(),
                targets: BTreeMap::new(),
            },
            Err(e) => return Err(usage("migrate::record_unreadable", format!("cannot read `{shown}`: {e}"))),
        };
        for receipt in receipts {
            let (target_id, applied_at) = (receipt.target_id.clone(), receipt.applied_at.clone());
            match record.merge(receipt) {
                Merged::Recorded => settings.printer.status(&format!(
                    "recorded target `{target_id}` in `{shown}`; commit it so that `plan --env` sees it"
                )),
                Merged::Older { newer } => settings.printer.status(&format!(
                    "note: `{shown}` holds a newer receipt of target `{target_id}` ({newer}); the one of {applied_at} is left out"
                )),
            }
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| usage("migrate::record_unwritten", format!("cannot create `{}`: {e}", dir.display())))?;
        let mut text = serde_json::to_vec_pretty(&record).unwrap_or_default();
        text.push(b'\n');
        crate::target::write_durably(&path, &text).map_err(|e| usage("migrate::record_unwritten", e.to_string()))?;
    }
    Ok(Outcome::Success)
}

/// Reads one receipt and checks that it can be recorded here.
fn read_receipt(settings: &Settings, receipt_path: &std::path::Path) -> Result<Receipt, Failure> {
    let bytes = std::fs::read(receipt_path)
        .map_err(|e| usage("migrate::receipt_unreadable", format!("cannot read `{}`: {e}", receipt_path.display())))?;
    let receipt: Receipt = serde_json::from_slice(&bytes).map_err(|e| {
        usage("migrate::receipt_unreadable", format!("`{}` is not a receipt: {e}", receipt_path.display()))
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
            receipt_path.display(),
            receipt.project,
            project.config.project
        )));
    }
    Ok(receipt)
}
