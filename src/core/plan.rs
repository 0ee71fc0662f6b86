//! Base + head + environment records → `Plan`: what would ship, what is refused, the release kind.
//! `plan` (and later `export`) start here.
//!
//! The cost follows the size of the change: the shell hands over the asset paths that changed
//! (a git tree diff never opens unchanged folders), migration folders are listed by name, and
//! only changed items — plus what a changed asset's `depends_on` reaches — are read and parsed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde::Serialize;

use crate::core::catalog::{self, MigrationCatalog, MigrationFile, ParsedAsset};
use crate::core::check::{AnalysedAsset, AssetChecker, Schemas, analyse_asset};
use crate::core::diff::unified_diff;
use crate::core::finding::{Finding, Location, Severity, sort_findings};
use crate::core::hash::{self, ContentHash};
use crate::core::hazard;
use crate::core::model::{Dialect, ItemId, Version};
use crate::core::project::{Project, RuleSeverity};
use crate::core::record::{EnvironmentRecord, HeldAsset, ShippedMigration, shipped_migrations};
use crate::core::selection::{AssetAction, Pending, Selection, Selector};
use crate::core::source::{ObjectId, PathChange, Source, SourceError};

mod assets;
mod migrations;
mod release;

use assets::*;
pub use assets::{AssetChange, AssetChangeKind};
use migrations::*;
pub use migrations::{MigrationChange, MigrationChangeKind, shipped_migration_findings};
use release::*;
pub use release::{Bump, ReleaseKind, is_breaking_rule, parse_version, release_bump};

/// The format version of `plan --format json`.
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// One side of a plan, as the user named it and as it resolved.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Revision {
    /// What the user gave (`main`, `HEAD~2`, `WORKTREE`) or how it was chosen.
    pub spec: String,
    /// The commit id; absent for `WORKTREE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// The environment a plan was made against (`--env`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct EnvironmentBase {
    pub name: String,
    /// The least advanced target, whose commit is the base.
    pub target_id: String,
    pub release_id: ContentHash,
    /// Number of targets in the record.
    pub targets: usize,
    /// Whether the targets hold different releases.
    pub targets_disagree: bool,
    /// When they disagree, every target with the release it holds, least advanced first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holdings: Vec<TargetHolding>,
    /// The human version of the release the least advanced target holds, if it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_version: Option<String>,
}

/// One target of an environment and the release it holds.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TargetHolding {
    pub target_id: String,
    pub release_id: ContentHash,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_version: Option<String>,
    /// The commit its release was exported from.
    pub commit: String,
}

impl EnvironmentBase {
    /// "t-1 at abc123 (1.2.0), t-2 at def456": the targets, when they disagree.
    pub fn describe_holdings(&self) -> String {
        let list: Vec<String> = self
            .holdings
            .iter()
            .map(|h| {
                let version = h.release_version.as_ref().map(|v| format!(" ({v})")).unwrap_or_default();
                format!("{} at release {}{version}", h.target_id, h.release_id.short())
            })
            .collect();
        list.join(", ")
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ReleaseSummary {
    pub kind: ReleaseKind,
    /// The semantic-version bump the release needs: `patch` for assets only, `minor` for
    /// additive SQL, `major` for destructive or blue/green-unsafe SQL (allowed or not).
    pub bump: Bump,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The version shipped before, from the environment record or a `--base` that is a version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_version: Option<String>,
}

/// The session statements of one dialect change (`session:` in `migrate.yaml`): every import
/// session runs them first.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SessionChange {
    pub dialect: Dialect,
    pub before: Vec<String>,
    pub after: Vec<String>,
    /// Unified diff, one statement per line.
    pub diff: String,
}

/// Counts for a one-line summary.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct PlanSummary {
    pub assets_added: usize,
    pub assets_modified: usize,
    pub assets_cosmetic: usize,
    pub assets_renamed: usize,
    pub assets_removed: usize,
    pub migrations_added: usize,
    pub migrations_edited: usize,
    pub migrations_removed: usize,
    pub errors: usize,
    pub warnings: usize,
}

/// What would ship from base to head. This is also the `--format json` document.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(title = "migrate plan --format json")]
pub struct Plan {
    /// Format version of this document; `1`.
    pub format_version: u32,
    pub project: String,
    /// Absent when there is no base: everything at head is new.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<Revision>,
    pub head: Revision,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<EnvironmentBase>,
    pub release: ReleaseSummary,
    pub summary: PlanSummary,
    /// Errors first, then warnings and notes.
    pub findings: Vec<Finding>,
    pub assets: Vec<AssetChange>,
    pub migrations: Vec<MigrationChange>,
    /// Changed `session:` statements, per dialect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub session: Vec<SessionChange>,
    /// Changed paths that `ignore` leaves out: listed, never diffed.
    pub ignored: Vec<String>,
}

