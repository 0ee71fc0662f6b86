//! `migrate plan`.

use crate::core::plan::{PlanInput, plan};
use crate::core::report::{json, markdown, text};
use crate::exit::{Failure, Outcome};
use crate::settings::{Format, Opened, Settings, changes, read_failure};

/// Show what would ship from base to head
///
/// Lists assets added, modified, cosmetic (same data), renamed and removed with unified diffs;
/// migrations added, edited or removed per dialect; shipped migrations that changed (an error);
/// out-of-order versions; ignored paths; and the release kind. Exits 1 when any finding is an
/// error.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The base revision [default: the merge-base of head and the default branch: origin/HEAD,
    /// else main, else master]
    #[arg(long, value_name = "REV", conflicts_with = "env")]
    pub base: Option<String>,
    /// Plan against what the least advanced target of ENV holds (environments/ENV.json at head)
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    /// The head: a revision, or WORKTREE for the files on disk
    #[arg(long, value_name = "REV|WORKTREE", default_value = "HEAD")]
    pub head: String,
    /// A human version for the release, shown in the plan
    #[arg(long, value_name = "V")]
    pub release_version: Option<String>,
    #[command(flatten)]
    pub selection: super::SelectionArgs,
    /// Plan for --env although the environment before it has not taken this release
    /// (`policy: promotion`), giving the reason
    #[arg(long, value_name = "REASON", requires = "env")]
    pub skip_promotion: Option<String>,
}

pub fn run_plan(settings: &Settings, args: &PlanArgs) -> Result<Outcome, Failure> {
    let started = std::time::Instant::now();
    let plan = compute(settings, args)?;
    settings.printer.debug(|| format!("{} ms: planned", started.elapsed().as_millis()));
    let rendered = match settings.format {
        Format::Text => text::plan(&plan, settings.printer.style()),
        Format::Markdown => markdown::plan(&plan),
        Format::Json => json::plan(&plan),
    };
    settings.printer.product(&rendered);
    settings.printer.debug(|| format!("{} ms: rendered and written", started.elapsed().as_millis()));
    Ok(if plan.has_errors() { Outcome::Findings } else { Outcome::Success })
}

/// The plan `args` ask for (`migrate select` starts from one too).
pub fn compute(settings: &Settings, args: &PlanArgs) -> Result<crate::core::plan::Plan, Failure> {
    let opened = std::time::Instant::now();
    let head_point = settings.point(&args.head)?;
    let head = settings.open_required(&head_point)?;
    let records = head.records()?;
    let (base_point, environment) =
        super::resolve_base(settings, &head_point, &head, &records, args.base.as_deref(), args.env.as_deref(), true)?;
    let base = match &base_point {
        Some(point) => settings.open(point)?,
        None => None,
    };
    let held = super::held_copies(settings, &head, super::held_assets(&records, environment.as_ref()));
    let held_assets: Vec<_> = held.iter().map(|(h, _)| h.clone()).collect();
    let selection = super::selection(&head, base.as_ref(), &held_assets, &args.selection)?;
    let changes = changes(&head, base.as_ref())?;
    settings.printer.debug(|| {
        format!("{} ms: {} changed paths under the assets folder", opened.elapsed().as_millis(), changes.assets.len())
    });
    let started = std::time::Instant::now();
    // A head older than its base is a downgrade, as `export` makes it.
    let downgrade = match (&base_point, &head_point) {
        (Some(crate::settings::Point::Commit(base_commit)), crate::settings::Point::Commit(head_commit)) => {
            base_commit.id != head_commit.id && settings.repo.is_ancestor(head_commit, base_commit)?
        }
        _ => false,
    };
    let base_revision = match (&base, &base_point) {
        (Some(b), _) => Some(b.revision.clone()),
        (None, Some(crate::settings::Point::Commit(c))) => {
            Some(crate::core::plan::Revision { spec: c.spec.clone(), commit: Some(c.id.to_string()) })
        }
        _ => None,
    };
    let previous_version =
        super::previous_version(settings, environment.as_ref(), base_point.as_ref(), args.base.as_deref());
    let promotion = super::promotion_facts(settings, &head, &head_point, &records, args.env.as_deref())?;
    let plan = plan(&PlanInput {
        project: &head.project,
        head: head.source(),
        head_revision: head.revision.clone(),
        base: base.as_ref().map(Opened::source),
        base_project: base.as_ref().map(|b| &b.project),
        downgrade,
        base_revision,
        asset_changes: &changes.assets,
        specials: &changes.specials,
        records: &records,
        environment,
        environment_name: args.env.as_deref(),
        selection: &selection,
        held: &held,
        release_version: args.release_version.clone(),
        previous_version,
        promotion,
        skip_promotion: args.skip_promotion.as_deref(),
        threads: settings.threads,
    })
    .map_err(|e| read_failure(&head.revision.spec, e))?;
    settings.printer.debug(|| format!("{} ms: assets and migrations planned", started.elapsed().as_millis()));
    // Freeing the repositories' object caches piece by piece took as long as the planning; the
    // process ends soon after a plan, and the operating system takes the memory back at once.
    std::mem::forget(head);
    std::mem::forget(base);
    Ok(plan)
}
