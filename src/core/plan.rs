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

/// What a release is, by what it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseKind {
    /// Nothing changes.
    None,
    /// Assets only; no SQL runs.
    Deployment,
    /// Migrations change (with or without assets).
    Migration,
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

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Bump {
    #[default]
    None,
    Patch,
    Minor,
    Major,
}

/// The bump a release needs: `major` for destructive or blue/green-unsafe SQL (allowed or not),
/// `minor` for other SQL (migrations or session statements), `patch` for assets only. `plan`
/// and `export` both decide it here.
pub fn release_bump(sql_changes: bool, ships_assets: bool, breaking: bool) -> Bump {
    match (sql_changes, ships_assets) {
        (true, _) if breaking => Bump::Major,
        (true, _) => Bump::Minor,
        (false, true) => Bump::Patch,
        (false, false) => Bump::None,
    }
}

/// Whether a hazard rule id makes SQL a breaking change (a major bump).
pub fn is_breaking_rule(rule: &str) -> bool {
    rule.starts_with("destructive/") || rule.starts_with("blue-green/")
}

/// `1.2.3` or `v1.2.3` (a pre-release or build suffix is ignored) as numbers.
pub fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let core = text.strip_prefix('v').unwrap_or(text);
    let core = core.split(['-', '+']).next().unwrap_or(core);
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(Some(a)), Some(Some(b)), Some(Some(c)), None) => Some((a, b, c)),
        _ => None,
    }
}