impl Plan {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(Finding::is_error)
    }
}

/// What `plan` needs; the shell resolves it.
pub struct PlanInput<'a> {
    pub project: &'a Project,
    pub head: &'a dyn Source,
    pub head_revision: Revision,
    /// `None` when the base has no project (or there is no base): everything is new.
    pub base: Option<&'a dyn Source>,
    /// The base's project, for what changed in `migrate.yaml` itself (its `session:`).
    pub base_project: Option<&'a Project>,
    /// The head is older than the base: a downgrade, which reverts what the base has beyond it.
    pub downgrade: bool,
    pub base_revision: Option<Revision>,
    /// Project-relative paths under the assets folder that differ between base and head.
    pub asset_changes: &'a [PathChange],
    /// Links and submodules where items are (see `check::special_findings`): errors in the plan.
    pub specials: &'a [crate::core::source::Special],
    /// Every environment record at head: what they hold has shipped.
    pub records: &'a [EnvironmentRecord],
    pub environment: Option<EnvironmentBase>,
    /// The environment the release is for, even without a record yet: its `skip_always` applies.
    pub environment_name: Option<&'a str>,
    /// `--skip`/`--only`.
    pub selection: &'a Selection,
    /// The assets the environment's least advanced target keeps skipped, each with the object of
    /// the copy it keeps when the shell found it (for the diff).
    pub held: &'a [(HeldAsset, Option<ObjectId>)],
    pub release_version: Option<String>,
    /// The version shipped before (see `ReleaseSummary::previous_version`).
    pub previous_version: Option<String>,
    /// Whether the environment before this one in promotion order holds the head (`--env`).
    pub promotion: Option<PromotionFacts>,
    /// `--skip-promotion REASON`.
    pub skip_promotion: Option<&'a str>,
    /// Threads for reading and parsing changed assets.
    pub threads: usize,
}

impl<'a> PlanInput<'a> {
    /// The plan of `head` against nothing, for everything: callers set what they know.
    pub fn new(project: &'a Project, head: &'a dyn Source, head_revision: Revision, threads: usize) -> PlanInput<'a> {
        PlanInput {
            project,
            head,
            head_revision,
            base: None,
            base_project: None,
            downgrade: false,
            base_revision: None,
            asset_changes: &[],
            specials: &[],
            records: &[],
            environment: None,
            environment_name: None,
            selection: &Selection::All,
            held: &[],
            release_version: None,
            previous_version: None,
            promotion: None,
            skip_promotion: None,
            threads,
        }
    }
}

/// What the environment before a release's environment (in `environments:` order) holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionFacts {
    pub environment: String,
    pub previous: String,
    /// The previous environment's targets that do not hold the head (all of them when it has
    /// no record, which `no_record` says).
    pub lacking: Vec<String>,
    pub no_record: bool,
}

/// `policy: promotion`: a release for an environment should have passed the one before it.
pub fn promotion_finding(
    project: &Project,
    facts: Option<&PromotionFacts>,
    skip_promotion: Option<&str>,
) -> Option<Finding> {
    use crate::core::project::Promotion;
    let facts = facts?;
    let policy = project.config.policy.promotion;
    if policy == Promotion::Off || (facts.lacking.is_empty() && !facts.no_record) {
        return None;
    }
    let what = if facts.no_record {
        format!("`{}` has no record yet", facts.previous)
    } else {
        match facts.lacking.as_slice() {
            [one] => format!("target {one} of `{}` does not hold it", facts.previous),
            many => format!("targets {} of `{}` do not hold it", many.join(", "), facts.previous),
        }
    };
    let message = format!(
        "this release for `{}` has not passed `{}`, the environment before it: {what}",
        facts.environment, facts.previous
    );
    if let Some(reason) = skip_promotion {
        return Some(Finding::new(Severity::Info, "promotion_skipped", format!("{message}; skipped: {reason}")));
    }
    let finding = if policy == Promotion::Enforce {
        Finding::error("promotion_required", message)
    } else {
        Finding::warning("promotion_required", message)
    };
    Some(finding.help(format!(
        "import it into `{}` first and record the receipt (`migrate env record`), or pass `--skip-promotion REASON`",
        facts.previous
    )))
}

