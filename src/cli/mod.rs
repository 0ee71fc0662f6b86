//! The clap command tree and the one dispatch `match`.

pub(crate) mod check;
pub(crate) mod completions;
pub(crate) mod connection;
pub(crate) mod env;
pub(crate) mod export;
pub(crate) mod import;
pub(crate) mod init;
pub(crate) mod inspect;
pub(crate) mod keygen;
pub(crate) mod plan;
pub(crate) mod select;
pub(crate) mod sign;
pub(crate) mod status;
pub(crate) mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::core::model::ItemId;
use crate::core::plan::{EnvironmentBase, PromotionFacts};
use crate::core::record::{EnvironmentRecord, HeldAsset};
use crate::core::selection::Selection;
use crate::core::source::{ObjectId, Source};
use crate::exit::{EXIT_CODES_HELP, Failure, exit_code};
use crate::settings::{GlobalArgs, Opened, Point, Settings};

/// Plan, bundle and apply SQL migrations and YAML assets kept in git
#[derive(Debug, Parser)]
#[command(name = "migrate", version, after_help = EXIT_CODES_HELP, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Check(check::CheckArgs),
    Plan(plan::PlanArgs),
    Export(export::ExportArgs),
    Inspect(inspect::InspectArgs),
    Verify(verify::VerifyArgs),
    Keygen(keygen::KeygenArgs),
    Sign(sign::SignArgs),
    Import(import::ImportArgs),
    Status(status::StatusArgs),
    #[command(subcommand)]
    Env(env::EnvCommand),
    Select(select::SelectArgs),
    Init(init::InitArgs),
    Completions(completions::CompletionsArgs),
    Man(completions::ManArgs),
}

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli, no_color: bool) -> ExitCode {
    let printer = crate::output::Printer::new(cli.global.quiet, cli.global.verbose, no_color);
    // Commands on a bundle file or a key need no repository.
    let result = match &cli.command {
        Command::Inspect(args) => inspect::run_inspect(args, cli.global.format, &printer),
        Command::Verify(args) => verify::run_verify(args, cli.global.format, &printer),
        Command::Keygen(args) => keygen::run_keygen(args, &printer),
        Command::Sign(args) => sign::run_sign(args, &printer),
        Command::Import(args) => import::run_import(args, cli.global.format, &printer),
        Command::Status(args) => status::run_status(args, cli.global.format, &printer),
        Command::Completions(args) => completions::run_completions(args, &printer),
        Command::Init(args) => init::run_init(args, &printer),
        Command::Man(_) => completions::run_man(&printer),
        command => Settings::resolve(&cli.global, no_color).and_then(|settings| match command {
            Command::Check(args) => check::run_check(&settings, args),
            Command::Plan(args) => plan::run_plan(&settings, args),
            Command::Export(args) => export::run_export(&settings, args),
            Command::Env(command) => env::run_env(&settings, command),
            Command::Select(args) => select::run_select(&settings, args),
            Command::Inspect(_)
            | Command::Verify(_)
            | Command::Keygen(_)
            | Command::Sign(_)
            | Command::Import(_)
            | Command::Status(_)
            | Command::Completions(_)
            | Command::Init(_)
            | Command::Man(_) => Ok(crate::exit::Outcome::Success),
        }),
    };
    if let Err(failure) = &result {
        printer.failure(&failure.report);
    }
    exit_code(&result)
}