/// The bump from `previous` to `next`, or `None` when `next` is not newer.
pub fn bump_between(previous: (u64, u64, u64), next: (u64, u64, u64)) -> Option<Bump> {
    if next <= previous {
        None
    } else if next.0 > previous.0 {
        Some(Bump::Major)
    } else if next.1 > previous.1 {
        Some(Bump::Minor)
    } else {
        Some(Bump::Patch)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AssetChangeKind {
    Added,
    Modified,
    /// Changed text, same data (formatting, comments, key order); shipped, never a version bump.
    Cosmetic,
    /// New identity, same content; ships as a delete plus an add.
    Renamed,
    Removed,
}

/// One asset that changes.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct AssetChange {
    pub id: ItemId,
    pub change: AssetChangeKind,
    /// The old identity of a renamed asset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<ItemId>,
    /// Repository-relative path (at head, or at base for a removal).
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256_before: Option<ContentHash>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<ContentHash>,
    /// Unified diff of the normalised text; past 1 MiB it is cut at a line end and ends with
    /// `\ diff cut at 1048576 bytes: L more lines, +A -R in all`.
    pub diff: String,
    /// What the release does with it: `ship` (the default, left out), `skip` (`--skip`, or not
    /// named by `--only`: the target keeps the copy it holds, `sha256_before`), `skip_always`
    /// (the environment's `skip_always`).
    #[serde(default, skip_serializing_if = "is_ship")]
    pub action: AssetAction,
    /// An earlier release to this environment skipped it: what changes is counted from the copy
    /// the target kept.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skipped_earlier: bool,
    /// Removed because `ignore` in `migrate.yaml` now names it: deleted where an import put it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignored: bool,
    /// The assets it depends on (`depends_on`), at head.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<ItemId>,
}

fn is_ship(action: &AssetAction) -> bool {
    *action == AssetAction::Ship
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MigrationChangeKind {
    Added,
    /// The effective text changed; an error for a shipped migration.
    Edited,
    /// Gone from head; an error for a shipped migration.
    Removed,
    /// Undone by its down section: the head is older than the base (a downgrade).
    Reverted,
}

/// One migration that changes for one dialect.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct MigrationChange {
    pub dialect: Dialect,
    pub version: Version,
    /// File name without dialect suffix and `.sql`.
    pub name: String,
    pub change: MigrationChangeKind,
    /// Repository-relative path of the effective file.
    pub path: String,
    /// Whether the migration shipped (at the base or in an environment record).
    pub shipped: bool,
    pub no_transaction: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256_before: Option<ContentHash>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<ContentHash>,
    /// Unified diff of the normalised text, cut past 1 MiB as an asset's is.
    pub diff: String,
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

/// The normalised text of one side of a change, and its data when it parses.
struct Side {
    text: Arc<str>,
    hash: ContentHash,
    parsed: Option<ParsedAsset>,
    /// For a text over `LARGE_ASSET`: its semantic hash and content key, its data let go.
    digests: Option<(ContentHash, ContentHash)>,
}

/// The semantic hash and the content key of an asset's data: one pass when the data has no
/// top-level `kind` or `name` (the key is then the semantic hash).
fn digests(parsed: &ParsedAsset) -> (ContentHash, ContentHash) {
    let semantic = parsed.semantic_hash();
    let named = parsed.data.get("kind").is_some() || parsed.data.get("name").is_some();
    let key = if named { parsed.content_key() } else { semantic.clone() };
    (semantic, key)
}

/// An asset text this large is compared by semantic hash, and its data let go as soon as that
/// is known: the data of a 200 MB asset takes 270 MB, and the two sides of a change together
/// would take more than the 4x its size that a plan may use.
const LARGE_ASSET: usize = 16 << 20;

impl Side {
    fn base(id: &ItemId, bytes: &[u8]) -> Option<Side> {
        let text: Arc<str> = Arc::from(hash::normalise(bytes).ok()?.as_ref());
        let hash = ContentHash::of(text.as_bytes());
        let parsed = catalog::parse_asset(id, "", &text).ok();
        let mut side = Side { text, hash, parsed, digests: None };
        side.let_go_if_large();
        Some(side)
    }

    fn head(analysed: &AnalysedAsset) -> Side {
        let text = Arc::clone(&analysed.text);
        let hash = ContentHash::of(text.as_bytes());
        Side { text, hash, parsed: None, digests: None }
    }

    fn let_go_if_large(&mut self) {
        if self.text.len() > LARGE_ASSET {
            self.let_go();
        }
    }

    fn let_go(&mut self) {
        if let Some(parsed) = self.parsed.take()
            && self.digests.is_none()
        {
            self.digests = Some(digests(&parsed));
        }
    }

    /// The head side of a large asset keeps the digests of its data, and the data itself is
    /// let go (its `depends_on` stays with the analysis).
    fn head_digests(&mut self, analysed: &mut AnalysedAsset) {
        if self.text.len() > LARGE_ASSET {
            self.let_go_of(analysed);
        }
    }

    fn let_go_of(&mut self, analysed: &mut AnalysedAsset) {
        if let Some(parsed) = analysed.parsed.as_mut() {
            self.digests = Some(digests(parsed));
            parsed.data = serde_json::Value::Null;
        }
    }

    /// Semantic hash without `kind`/`name` (else the content hash): equal for a moved asset.
    /// Computed only for additions and removals, where renames are looked for.
    fn content_key(&self) -> ContentHash {
        match (&self.digests, &self.parsed) {
            (Some((_, key)), _) => key.clone(),
            (None, Some(parsed)) => parsed.content_key(),
            (None, None) => self.hash.clone(),
        }
    }

    /// Whether the head (`after`, whose data is `data`) holds this side's data in other words.
    fn same_data(&self, after: &Side, data: &ParsedAsset) -> bool {
        let semantic = |side: &Side, parsed: Option<&ParsedAsset>| match (&side.digests, parsed) {
            (Some((semantic, _)), _) => Some(semantic.clone()),
            (None, Some(parsed)) => Some(parsed.semantic_hash()),
            (None, None) => None,
        };
        match (&self.parsed, &self.digests, &after.digests) {
            // Compared as canonical JSON compares, without hashing.
            (Some(parsed), None, None) => hash::semantically_equal(&parsed.data, &data.data),
            _ => semantic(self, self.parsed.as_ref()).is_some_and(|s| Some(s) == semantic(after, Some(data))),
        }
    }
}

/// One changed asset path, read and analysed.
struct PreparedChange {
    id: ItemId,
    path: String,
    before: Option<Side>,
    after: Option<(Side, AnalysedAsset)>,
    /// Whether the base had the path (its text may still be unreadable).
    had_before: bool,
    /// The diff of a modification, made here on the reading thread.
    diff: Option<String>,
}

/// Reads and analyses one changed path: the part of planning that is independent per asset.
fn prepare(
    input: &PlanInput<'_>,
    schemas: &Schemas,
    id: ItemId,
    change: &PathChange,
) -> Result<PreparedChange, SourceError> {
    let before = match (change.old, input.base) {
        (Some(old), Some(base)) => Side::base(&id, &base.read(&change.path, &old)?),
        _ => None,
    };
    let after = match change.new {
        Some(new) => {
            let mut analysed =
                analyse_asset(input.project, schemas, &id, &change.path, input.head.read(&change.path, &new)?);
            let mut side = Side::head(&analysed);
            side.head_digests(&mut analysed);
            Some((side, analysed))
        }
        None => None,
    };
    let diff = match (&before, &after) {
        (Some(b), Some((a, _))) if b.hash != a.hash => {
            let path = input.project.repo_path(&change.path);
            Some(unified_diff(&path, Some(&b.text), &path, Some(&a.text)))
        }
        _ => None,
    };
    Ok(PreparedChange { id, path: change.path.clone(), before, after, had_before: change.old.is_some(), diff })
}

/// The asset paths whose content a target may see change: the diff from base to head, corrected
/// for `ignore` (an asset `ignore` newly names is removed, one it no longer names is added) and
/// for the copies an environment's target kept when a release skipped them.
fn candidate_changes<'a>(
    input: &PlanInput<'a>,
    ignored: &mut Vec<String>,
) -> Result<(Vec<PathChange>, BTreeMap<String, &'a HeldAsset>), SourceError> {
    let project = input.project;
    let base_ignores = |path: &str| input.base_project.unwrap_or(project).is_ignored(path);
    let mut paths: BTreeMap<String, PathChange> =
        input.asset_changes.iter().map(|c| (c.path.clone(), c.clone())).collect();
    if let (Some(base), Some(base_project)) = (input.base, input.base_project)
        && base_project.config.ignore != project.config.ignore
    {
        let folder = &project.config.assets;
        let old: BTreeMap<String, ObjectId> = base.list(folder)?.into_iter().map(|e| (e.path, e.id)).collect();
        let new: BTreeMap<String, ObjectId> = input.head.list(folder)?.into_iter().map(|e| (e.path, e.id)).collect();
        for path in old.keys().chain(new.keys()) {
            if base_ignores(path) != project.is_ignored(path) && !paths.contains_key(path) {
                let change =
                    PathChange { path: path.clone(), old: old.get(path).copied(), new: new.get(path).copied() };
                paths.insert(path.clone(), change);
            }
        }
    }
    let mut held = BTreeMap::new();
    for (asset, object) in input.held {
        let path = format!("{}{}.yaml", project.assets_dir(), asset.id);
        let new = input.head.lookup(&path)?;
        let old = if asset.sha256.is_some() { *object } else { None };
        paths.insert(path.clone(), PathChange { path: path.clone(), old, new });
        held.insert(path, asset);
    }
    let mut changes = Vec::with_capacity(paths.len());
    for (path, mut change) in paths {
        if base_ignores(&path) {
            change.old = None;
        }
        if project.is_ignored(&path) {
            change.new = None;
            if change.old.is_none() {
                ignored.push(project.repo_path(&path));
                continue;
            }
        }
        if change.old.is_some() || change.new.is_some() || held.contains_key(&path) {
            changes.push(change);
        }
    }
    Ok((changes, held))
}

fn plan_assets(
    input: &PlanInput<'_>,
    checker: &mut AssetChecker<'_>,
    ignored: &mut Vec<String>,
) -> Result<Vec<AssetChange>, SourceError> {
    let project = input.project;
    let (candidates, held) = candidate_changes(input, ignored)?;
    let mut work = Vec::new();
    for change in &candidates {
        match catalog::asset_identity(project, &change.path) {
            None => {}
            Some(Ok(id)) => work.push((id, change)),
            Some(Err(finding)) if change.new.is_some() => checker.findings.push(finding),
            Some(Err(_)) => {} // a bad name that is going away
        }
    }
    let schemas = checker.schemas();
    let prepared = crate::core::parallel::map(work, input.threads, |(id, change)| prepare(input, schemas, id, change))?;
    let selector = Selector {
        project,
        environment: input.environment_name.or(input.environment.as_ref().map(|e| e.name.as_str())),
        selection: input.selection,
    };

    let mut changes = Vec::new();
    let mut roots = Vec::new();
    let mut added: Vec<(ItemId, String, Side)> = Vec::new();
    let mut removed: Vec<(ItemId, String, Option<Side>, Option<ContentHash>)> = Vec::new();
    let mut depends_on: BTreeMap<ItemId, Vec<ItemId>> = BTreeMap::new();
    for PreparedChange { id, path, mut before, after, mut had_before, diff } in prepared {
        // A copy the target kept: what changes is counted from it, whatever the base has.
        let kept = held.get(&path);
        let mut before_sha = before.as_ref().map(|b| b.hash.clone());
        if let Some(kept) = kept {
            had_before = kept.sha256.is_some();
            before_sha = kept.sha256.clone();
            if before.as_ref().map(|b| &b.hash) != kept.sha256.as_ref() {
                before = None; // the shell did not find the kept copy's text
            }
        }
        let ignored_now = input.base_project.is_some_and(|b| !b.is_ignored(&path)) && project.is_ignored(&path);
        match (had_before, after) {
            (true, Some((after, analysed))) => {
                if before_sha.as_ref() == Some(&after.hash) {
                    continue; // BOM or line endings only, or the target kept this very copy
                }
                if let Some(parsed) = &analysed.parsed {
                    depends_on.insert(id.clone(), parsed.depends_on.clone());
                }
                // Same data, other text.
                let cosmetic = match (&before, &analysed.parsed) {
                    (Some(before), Some(data)) => before.same_data(&after, data),
                    _ => false,
                };
                checker.record(&id, analysed);
                roots.push(id.clone());
                let kind = if cosmetic { AssetChangeKind::Cosmetic } else { AssetChangeKind::Modified };
                let mut c = match (diff, &before) {
                    // Made on the reading thread, from the same two texts.
                    (Some(diff), Some(_)) => {
                        AssetChange { diff, ..asset_change(project, &id, kind, &path, None, None, None) }
                    }
                    _ => asset_change(
                        project,
                        &id,
                        kind,
                        &path,
                        before.as_ref().map(|b| &*b.text),
                        Some(&after.text),
                        None,
                    ),
                };
                c.sha256 = Some(after.hash.clone());
                c.sha256_before = before_sha;
                c.skipped_earlier = kept.is_some();
                changes.push(c);
            }
            (false, Some((after, mut analysed))) => {
                if let Some(parsed) = &analysed.parsed {
                    depends_on.insert(id.clone(), parsed.depends_on.clone());
                }
                let mut after = after;
                after.parsed = analysed.parsed.take();
                after.let_go_if_large();
                checker.record(&id, analysed);
                roots.push(id.clone());
                if kept.is_some() || !selector.action(&id).ships() {
                    let mut c =
                        asset_change(project, &id, AssetChangeKind::Added, &path, None, Some(&after.text), None);
                    c.skipped_earlier = kept.is_some();
                    changes.push(c);
                } else {
                    added.push((id, path, after));
                }
            }
            (true, None) => {
                if kept.is_some() || ignored_now || !selector.action(&id).ships() {
                    let mut c = asset_change(
                        project,
                        &id,
                        AssetChangeKind::Removed,
                        &path,
                        before.as_ref().map(|s| &*s.text),
                        None,
                        None,
                    );
                    c.sha256_before = before_sha;
                    c.skipped_earlier = kept.is_some();
                    c.ignored = ignored_now;
                    changes.push(c);
                } else {
                    removed.push((id, path, before, before_sha));
                }
            }
            (false, None) => {}
        }
    }

    // Renames: an added asset whose content (without `kind`/`name`) equals a removed one's, both
    // shipped (a skipped side ships, or stays, on its own).
    let mut removed_by_key: HashMap<ContentHash, Vec<usize>> = HashMap::new();
    for (index, (_, _, side, _)) in removed.iter().enumerate() {
        if let Some(side) = side {
            removed_by_key.entry(side.content_key()).or_default().push(index);
        }
    }
    let mut renamed_away: BTreeSet<usize> = BTreeSet::new();
    for (id, path, after) in &added {
        let from = removed_by_key.get_mut(&after.content_key()).and_then(|c| (!c.is_empty()).then(|| c.remove(0)));
        match from {
            Some(index) => {
                renamed_away.insert(index);
                let (old_id, _, before, before_sha) = &removed[index];
                let before_text = before.as_ref().map(|s| &*s.text);
                let mut c = asset_change(
                    project,
                    id,
                    AssetChangeKind::Renamed,
                    path,
                    before_text,
                    Some(&after.text),
                    Some(old_id),
                );
                c.sha256_before = before_sha.clone();
                changes.push(c);
            }
            None => {
                changes.push(asset_change(project, id, AssetChangeKind::Added, path, None, Some(&after.text), None))
            }
        }
    }
    for (index, (id, path, before, before_sha)) in removed.iter().enumerate() {
        if renamed_away.contains(&index) {
            continue;
        }
        let mut c =
            asset_change(project, id, AssetChangeKind::Removed, path, before.as_ref().map(|s| &*s.text), None, None);
        c.sha256_before = before_sha.clone();
        changes.push(c);
    }
    checker.check_dependencies(&roots)?;
    for change in &mut changes {
        change.action = selector.action(&change.id);
        change.depends_on = depends_on.remove(&change.id).unwrap_or_default();
    }
    changes.sort_by(|a, b| a.id.cmp(&b.id));
    checker.findings.extend(dependency_findings_of(input, &changes)?);
    Ok(changes)
}

/// What shipping `changes` does to the dependencies on the target (`selection::dependency_findings`).
fn dependency_findings_of(input: &PlanInput<'_>, changes: &[AssetChange]) -> Result<Vec<Finding>, SourceError> {
    if changes.iter().all(|c| c.action.ships()) {
        // Everything that changes ships: the head's own check covers its dependencies.
        return Ok(Vec::new());
    }
    let mut pending = Vec::with_capacity(changes.len() + 1);
    for change in changes {
        let removal = change.change == AssetChangeKind::Removed;
        pending.push(Pending {
            id: &change.id,
            action: change.action,
            at_head: !removal,
            held: change.sha256_before.is_some(),
            depends_on: &change.depends_on,
            path: &change.path,
        });
    }
    // A renamed asset's old identity goes away with it.
    let gone: Vec<ItemId> = changes.iter().filter_map(|c| c.renamed_from.clone()).collect();
    for (change, old) in changes.iter().filter(|c| c.renamed_from.is_some()).zip(&gone) {
        pending.push(Pending {
            id: old,
            action: change.action,
            at_head: false,
            held: true,
            depends_on: &[],
            path: &change.path,
        });
    }
    let project = input.project;
    let mut looked_up: BTreeMap<ItemId, bool> = BTreeMap::new();
    for change in changes {
        for dependency in &change.depends_on {
            if !looked_up.contains_key(dependency) {
                let path = format!("{}{dependency}.yaml", project.assets_dir());
                looked_up.insert(dependency.clone(), input.head.lookup(&path)?.is_some());
            }
        }
    }
    Ok(crate::core::selection::dependency_findings(&pending, &|id| looked_up.get(id).copied().unwrap_or(false)))
}

fn asset_change(
    project: &Project,
    id: &ItemId,
    change: AssetChangeKind,
    path: &str,
    before: Option<&str>,
    after: Option<&str>,
    renamed_from: Option<&ItemId>,
) -> AssetChange {
    let repo_path = project.repo_path(path);
    let old_path = renamed_from.map(|from| project.repo_path(&format!("{}{from}.yaml", project.assets_dir())));
    AssetChange {
        id: id.clone(),
        change,
        renamed_from: renamed_from.cloned(),
        path: repo_path.clone(),
        sha256_before: None,
        sha256: after.map(|t| ContentHash::of(t.as_bytes())),
        diff: unified_diff(old_path.as_deref().unwrap_or(&repo_path), before, &repo_path, after),
        action: AssetAction::Ship,
        skipped_earlier: false,
        ignored: false,
        depends_on: Vec::new(),
    }
}

/// The normalised text of migration files, read once even when several dialects share a file.
struct MigrationTexts<'a> {
    source: &'a dyn Source,
    project: &'a Project,
    cache: HashMap<String, Option<(Arc<str>, ContentHash, bool)>>,
    findings: Vec<Finding>,
}