/// Computes the plan.
pub fn plan(input: &PlanInput<'_>) -> Result<Plan, SourceError> {
    let project = input.project;
    let mut findings = Vec::new();
    let mut ignored = Vec::new();

    // Migrations and assets are independent: the migrations are planned on a thread of their own.
    let (assets, migrations) = std::thread::scope(|scope| {
        let migrations = scope.spawn(|| {
            let (mut findings, mut ignored) = (Vec::new(), Vec::new());
            plan_migrations(input, true, &mut findings, &mut ignored).map(|m| (m, findings, ignored))
        });
        let assets = AssetChecker::new(project, input.head).and_then(|mut checker| {
            let assets = plan_assets(input, &mut checker, &mut ignored)?;
            findings.append(&mut checker.findings);
            Ok(assets)
        });
        let migrations = migrations.join().unwrap_or_else(|_| Err("planning the migrations panicked".into()));
        (assets, migrations)
    });
    let assets = assets?;
    let (migrations, mut migration_findings, mut migration_ignored) = migrations?;
    findings.append(&mut migration_findings);
    ignored.append(&mut migration_ignored);
    let mut findings = merge_across_dialects(findings);
    findings.extend(crate::core::check::findings_for_specials(project, input.specials));
    let session = session_changes(project, input.base_project);

    sort_findings(&mut findings);
    ignored.sort();
    ignored.dedup();
    let mut summary = PlanSummary::default();
    for change in &assets {
        *match change.change {
            AssetChangeKind::Added => &mut summary.assets_added,
            AssetChangeKind::Modified => &mut summary.assets_modified,
            AssetChangeKind::Cosmetic => &mut summary.assets_cosmetic,
            AssetChangeKind::Renamed => &mut summary.assets_renamed,
            AssetChangeKind::Removed => &mut summary.assets_removed,
        } += 1;
    }
    for change in &migrations {
        *match change.change {
            MigrationChangeKind::Added => &mut summary.migrations_added,
            MigrationChangeKind::Edited => &mut summary.migrations_edited,
            MigrationChangeKind::Removed | MigrationChangeKind::Reverted => &mut summary.migrations_removed,
        } += 1;
    }
    let breaking = findings.iter().any(|f| f.code.strip_prefix("migrate::").is_some_and(is_breaking_rule));
    let sql_changes = !migrations.is_empty() || !session.is_empty();
    let ships_assets = assets.iter().any(|a| a.action.ships());
    let bump = release_bump(sql_changes, ships_assets, breaking);
    findings.extend(version_finding(input, bump));
    findings.extend(promotion_finding(project, input.promotion.as_ref(), input.skip_promotion));
    sort_findings(&mut findings);
    summary.errors = findings.iter().filter(|f| f.severity == Severity::Error).count();
    summary.warnings = findings.iter().filter(|f| f.severity == Severity::Warning).count();
    let kind = if sql_changes {
        ReleaseKind::Migration
    } else if ships_assets {
        ReleaseKind::Deployment
    } else {
        ReleaseKind::None
    };
    Ok(Plan {
        format_version: PLAN_FORMAT_VERSION,
        project: project.config.project.clone(),
        base: input.base_revision.clone(),
        head: input.head_revision.clone(),
        environment: input.environment.clone(),
        release: ReleaseSummary {
            kind,
            bump,
            version: input.release_version.clone(),
            previous_version: input.previous_version.clone(),
        },
        summary,
        findings,
        assets,
        migrations,
        session,
        ignored,
    })
}

/// What changes in the session statements, per dialect the head targets.
fn session_changes(head: &Project, base: Option<&Project>) -> Vec<SessionChange> {
    let none = Vec::new();
    head.config
        .dialects
        .iter()
        .filter_map(|dialect| {
            let after = head.session.get(dialect).unwrap_or(&none);
            let before = base.and_then(|b| b.session.get(dialect)).unwrap_or(&none);
            (after != before).then(|| {
                let lines = |statements: &[String]| statements.iter().map(|s| format!("{s};\n")).collect::<String>();
                SessionChange {
                    dialect: *dialect,
                    before: before.clone(),
                    after: after.clone(),
                    diff: unified_diff(
                        &head.repo_path(&format!("migrate.yaml (session: {dialect})")),
                        Some(&lines(before)),
                        &head.repo_path(&format!("migrate.yaml (session: {dialect})")),
                        Some(&lines(after)),
                    ),
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