/// Resolves the base of a plan or check: `--env`, `--base`, or (when `default` is set) the
/// merge-base of head and the default branch. Returns the base point (`None`: nothing shipped
/// yet) and, with `--env`, what the environment holds.
pub fn resolve_base(
    settings: &Settings,
    head_point: &Point,
    head: &Opened,
    records: &[EnvironmentRecord],
    base: Option<&str>,
    env: Option<&str>,
    default: bool,
) -> Result<(Option<Point>, Option<EnvironmentBase>), Failure> {
    if let Some(env) = env {
        let Some(record) = records.iter().find(|r| r.environment == env) else {
            if !head.project.config.environments.contains(env) {
                return Err(Failure::usage(miette::miette!(
                    code = "migrate::unknown_environment",
                    help = "list it under `environments` in migrate.yaml",
                    "the environment `{env}` is not known to this project"
                )));
            }
            settings.printer.status(&format!(
                "note: `environments/{env}.json` does not exist yet: nothing has shipped to `{env}`, planning from nothing"
            ));
            return Ok((None, None));
        };
        let Some((target_id, receipt, disagree)) = record.least_advanced() else {
            settings.printer.status(&format!("note: `environments/{env}.json` lists no target: planning from nothing"));
            return Ok((None, None));
        };
        let mut commit = settings.repo.resolve(&receipt.source.head_commit)?;
        commit.spec = format!("{env} (target {target_id})");
        let environment = EnvironmentBase {
            name: env.to_string(),
            target_id: target_id.to_string(),
            release_id: receipt.release.id.clone(),
            targets: record.targets.len(),
            targets_disagree: disagree,
            holdings: if disagree { holdings(record) } else { Vec::new() },
            release_version: receipt.release.version.clone(),
        };
        return Ok((Some(Point::Commit(commit)), Some(environment)));
    }
    if let Some(base) = base {
        return Ok((Some(settings.point(base)?), None));
    }
    if !default {
        return Ok((None, None));
    }
    let head_commit = match head_point {
        Point::Commit(commit) => commit.clone(),
        Point::Worktree => settings.repo.resolve("HEAD")?,
    };
    let Some(branch) = settings.repo.default_branch() else {
        return Err(Failure::usage(miette::miette!(
            code = "migrate::no_default_branch",
            help = "pass `--base REV` (or `--env ENV`)",
            "cannot choose a base: there is no `origin/HEAD`, `main` or `master`"
        )));
    };
    let merge_base = settings.repo.merge_base(&head_commit, &branch)?;
    Ok((Some(Point::Commit(merge_base)), None))
}

/// `--skip` and `--only`, as `plan` and `export` take them.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SelectionArgs {
    /// Leave this asset as targets have it (an identity like `query/active-hosts`); repeatable
    #[arg(long, value_name = "ID", conflicts_with = "only")]
    pub skip: Vec<String>,
    /// Ship only these assets (and every migration); repeatable
    #[arg(long, value_name = "ID")]
    pub only: Vec<String>,
}

/// Resolves `--skip` and `--only` (asset identities) to a selection. An identity that names no
/// asset at the head, the base or the target is a usage error, so that a typo does not ship what
/// it meant to hold back.
pub fn selection(
    head: &Opened,
    base: Option<&Opened>,
    held: &[HeldAsset],
    args: &SelectionArgs,
) -> Result<Selection, Failure> {
    let (skip, only) = (&args.skip, &args.only);
    let path = |id: &ItemId| format!("{}{id}.yaml", head.project.assets_dir());
    let exists = |opened: &Opened, id: &ItemId| -> Result<bool, Failure> {
        let found =
            opened.source().lookup(&path(id)).map_err(|e| crate::settings::read_failure(&opened.revision.spec, e))?;
        Ok(found.is_some())
    };
    let parse = |text: &String| -> Result<ItemId, Failure> {
        let id = ItemId::parse(text).map_err(|e| {
            Failure::usage(miette::miette!(code = "migrate::bad_identity", "`{text}` is not an asset identity: {e}"))
        })?;
        let known = held.iter().any(|h| h.id == id)
            || exists(head, &id)?
            || match base {
                Some(base) => exists(base, &id)?,
                None => false,
            };
        if !known {
            return Err(Failure::usage(miette::miette!(
                code = "migrate::unknown_asset",
                help = "name assets as `<kind>/<name>`; migrations cannot be skipped",
                "there is no asset `{text}` at the head or the base"
            )));
        }
        Ok(id)
    };
    if !only.is_empty() {
        return Ok(Selection::Only(only.iter().map(parse).collect::<Result<_, _>>()?));
    }
    if !skip.is_empty() {
        return Ok(Selection::Skip(skip.iter().map(parse).collect::<Result<_, _>>()?));
    }
    Ok(Selection::All)
}

/// The assets that the least advanced target of the environment keeps skipped.
pub fn held_assets(records: &[EnvironmentRecord], environment: Option<&EnvironmentBase>) -> Vec<HeldAsset> {
    let Some(environment) = environment else { return Vec::new() };
    records
        .iter()
        .find(|r| r.environment == environment.name)
        .and_then(|r| r.targets.get(&environment.target_id))
        .map(|receipt| receipt.skipped.clone())
        .unwrap_or_default()
}