impl MigrationTexts<'_> {
    /// Returns (text, hash, no-transaction) or `None` for a file that is not text (a finding).
    fn get(
        &mut self,
        file: &MigrationFile,
        report: bool,
    ) -> Result<Option<(Arc<str>, ContentHash, bool)>, SourceError> {
        if let Some(cached) = self.cache.get(&file.path) {
            return Ok(cached.clone());
        }
        let bytes = self.source.read(&file.path, &file.object)?;
        let repo_path = self.project.repo_path(&file.path);
        let text = catalog::normalised_text(&repo_path, &bytes);
        drop(bytes); // the text is the copy that stays
        let value = match text {
            Ok(text) => {
                let (parsed, findings) = catalog::parse_migration_text(&repo_path, &text);
                if report {
                    self.findings.extend(findings);
                }
                let hash = ContentHash::of(text.as_bytes());
                Some((text, hash, parsed.no_transaction))
            }
            Err(finding) => {
                if report {
                    self.findings.push(finding);
                }
                None
            }
        };
        self.cache.insert(file.path.clone(), value.clone());
        Ok(value)
    }
}

/// Returns the findings of comparing migrations with the base and the records (shipped edits and
/// deletions, out-of-order versions), without those about the head alone: what `check --base`
/// adds to a check of the head.
pub fn shipped_migration_findings(input: &PlanInput<'_>) -> Result<Vec<Finding>, SourceError> {
    let mut findings = Vec::new();
    plan_migrations(input, false, &mut findings, &mut Vec::new())?;
    Ok(merge_across_dialects(findings))
}

