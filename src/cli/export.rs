//! `migrate export`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::core::bundle::{self, BaseSide, BundleRequest};
use crate::core::check::check_project;
use crate::core::finding::{Finding, sort_findings};
use crate::core::manifest::{MANIFEST_PATH, SIGNATURE_PATH, SourceRef};
use crate::core::model::Dialect;
use crate::core::plan::{PlanInput, plan, shipped_migration_findings};
use crate::core::report::render_finding;
use crate::core::snapshot::{Snapshot, read_snapshot};
use crate::exit::{Failure, Outcome};
use crate::settings::{Opened, Point, Settings, read_failure};

/// Write the release bundle
///
/// Without --base or --env, a full bundle: the whole project at head, which any target that is
/// behind converges to. With --base or --env, an incremental bundle: only the change, for a target
/// that holds exactly the base release. A head older than its base gives a downgrade bundle that
/// runs the down sections in reverse order. Nothing is written when the plan has errors (exit 1).
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The base revision: an incremental (or downgrade) bundle from there
    #[arg(long, value_name = "REV", conflicts_with = "env")]
    pub base: Option<String>,
    /// An incremental bundle for what the least advanced target of ENV holds
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    /// The head revision
    #[arg(long, value_name = "REV", default_value = "HEAD")]
    pub head: String,
    /// The bundle file to write (`.tar`, or `.tar.gz`/`.tgz` for gzip)
    #[arg(short = 'o', long = "output", value_name = "FILE", required_unless_present = "sql")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub selection: super::SelectionArgs,
    /// Export for --env although the environment before it has not taken this release
    /// (`policy: promotion`); the reason is recorded in the manifest
    #[arg(long, value_name = "REASON", requires = "env")]
    pub skip_promotion: Option<String>,
    /// A human version for the release, recorded in the manifest
    #[arg(long, value_name = "V")]
    pub release_version: Option<String>,
    /// Sign the manifest with this secret key (from `migrate keygen`)
    #[arg(long, value_name = "KEY")]
    pub sign: Option<PathBuf>,
    /// Also write the offline SQL script of one dialect to FILE
    #[arg(long, value_name = "FILE", requires = "dialect")]
    pub sql: Option<PathBuf>,
    /// The dialect of --sql
    #[arg(long, value_name = "DIALECT", value_parser = parse_dialect)]
    pub dialect: Option<Dialect>,
    /// When to show progress on stderr
    #[arg(long, value_enum, value_name = "WHEN", default_value = "auto")]
    pub progress: crate::progress::ProgressMode,
}

fn parse_dialect(text: &str) -> Result<Dialect, String> {
    Dialect::from_name(text).ok_or_else(|| format!("`{text}` is not one of sqlite, postgres, mysql"))
}