/// The held assets with the object of the copy each keeps, looked up at the commit it came from
/// (none when that commit or file is gone: the plan then shows no text for it).
pub fn held_copies(settings: &Settings, head: &Opened, held: Vec<HeldAsset>) -> Vec<(HeldAsset, Option<ObjectId>)> {
    held.into_iter()
        .map(|asset| {
            let path = format!("{}{}.yaml", head.project.assets_dir(), asset.id);
            let object = asset
                .commit
                .as_deref()
                .and_then(|commit| settings.repo.resolve(commit).ok())
                .and_then(|commit| settings.repo.project_at(&commit, &settings.prefix).ok().flatten())
                .and_then(|source| source.lookup(&path).ok().flatten());
            (asset, object)
        })
        .collect()
}

/// What the environment before `env` (in `environments:` order) holds of the head, for
/// `policy: promotion`. A target holds the head when its commit is the head or descends from it.
pub fn promotion_facts(
    settings: &Settings,
    head: &Opened,
    head_point: &Point,
    records: &[EnvironmentRecord],
    env: Option<&str>,
) -> Result<Option<PromotionFacts>, Failure> {
    let Some(env) = env else { return Ok(None) };
    let Some(previous) = head.project.config.environments.before(env) else { return Ok(None) };
    let mut facts = PromotionFacts {
        environment: env.to_string(),
        previous: previous.to_string(),
        lacking: Vec::new(),
        no_record: true,
    };
    let Some(record) = records.iter().find(|r| r.environment == previous && !r.targets.is_empty()) else {
        return Ok(Some(facts));
    };
    facts.no_record = false;
    for (target_id, receipt) in &record.targets {
        let holds = match settings.repo.resolve(&receipt.source.head_commit) {
            Ok(target) => match head_point {
                Point::Commit(commit) if target.id == commit.id || settings.repo.is_ancestor(commit, &target)? => true,
                // Records are committed after each import, so the head is usually a later commit
                // with the same release in it.
                _ => match settings.open(&Point::Commit(target))? {
                    Some(held) => same_release(head, &held)?,
                    None => false,
                },
            },
            Err(_) => false,
        };
        if !holds {
            facts.lacking.push(target_id.clone());
        }
    }
    Ok(Some(facts))
}

/// The version shipped before: the environment's, else the version the base is tagged with
/// (`--base v1.3.0`, or the newest version tag on the base commit).
pub fn previous_version(
    settings: &Settings,
    environment: Option<&EnvironmentBase>,
    base_point: Option<&Point>,
    base_arg: Option<&str>,
) -> Option<String> {
    match (environment, base_point) {
        (Some(environment), _) => environment.release_version.clone(),
        (None, Some(Point::Commit(commit))) => {
            let named = base_arg.map(str::to_string).filter(|base| crate::core::plan::parse_version(base).is_some());
            named.or_else(|| {
                let tags = settings.repo.tags_at(commit);
                tags.into_iter()
                    .filter_map(|tag| crate::core::plan::parse_version(&tag).map(|number| (number, tag)))
                    .max()
                    .map(|(_, tag)| tag)
            })
        }
        (None, _) => None,
    }
}

/// Whether two points of the project hold the same release: the same migrations and assets, and
/// the same `migrate.yaml` settings that a release carries.
fn same_release(head: &Opened, other: &Opened) -> Result<bool, Failure> {
    let (a, b) = (&head.project, &other.project);
    if a.session != b.session || a.config.dialects != b.config.dialects || a.config.ignore != b.config.ignore {
        return Ok(false);
    }
    if !crate::settings::changed_assets(head, Some(other))?.0.is_empty() {
        return Ok(false);
    }
    let list = |opened: &Opened| {
        opened
            .source()
            .list(&opened.project.config.migrations)
            .map_err(|e| crate::settings::read_failure(&opened.revision.spec, e))
    };
    Ok(list(head)? == list(other)?)
}

/// Every target of an environment with what it holds, least advanced first.
fn holdings(record: &EnvironmentRecord) -> Vec<crate::core::plan::TargetHolding> {
    let mut all: Vec<(&String, &crate::core::record::Receipt)> = record.targets.iter().collect();
    all.sort_by(|a, b| a.1.source.head_depth.cmp(&b.1.source.head_depth).then_with(|| a.0.cmp(b.0)));
    all.into_iter()
        .map(|(id, receipt)| crate::core::plan::TargetHolding {
            target_id: id.clone(),
            release_id: receipt.release.id.clone(),
            release_version: receipt.release.version.clone(),
            commit: receipt.source.head_commit.clone(),
        })
        .collect()
}