fn plan_migrations(
    input: &PlanInput<'_>,
    report_head: bool,
    findings: &mut Vec<Finding>,
    ignored: &mut Vec<String>,
) -> Result<Vec<MigrationChange>, SourceError> {
    let project = input.project;
    let folder = &project.config.migrations;
    let head = MigrationCatalog::from_entries(project, &input.head.list(folder)?);
    let base = match input.base {
        Some(base) => MigrationCatalog::from_entries(project, &base.list(folder)?),
        None => MigrationCatalog::default(),
    };
    if report_head {
        findings.extend(head.findings.iter().cloned());
    }
    ignored.extend(head.ignored.iter().filter(|p| !base.ignored.contains(p)).map(|p| project.repo_path(p)));
    ignored.extend(base.ignored.iter().filter(|p| !head.ignored.contains(p)).map(|p| project.repo_path(p)));

    let shipped = shipped_migrations(input.records);
    // Planning for an environment, what it needs is what its least advanced target lacks,
    // whatever other environments hold; immutability still counts every record.
    let target_holds: Option<BTreeSet<(Dialect, &Version, &ContentHash)>> = input.environment.as_ref().map(|env| {
        input
            .records
            .iter()
            .filter(|r| r.environment == env.name)
            .filter_map(|r| r.targets.get(&env.target_id))
            .flat_map(|receipt| {
                receipt.migrations.iter().flat_map(|(d, ms)| ms.iter().map(move |m| (*d, &m.version, &m.sha256)))
            })
            .collect()
    });
    let mut head_texts = MigrationTexts { source: input.head, project, cache: HashMap::new(), findings: Vec::new() };
    let mut base_texts =
        input.base.map(|source| MigrationTexts { source, project, cache: HashMap::new(), findings: Vec::new() });
    let mut changes = Vec::new();
    for &dialect in &project.config.dialects {
        let head_eff = head.effective(dialect);
        // A dialect the base did not target has no history there: all of it is new.
        let base_eff = match input.base_project {
            Some(base_project) if !base_project.config.dialects.contains(&dialect) => BTreeMap::new(),
            _ => base.effective(dialect),
        };
        let newest_shipped = match &target_holds {
            Some(holds) => {
                base_eff.keys().chain(holds.iter().filter(|(d, ..)| *d == dialect).map(|(_, v, _)| *v)).max().cloned()
            }
            None => base_eff.keys().chain(shipped.keys().filter(|(d, _)| *d == dialect).map(|(_, v)| v)).max().cloned(),
        };
        // A migration a record holds is shipped: gone from the head, it is a deletion too.
        let recorded_versions = shipped.keys().filter(|(d, _)| *d == dialect).map(|(_, v)| v);
        let versions: BTreeSet<&Version> = head_eff.keys().chain(base_eff.keys()).chain(recorded_versions).collect();
        // Tables the release creates, in version order: their first indexes and columns lock nothing.
        let mut created_tables = BTreeSet::new();
        for version in versions {
            let recorded = shipped.get(&(dialect, version.clone()));
            match (base_eff.get(version), head_eff.get(version)) {
                (Some(b), Some(h)) if b.object == h.object => {}
                (Some(b), Some(h)) => {
                    let Some((after, after_hash, no_tx)) = head_texts.get(h, true)? else {
                        continue;
                    };
                    let before = match base_texts.as_mut() {
                        Some(texts) => texts.get(b, false)?,
                        None => None,
                    };
                    if before.as_ref().is_some_and(|(_, hash, _)| *hash == after_hash) {
                        continue;
                    }
                    let before_text = before.as_ref().map(|(t, _, _)| t.clone());
                    let change = migration_change(
                        project,
                        dialect,
                        h,
                        MigrationChangeKind::Edited,
                        Some(b),
                        before_text.as_deref(),
                        Some(&after),
                        no_tx,
                    );
                    let partial = recorded.is_some_and(|r| r.iter().all(|s| s.partial));
                    findings.push(edited_finding(
                        &change,
                        h,
                        Some(b),
                        before_text.as_deref(),
                        &after,
                        recorded,
                        partial,
                    ));
                    changes.push(MigrationChange {
                        sha256_before: before.map(|(_, h, _)| h),
                        sha256: Some(after_hash),
                        ..change
                    });
                }
                (None, Some(h)) if input.downgrade => {
                    // As `export` refuses it: a downgrade goes back to an ancestor of the base.
                    let path = project.repo_path(&h.path);
                    findings.push(
                        Finding::error(
                            "diverged",
                            format!("`{path}` ({dialect}) exists at the head but not at the base: the history has diverged, not gone back"),
                        )
                        .at(Location::file(&path))
                        .item(format!("migration {version}"))
                        .help("a downgrade bundle goes from a base to one of its ancestors"),
                    );
                }
                (None, Some(h)) => {
                    let Some((after, after_hash, no_tx)) = head_texts.get(h, true)? else {
                        continue;
                    };
                    let held =
                        target_holds.as_ref().is_some_and(|holds| holds.contains(&(dialect, version, &after_hash)));
                    if let Some(recorded) = recorded {
                        // Not at the base, but a target has it: it shipped from elsewhere. For
                        // an environment, it still ships unless that environment's target has it.
                        let same = recorded.iter().all(|s| s.sha256 == after_hash);
                        if same && (target_holds.is_none() || held) {
                            continue;
                        }
                    }
                    if let Some(recorded) = recorded.filter(|r| r.iter().any(|s| s.sha256 != after_hash)) {
                        let change = migration_change(
                            project,
                            dialect,
                            h,
                            MigrationChangeKind::Edited,
                            None,
                            None,
                            Some(&after),
                            no_tx,
                        );
                        let partial = recorded.iter().all(|s| s.partial);
                        findings.push(edited_finding(&change, h, None, None, &after, Some(recorded), partial));
                        changes.push(MigrationChange { sha256: Some(after_hash), ..change });
                        continue;
                    }
                    if let Some(newest) = &newest_shipped
                        && version < newest
                    {
                        let path = project.repo_path(&h.path);
                        let severity = if project.config.allow_out_of_order { Severity::Info } else { Severity::Error };
                        let help = if project.config.allow_out_of_order {
                            "`allow_out_of_order` is on: targets will run it after newer migrations"
                        } else {
                            "give it a version newer than every shipped migration, or set `allow_out_of_order: true`"
                        };
                        findings.push(
                            Finding::new(
                                severity,
                                "out_of_order",
                                format!("`{path}` ({dialect}) is older than the shipped version {newest}"),
                            )
                            .at(Location::file(&path))
                            .item(format!("migration {version}"))
                            .help(help),
                        );
                    }
                    if report_head {
                        let path = project.repo_path(&h.path);
                        let item = format!("migration {version}");
                        findings.extend(hazard_findings(
                            project,
                            dialect,
                            &path,
                            &item,
                            &after,
                            false,
                            &mut created_tables,
                        ));
                    }
                    let change = migration_change(
                        project,
                        dialect,
                        h,
                        MigrationChangeKind::Added,
                        None,
                        None,
                        Some(&after),
                        no_tx,
                    );
                    changes.push(MigrationChange { sha256: Some(after_hash), ..change });
                }
                (Some(b), None) => {
                    let before = match base_texts.as_mut() {
                        Some(texts) => texts.get(b, false)?,
                        None => None,
                    };
                    let before_text = before.as_ref().map(|(t, _, _)| t.clone());
                    let no_tx = before.as_ref().is_some_and(|(_, _, n)| *n);
                    let kind =
                        if input.downgrade { MigrationChangeKind::Reverted } else { MigrationChangeKind::Removed };
                    let change =
                        migration_change(project, dialect, b, kind, Some(b), before_text.as_deref(), None, no_tx);
                    let path = project.repo_path(&b.path);
                    if input.downgrade {
                        // What a downgrade bundle runs: the down section, with its hazards.
                        let has_down = before_text
                            .as_ref()
                            .is_some_and(|text| catalog::parse_migration_text(&path, text).0.down().is_some());
                        match before_text.as_ref() {
                            Some(text) if has_down && report_head => {
                                let item = format!("migration {version}");
                                findings.extend(hazard_findings(project, dialect, &path, &item, text, true, &mut created_tables));
                            }
                            _ if has_down => {}
                            _ => findings.push(
                                Finding::error(
                                    "missing_down",
                                    format!("migration `{}` ({dialect}) has no down section, so the downgrade cannot undo it", b.name),
                                )
                                .at(Location::file(&path))
                                .item(format!("migration {version}"))
                                .help("add a `-- migrate:down` section to it at the base, or ship a new migration that undoes it"),
                            ),
                        }
                        changes.push(MigrationChange { sha256_before: before.map(|(_, h, _)| h), ..change });
                        continue;
                    }
                    findings.push(
                        Finding::error(
                            "shipped_migration_deleted",
                            format!("migration `{}` ({dialect}) shipped and is gone from head", b.name),
                        )
                        .at(Location::file(&path))
                        .item(format!("migration {version}"))
                        .help("restore the file; to undo its effect, write a new migration"),
                    );
                    changes.push(MigrationChange { sha256_before: before.map(|(_, h, _)| h), ..change });
                }
                (None, None) => {
                    // Recorded as shipped, at neither side: it was deleted before the base.
                    if let Some(recorded) = recorded.filter(|_| !input.downgrade) {
                        let environments: BTreeSet<&str> = recorded.iter().map(|s| s.environment.as_str()).collect();
                        findings.push(
                            Finding::error(
                                "shipped_migration_deleted",
                                format!(
                                    "migration {version} ({dialect}) shipped to `{}` and is gone from head",
                                    environments.into_iter().collect::<Vec<_>>().join("`, `")
                                ),
                            )
                            .item(format!("migration {version}"))
                            .help("restore the file; to undo its effect, write a new migration"),
                        );
                    }
                }
            }
        }
    }
    if report_head {
        findings.append(&mut head_texts.findings);
    }
    changes.sort_by(|a, b| a.version.cmp(&b.version).then(a.dialect.cmp(&b.dialect)));
    Ok(changes)
}