pub fn run_export(settings: &Settings, args: &ExportArgs) -> Result<Outcome, Failure> {
    if args.head == crate::settings::WORKTREE {
        return Err(Failure::usage(miette::miette!(
            code = "migrate::export_worktree",
            help = "commit the change, then export the commit",
            "a bundle is made from a commit, not from `WORKTREE`"
        )));
    }
    settings.repo.require_full_history()?;
    let head_point = settings.point(&args.head)?;
    let head = settings.open_required(&head_point)?;
    let Some(head_commit) = head.commit.clone() else {
        return Err(Failure::internal(miette::miette!("the head of an export is a commit")));
    };
    let records = head.records()?;
    let (base_point, environment) =
        super::resolve_base(settings, &head_point, &head, &records, args.base.as_deref(), args.env.as_deref(), false)?;
    let base = match &base_point {
        Some(point) => settings.open(point)?,
        None => None,
    };
    let downgrade = match (&base, &base_point) {
        (Some(_), Some(Point::Commit(base_commit))) => {
            base_commit.id != head_commit.id && settings.repo.is_ancestor(&head_commit, base_commit)?
        }
        _ => false,
    };
    if let Some(env) = environment.as_ref().filter(|e| e.targets_disagree) {
        settings.printer.status(&format!(
            "note: the targets of `{}` hold different releases: {}; this bundle is for `{}`, the least advanced, and the others refuse it",
            env.name,
            env.describe_holdings(),
            env.target_id
        ));
    }
    let held = super::held_assets(&records, environment.as_ref());
    let selection = super::selection(&head, base.as_ref(), &held, &args.selection)?;
    let held_plan: Vec<_> = held.iter().map(|h| (h.clone(), None)).collect();
    let promotion = super::promotion_facts(settings, &head, &head_point, &records, args.env.as_deref())?;
    let previous_version =
        super::previous_version(settings, environment.as_ref(), base_point.as_ref(), args.base.as_deref());
    let failure = |e| read_failure(&head.revision.spec, e);
    let mut progress = crate::progress::Progress::for_printer(args.progress, &settings.printer);
    progress.phase("reading and validating the head");

    // Validate what ships, and read the snapshots the bundle is made from.
    let mut findings: Vec<Finding>;
    let head_snapshot: Snapshot;
    let decisions: Vec<crate::core::selection::AssetDecision>;
    if base.is_none() {
        let report = check_project(&head.project, head.source(), settings.threads).map_err(failure)?;
        findings = report.findings;
        head_snapshot = report.snapshot;
        let depends_on = report.depends_on;
        let selector = crate::core::selection::Selector {
            project: &head.project,
            environment: args.env.as_deref(),
            selection: &selection,
        };
        findings.extend(crate::core::selection::full_bundle_dependency_findings(
            &head_snapshot,
            &selector,
            &depends_on,
        ));
        decisions = crate::core::selection::for_snapshot(&head_snapshot, None, &selector, &depends_on);
        findings.extend(crate::core::plan::promotion_finding(
            &head.project,
            promotion.as_ref(),
            args.skip_promotion.as_deref(),
        ));
        // Without a base, only environment records can say a migration shipped.
        if !records.is_empty() {
            findings.extend(
                shipped_migration_findings(&plan_input(settings, &head, None, &records, &[])).map_err(failure)?,
            );
        }
    } else {
        let changes = crate::settings::changes(&head, base.as_ref())?;
        let mut input = plan_input(settings, &head, base.as_ref(), &records, &changes.assets);
        input.specials = &changes.specials;
        // What the environment needs, with its hazards, as `plan --env` shows it; a downgrade
        // as `plan` shows one (the reverts, and what refuses them).
        input.environment = environment.clone();
        input.environment_name = args.env.as_deref();
        input.selection = &selection;
        input.held = &held_plan;
        input.downgrade = downgrade;
        input.release_version = args.release_version.clone();
        input.previous_version = previous_version;
        input.promotion = promotion;
        input.skip_promotion = args.skip_promotion.as_deref();
        let planned = plan(&input).map_err(failure)?;
        findings = planned.findings;
        // The bundle ships exactly what the plan lists.
        decisions = crate::core::selection::from_plan(&planned.assets);
        head_snapshot = read_snapshot(&head.project, head.source(), settings.threads).map_err(failure)?.0;
    }
    findings.retain(|f| f.is_error());
    if !findings.is_empty() {
        progress.finish();
        sort_findings(&mut findings);
        for finding in &findings {
            settings.printer.diagnostic(&render_finding(finding, settings.printer.stderr_style()));
        }
        return Err(Failure::refused(miette::miette!(
            code = "migrate::export_refused",
            help = "fix the errors above (`migrate plan` shows them too); nothing was written",
            "the release has {} error{}, so it is not exported",
            findings.len(),
            if findings.len() == 1 { "" } else { "s" }
        )));
    }
    if base.is_some() {
        progress.phase("reading the base");
    }
    let base_snapshot = match &base {
        Some(b) => Some(read_snapshot(&b.project, b.source(), settings.threads).map_err(failure)?.0),
        None => None,
    };

    let base_side = match (&base, &base_snapshot) {
        (Some(b), Some(snapshot)) => {
            let commit = b.commit.as_ref().map(|c| c.id.to_string()).unwrap_or_default();
            // With --env the target's own release id is known; otherwise it is the base's state.
            let release_id = records
                .iter()
                .find(|r| Some(&r.environment) == args.env.as_ref())
                .and_then(|r| r.least_advanced())
                .map(|(_, receipt, _)| receipt.release.id.clone())
                .unwrap_or_else(|| snapshot.state_id(&BTreeMap::new()));
            Some(BaseSide {
                snapshot,
                reference: SourceRef { reference: b.revision.spec.clone(), commit },
                release_id,
                downgrade,
            })
        }
        _ => None,
    };
    progress.phase("building the bundle");
    let request = BundleRequest {
        project: &head.project,
        head: &head_snapshot,
        head_ref: SourceRef { reference: args.head.clone(), commit: head_commit.id.to_string() },
        head_depth: settings.repo.depth(&head_commit)?,
        base: base_side,
        environment: environment.map(|e| e.name).or_else(|| args.env.clone()),
        assets: &decisions,
        release_version: args.release_version.clone(),
        skip_promotion: args.skip_promotion.clone(),
        threads: settings.threads,
    };
    let built = bundle::build(&request).map_err(Failure::refused)?;
    let manifest_bytes = built.manifest.to_bytes();
    let signature = match &args.sign {
        Some(key) => {
            let key = crate::sign::SigningKey::read(key)
                .map_err(|e| Failure::usage(miette::miette!(code = "migrate::key_unreadable", "{e}")))?;
            Some(key.sign(&manifest_bytes, &built.manifest.trusted_comment()))
        }
        None => None,
    };
    let summary = format!(
        "{} bundle of release {}, {} items",
        built.manifest.release.bundle.name(),
        built.manifest.release.id,
        built.manifest.items.len()
    );
    let sizes = built.members.iter().map(|(p, b)| (p.as_str(), b.len() as u64));
    let script_sizes = built.manifest.items.iter().filter(|i| i.item_type == crate::core::manifest::ItemType::Script);
    let sizes = sizes.chain(script_sizes.filter_map(|i| Some((i.path.as_deref()?, i.size))));
    if let Some(reason) = crate::core::verify::limits::exceeded(manifest_bytes.len() as u64, sizes) {
        return Err(Failure::refused(miette::miette!(
            code = "migrate::bundle_too_large",
            help = "ship the release in several bundles (`--base` at an intermediate revision), or move large data out of migrations and assets",
            "this release cannot be one bundle: {reason}"
        )));
    }
    // The offline scripts are rendered again as they are written: they are never held whole.
    let bundle = &built;
    let render = |dialect: Dialect| {
        move |out: &mut dyn std::fmt::Write| {
            bundle.script(dialect, out).map_err(|e| std::io::Error::other(e.to_string()))
        }
    };
    if let Some(path) = &args.output {
        let mut first = vec![(MANIFEST_PATH, manifest_bytes)];
        if let Some(signature) = signature {
            first.push((SIGNATURE_PATH, signature.into_bytes()));
        }
        let rest: Vec<(&str, &[u8])> = built.members.iter().map(|(p, b)| (p.as_str(), b.as_bytes())).collect();
        let renderers: Vec<_> = built.scripts.iter().map(|(_, dialect)| render(*dialect)).collect();
        let generated: Vec<crate::archive::Generated<'_>> = built
            .scripts
            .iter()
            .zip(&renderers)
            .map(|((path, _), render)| crate::archive::Generated {
                path,
                size: built.manifest.items.iter().find(|i| i.path.as_ref() == Some(path)).map_or(0, |i| i.size),
                render,
            })
            .collect();
        let mtime = settings.repo.commit_time(&head_commit)?;
        progress.task("archiving", rest.len() + generated.len());
        let mut written = |count: usize| progress.item(count, String::new);
        let members = crate::archive::Members { first, rest: &rest, generated: &generated };
        crate::archive::write(path, members, mtime, &mut written).map_err(|e| {
            Failure::usage(miette::miette!(code = "migrate::write_failed", "cannot write `{}`: {e}", path.display()))
        })?;
        progress.log(|| format!("wrote {}", path.display()));
        progress.finish();
        settings.printer.status(&format!("wrote `{}`: {summary}", path.display()));
    }
    if let (Some(path), Some(dialect)) = (&args.sql, args.dialect) {
        if !built.scripts.iter().any(|(_, d)| *d == dialect) {
            return Err(Failure::usage(miette::miette!(
                code = "migrate::dialect_not_targeted",
                help = "the project's `dialects` in migrate.yaml lists the dialects it targets",
                "the project does not target `{dialect}`"
            )));
        }
        crate::archive::write_text_file(path, &render(dialect)).map_err(|e| {
            Failure::usage(miette::miette!(code = "migrate::write_failed", "cannot write `{}`: {e}", path.display()))
        })?;
    }
    // The process ends here: freeing a 100,000-item snapshot piece by piece costs a tenth of the
    // run, and the operating system takes the memory back at once.
    std::mem::forget(built);
    std::mem::forget(head_snapshot);
    std::mem::forget(base_snapshot);
    Ok(Outcome::Success)
}

fn plan_input<'a>(
    settings: &Settings,
    head: &'a Opened,
    base: Option<&'a Opened>,
    records: &'a [crate::core::record::EnvironmentRecord],
    changes: &'a [crate::core::source::PathChange],
) -> PlanInput<'a> {
    PlanInput {
        base: base.map(Opened::source),
        base_project: base.map(|b| &b.project),
        base_revision: base.map(|b| b.revision.clone()),
        asset_changes: changes,
        records,
        ..PlanInput::new(&head.project, head.source(), head.revision.clone(), settings.threads)
    }
}