/// A warning when `--release-version` is not a large enough step from the version shipped before.
fn version_finding(input: &PlanInput<'_>, needed: Bump) -> Option<Finding> {
    let (next, previous) = (input.release_version.as_deref()?, input.previous_version.as_deref()?);
    let (Some(next_number), Some(previous_number)) = (parse_version(next), parse_version(previous)) else {
        return None;
    };
    let name = |bump: Bump| match bump {
        Bump::None => "no",
        Bump::Patch => "a patch",
        Bump::Minor => "a minor",
        Bump::Major => "a major",
    };
    let (message, help) = match bump_between(previous_number, next_number) {
        None => (format!("release version {next} is not newer than {previous}, shipped before"), None),
        Some(bump) if bump < needed => (
            format!(
                "release version {next} is {} bump from {previous}; this release needs {} bump",
                name(bump),
                name(needed)
            ),
            Some(match needed {
                Bump::Major => "the SQL is destructive or unsafe for a blue/green deploy: bump the major version",
                Bump::Minor => {
                    "SQL runs, so this is a migration, not a deployment (which stays within one major.minor): bump at least the minor version"
                }
                _ => "bump at least the patch version",
            }),
        ),
        Some(_) => return None,
    };
    let finding = match input.project.config.policy.version_bump {
        crate::core::project::PolicyLevel::Warning => Finding::warning("release_version_bump", message),
        crate::core::project::PolicyLevel::Error => Finding::error("release_version_bump", message),
    };
    Some(match help {
        Some(help) => finding.help(help),
        None => finding.help("give the release a version newer than the one shipped"),
    })
}

/// The SQL hazards of what a release runs of a migration — its up section, or for a downgrade
/// its down section — as findings at their lines in the file. An allowed hazard stays in the
/// plan as information, with the reason it was allowed.
fn hazard_findings(
    project: &Project,
    dialect: Dialect,
    path: &str,
    item: &str,
    text: &Arc<str>,
    down: bool,
    created_tables: &mut BTreeSet<String>,
) -> Vec<Finding> {
    let (parsed, _) = catalog::parse_migration_text(path, text);
    let (section, offset, what) = match (down, parsed.down()) {
        (false, _) => (parsed.up(), 0, ""),
        (true, Some(down)) => (down, parsed.down_line.unwrap_or(1) - 1, ", down section"),
        (true, None) => return Vec::new(),
    };
    let mut context = hazard::Context {
        dialect,
        no_transaction: parsed.no_transaction,
        overrides: &project.config.hazards,
        created_tables,
    };
    // One statement at a time: a data migration's statements are never held together.
    let statements = crate::core::sql_split::statements(section, dialect)
        .map(|s| (hazard::Place::of(&s), hazard::parse(dialect, &s)));
    hazard::analyse_parsed(section, statements, &mut context)
        .into_iter()
        .filter_map(|found| {
            let rule = hazard::rule(found.rule)?;
            let (severity, message) = match (&found.allowed, found.severity) {
                (Some(reason), _) => {
                    (Severity::Info, format!("{} ({dialect}{what}), allowed: {reason}", found.message))
                }
                (None, RuleSeverity::Error) => (Severity::Error, format!("{} ({dialect}{what})", found.message)),
                (None, RuleSeverity::Warning) => (Severity::Warning, format!("{} ({dialect}{what})", found.message)),
                (None, RuleSeverity::Info) => (Severity::Info, format!("{} ({dialect}{what})", found.message)),
                (None, RuleSeverity::Off) => return None,
            };
            Some(
                Finding::new(severity, rule.id, message)
                    .at(Location::line(path, text, found.line + offset))
                    .item(item)
                    .label(rule.explanation)
                    .help(rule.help),
            )
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn migration_change(
    project: &Project,
    dialect: Dialect,
    file: &MigrationFile,
    change: MigrationChangeKind,
    before_file: Option<&MigrationFile>,
    before: Option<&str>,
    after: Option<&str>,
    no_transaction: bool,
) -> MigrationChange {
    let path = project.repo_path(&file.path);
    let old_path = before_file.map(|b| project.repo_path(&b.path)).unwrap_or_else(|| path.clone());
    MigrationChange {
        dialect,
        version: file.version.clone(),
        name: file.name.clone(),
        change,
        path: path.clone(),
        shipped: change != MigrationChangeKind::Added,
        no_transaction,
        sha256_before: None,
        sha256: None,
        diff: unified_diff(&old_path, before, &path, after),
    }
}

#[allow(clippy::too_many_arguments)]
fn edited_finding(
    change: &MigrationChange,
    head_file: &MigrationFile,
    base_file: Option<&MigrationFile>,
    before: Option<&str>,
    after: &Arc<str>,
    recorded: Option<&Vec<ShippedMigration>>,
    partial: bool,
) -> Finding {
    let where_shipped = match recorded.and_then(|r| r.first()) {
        Some(first) => format!("to `{}`", first.environment),
        None => "at the base".to_string(),
    };
    let shipped_hash = match (before, recorded.and_then(|r| r.first())) {
        (Some(before), _) => Some(ContentHash::of(before.as_bytes())),
        (None, Some(first)) => Some(first.sha256.clone()),
        (None, None) => None,
    };
    let now_hash = ContentHash::of(after.as_bytes());
    let label = match shipped_hash {
        Some(shipped) => format!("shipped sha256:{}…  now sha256:{}…", &shipped.hex()[..4], &now_hash.hex()[..4]),
        None => format!("now sha256:{}…", &now_hash.hex()[..4]),
    };
    let line = before.map_or(1, |before| first_changed_line(before, after));
    let location = Location::line(&change.path, after, line);
    let variant_added = base_file.is_some_and(|b| b.dialect.is_none()) && head_file.dialect.is_some();
    if partial {
        return Finding::warning(
            "partial_migration_edited",
            format!("migration `{}` ({}) is partially applied on a target and changed", change.name, change.dialect),
        )
        .at(location)
        .label(label)
        .item(format!("migration {}", change.version))
        .help("only statements not yet run may change; import refuses if a statement already run has changed");
    }
    let message = if variant_added {
        format!(
            "migration `{}` shipped {where_shipped}; a `{}` variant now changes its text",
            change.name, change.dialect
        )
    } else {
        format!("migration `{}` ({}) changed after it shipped {where_shipped}", change.name, change.dialect)
    };
    Finding::error("shipped_migration_edited", message)
        .at(location)
        .label(label)
        .item(format!("migration {}", change.version))
        .help("restore the shipped text and put the change in a new migration")
}

/// Returns the 1-based number of the first line where two texts differ.
fn first_changed_line(before: &str, after: &str) -> usize {
    let mut old = before.split_inclusive('\n');
    let mut new = after.split_inclusive('\n');
    let mut line = 1;
    loop {
        match (old.next(), new.next()) {
            (Some(a), Some(b)) if a == b => line += 1,
            (None, None) => return 1,
            _ => return line,
        }
    }
}

/// Merges findings that differ only in their dialect (`(sqlite)`, `(postgres)`): a generic
/// file serves every dialect, and one edit should read as one error.
fn merge_across_dialects(findings: Vec<Finding>) -> Vec<Finding> {
    let mut merged: Vec<(Finding, Vec<Dialect>)> = Vec::new();
    // The same finding in the same place: two statements alike on different lines stay two.
    type Key = (String, Option<(String, Option<usize>)>, String);
    let mut index: HashMap<Key, usize> = HashMap::new();
    for finding in findings {
        let dialect = Dialect::ALL.into_iter().find(|d| finding.message.contains(&format!("({d})")));
        let Some(dialect) = dialect else {
            merged.push((finding, Vec::new()));
            continue;
        };
        let template = finding.message.replace(&format!("({dialect})"), "(*)");
        let place = finding.location.as_ref().map(|l| (l.path.clone(), l.line));
        let key = (finding.code.clone(), place, template.clone());
        match index.get(&key) {
            Some(&i) => merged[i].1.push(dialect),
            None => {
                index.insert(key, merged.len());
                merged.push((Finding { message: template, ..finding }, vec![dialect]));
            }
        }
    }
    merged
        .into_iter()
        .map(|(finding, dialects)| {
            if dialects.is_empty() {
                return finding;
            }
            let names: Vec<&str> = dialects.iter().map(|d| d.name()).collect();
            Finding { message: finding.message.replace("(*)", &format!("({})", names.join(", "))), ..finding }
        })
        .collect()
}

#[cfg(test)]
mod tests;
