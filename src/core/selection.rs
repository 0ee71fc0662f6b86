//! Which changed assets a release ships, and what a target then holds: the one rule that `plan`,
//! `export` and `import` share for `--skip`, `--only` and an environment's `skip_always`.
//!
//! A skipped asset is left as the target has it — neither written nor deleted — and a target's
//! release id counts it at the copy it keeps, so that a recorded release id is always the state
//! id of what the target holds. The target remembers it, and the next release for its
//! environment offers it again.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::core::hash::{ContentHash, StateEntry, state_id};
use crate::core::manifest::{Action, BundleKind, ItemType, Manifest};
use crate::core::model::ItemId;
use crate::core::project::Project;
use crate::core::record::HeldAsset;
use crate::core::state::TargetState;

/// The release manager's choice for one release (`--skip`/`--only`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Selection {
    /// Ship every change.
    #[default]
    All,
    /// Ship every change but these.
    Skip(BTreeSet<ItemId>),
    /// Ship only the changes of these.
    Only(BTreeSet<ItemId>),
}

/// What a release does with one changed asset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssetAction {
    /// Written (or deleted) on the target.
    #[default]
    Ship,
    /// Left as the target has it, for this release (`--skip`, or not named by `--only`).
    Skip,
    /// Left as the target has it, always: the environment's `skip_always`.
    SkipAlways,
}

impl AssetAction {
    pub fn ships(self) -> bool {
        self == AssetAction::Ship
    }
}

/// Decides the action of each changed asset for one release.
#[derive(Debug, Clone, Copy)]
pub struct Selector<'a> {
    pub project: &'a Project,
    /// The environment the release is for: its `skip_always` applies.
    pub environment: Option<&'a str>,
    pub selection: &'a Selection,
}

impl Selector<'_> {
    /// The action for the asset `id`.
    pub fn action(&self, id: &ItemId) -> AssetAction {
        let path = format!("{}{id}.yaml", self.project.assets_dir());
        if self.environment.is_some_and(|env| self.project.skips_always(env, &path)) {
            return AssetAction::SkipAlways;
        }
        let skipped = match self.selection {
            Selection::All => false,
            Selection::Skip(ids) => ids.contains(id),
            Selection::Only(ids) => !ids.contains(id),
        };
        if skipped { AssetAction::Skip } else { AssetAction::Ship }
    }
}

/// The release id a target records after importing `manifest`, holding `assets` (identity →
/// sha256 of its copy): the manifest's, except for a full bundle with skipped assets, whose id
/// counts each skipped asset at the copy this target keeps.
pub fn held_release_id(manifest: &Manifest, assets: &BTreeMap<ItemId, ContentHash>) -> ContentHash {
    let kept = kept_always(manifest, assets);
    if manifest.release.bundle != BundleKind::Full || (manifest.skipped.is_empty() && kept.is_empty()) {
        return manifest.release.id.clone();
    }
    let skipped: BTreeSet<&ItemId> = manifest.skipped.iter().map(|s| &s.id).collect();
    let mut entries = Vec::with_capacity(manifest.items.len());
    for item in &manifest.items {
        match (item.item_type, item.action) {
            (ItemType::Migration, Action::Apply) => entries.push(StateEntry {
                item_type: "migration",
                identity: item.identity.clone(),
                dialect: item.dialect.map(|d| d.to_string()).unwrap_or_default(),
                sha256: item.sha256.clone(),
            }),
            (ItemType::Asset, Action::Upsert) => entries.push(StateEntry {
                item_type: "asset",
                identity: item.identity.clone(),
                dialect: String::new(),
                sha256: item.sha256.clone(),
            }),
            _ => {}
        }
    }
    for id in skipped.into_iter().chain(kept.iter().map(|(id, _)| *id)) {
        if let Some(sha256) = assets.get(id) {
            entries.push(StateEntry {
                item_type: "asset",
                identity: id.to_string(),
                dialect: String::new(),
                sha256: sha256.clone(),
            });
        }
    }
    for (dialect, session) in &manifest.session {
        entries.push(StateEntry {
            item_type: "session",
            identity: String::new(),
            dialect: dialect.to_string(),
            sha256: session.sha256.clone(),
        });
    }
    state_id(&entries)
}

/// What a target keeps skipped after importing `manifest`: the bundle's skipped assets at the copy
/// the target holds (`assets`, after the import), and those skipped earlier that the bundle left
/// alone. `previous` is the state before the import; its release's head commit holds the copy of
/// an asset skipped now for the first time.
pub fn skipped_after(
    manifest: &Manifest,
    previous: Option<&TargetState>,
    assets: &BTreeMap<ItemId, ContentHash>,
) -> Vec<HeldAsset> {
    let earlier: BTreeMap<&ItemId, &HeldAsset> =
        previous.map(|s| s.skipped.iter().map(|h| (&h.id, h)).collect()).unwrap_or_default();
    let previous_commit = previous.and_then(|s| s.release.as_ref()).map(|r| r.head_commit.clone());
    let mut held: BTreeMap<ItemId, HeldAsset> = BTreeMap::new();
    let touched: BTreeSet<&str> = manifest
        .items
        .iter()
        .filter(|i| i.item_type == ItemType::Asset && i.action != Action::Skip)
        .map(|i| i.identity.as_str())
        .collect();
    for (id, before) in &earlier {
        // A full bundle lists every asset; an incremental one only what changed.
        let left_alone = manifest.release.bundle != BundleKind::Full && !touched.contains(id.as_str());
        if left_alone && assets.get(*id) == before.sha256.as_ref() {
            held.insert((*id).clone(), (*before).clone());
        }
    }
    let always = kept_always(manifest, assets).into_iter().map(|(id, _)| (id, true));
    let skipped = manifest.skipped.iter().map(|s| (&s.id, s.always)).chain(always);
    for (id, always) in skipped {
        let sha256 = assets.get(id).cloned();
        let commit = match earlier.get(id) {
            Some(before) if before.sha256 == sha256 => before.commit.clone(),
            _ => sha256.as_ref().and(previous_commit.clone()),
        };
        held.insert(id.clone(), HeldAsset { id: id.clone(), sha256, commit, always });
    }
    held.into_values().collect()
}

/// One changed asset, as the dependency check sees it.
#[derive(Debug, Clone)]
pub struct Pending<'a> {
    pub id: &'a ItemId,
    pub action: AssetAction,
    /// Whether the head has it (not a removal).
    pub at_head: bool,
    /// Whether the target holds a copy now.
    pub held: bool,
    /// Its `depends_on` at head.
    pub depends_on: &'a [ItemId],
    /// Repository-relative path at head, for the finding.
    pub path: &'a str,
}

/// Checks what a release ships against `depends_on` and what the target holds afterwards: an
/// asset shipped without a dependency the target would not have is an error naming both; one
/// whose dependency stays at the target's older copy is a warning. `unchanged_at_head` says
/// whether an asset the release does not touch exists at head (the target then holds it).
pub fn dependency_findings(
    pending: &[Pending<'_>],
    unchanged_at_head: &dyn Fn(&ItemId) -> bool,
) -> Vec<crate::core::finding::Finding> {
    use crate::core::finding::{Finding, Location};
    let by_id: BTreeMap<&ItemId, &Pending<'_>> = pending.iter().map(|p| (p.id, p)).collect();
    let mut findings = Vec::new();
    for asset in pending.iter().filter(|p| p.action.ships() && p.at_head) {
        for dependency in asset.depends_on {
            let (present, current) = match by_id.get(dependency) {
                Some(d) if d.action.ships() => (d.at_head, true),
                Some(d) => (d.held, false),
                None => (unchanged_at_head(dependency), true),
            };
            let at = Location::file(asset.path);
            if !present {
                findings.push(
                    Finding::error(
                        "dependency_not_shipped",
                        format!(
                            "`{}` ships without `{dependency}`, which it depends on: the targets of this release would not have `{dependency}`",
                            asset.id
                        ),
                    )
                    .item(asset.id.to_string())
                    .at(at)
                    .help(format!(
                        "ship `{dependency}` too (`--only {} --only {dependency}`, or drop its `--skip`), or hold `{}` back as well",
                        asset.id, asset.id
                    )),
                );
            } else if !current {
                findings.push(
                    Finding::warning(
                        "dependency_held_back",
                        format!(
                            "`{}` ships while `{dependency}`, which it depends on, stays at the copy the target holds",
                            asset.id
                        ),
                    )
                    .item(asset.id.to_string())
                    .at(at)
                    .help(format!("ship `{dependency}` with it unless the older copy is what `{}` expects", asset.id)),
                );
            }
        }
    }
    findings
}

/// The dependency check of a full bundle: every asset at head is new to some target, and a
/// skipped one may be missing on any of them.
pub fn full_bundle_dependency_findings(
    head: &crate::core::snapshot::Snapshot,
    selector: &Selector<'_>,
    depends_on: &BTreeMap<ItemId, Vec<ItemId>>,
) -> Vec<crate::core::finding::Finding> {
    let actions: BTreeMap<&ItemId, AssetAction> = head.assets.keys().map(|id| (id, selector.action(id))).collect();
    if actions.values().all(|a| a.ships()) {
        return Vec::new();
    }
    let paths: Vec<String> = head.assets.values().map(|a| selector.project.repo_path(&a.path)).collect();
    let pending: Vec<Pending<'_>> = head
        .assets
        .keys()
        .zip(&paths)
        .map(|(id, path)| Pending {
            id,
            action: actions[id],
            at_head: true,
            held: false,
            depends_on: depends_on.get(id).map_or(&[], Vec::as_slice),
            path,
        })
        .collect();
    dependency_findings(&pending, &|_| false)
}

/// What a release does with one asset: the asset items `export` writes, made from what `plan`
/// shows (`from_plan`), or for a full bundle from every asset at head (`for_snapshot`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetDecision {
    pub id: ItemId,
    /// `upsert`, `delete` or `skip`.
    pub action: Action,
    /// Upsert: the head's copy; delete: the copy deleted; skip: the head's copy, or for a
    /// removal the copy the target keeps.
    pub sha256: ContentHash,
    /// Skip: the copy a target at the base keeps (none: it has none, or a full bundle).
    pub kept: Option<ContentHash>,
    /// Skip: by the environment's `skip_always`.
    pub always: bool,
    pub depends_on: Vec<ItemId>,
}

/// The asset decisions of an incremental or downgrade release, from the plan's asset changes:
/// the one place both take their list from.
pub fn from_plan(changes: &[crate::core::plan::AssetChange]) -> Vec<AssetDecision> {
    use crate::core::plan::AssetChangeKind;
    let mut decisions = Vec::with_capacity(changes.len());
    for change in changes {
        let decision = |action: Action, id: &ItemId, sha256: Option<&ContentHash>| {
            sha256.map(|sha256| AssetDecision {
                id: id.clone(),
                action,
                sha256: sha256.clone(),
                kept: None,
                always: false,
                depends_on: Vec::new(),
            })
        };
        if !change.action.ships() {
            let sha256 = change.sha256.as_ref().or(change.sha256_before.as_ref());
            decisions.extend(decision(Action::Skip, &change.id, sha256).map(|d| AssetDecision {
                kept: change.sha256_before.clone(),
                always: change.action == AssetAction::SkipAlways,
                ..d
            }));
            continue;
        }
        match change.change {
            AssetChangeKind::Removed => {
                decisions.extend(decision(Action::Delete, &change.id, change.sha256_before.as_ref()))
            }
            kind => {
                decisions.extend(
                    decision(Action::Upsert, &change.id, change.sha256.as_ref())
                        .map(|d| AssetDecision { depends_on: change.depends_on.clone(), ..d }),
                );
                if let (AssetChangeKind::Renamed, Some(from)) = (kind, &change.renamed_from) {
                    decisions.extend(decision(Action::Delete, from, change.sha256_before.as_ref()));
                }
            }
        }
    }
    decisions.sort_by(|a, b| a.id.cmp(&b.id));
    decisions
}

/// The asset decisions of a bundle from snapshots: every asset of `head` that a target at `base`
/// (with the copies in `held` where they differ from it) does not hold, and every asset it holds
/// that `head` lacks. A full bundle (`base` none) ships every asset.
pub fn for_snapshot(
    head: &crate::core::snapshot::Snapshot,
    base: Option<(&crate::core::snapshot::Snapshot, &BTreeMap<ItemId, Option<ContentHash>>)>,
    selector: &Selector<'_>,
    depends_on: &BTreeMap<ItemId, Vec<ItemId>>,
) -> Vec<AssetDecision> {
    let holds = |id: &ItemId| -> Option<&ContentHash> {
        let (snapshot, held) = base?;
        match held.get(id) {
            Some(copy) => copy.as_ref(),
            None => snapshot.assets.get(id).map(|a| &a.sha256),
        }
    };
    let decide = |id: &ItemId, ships: Action, sha256: &ContentHash| {
        let action = selector.action(id);
        AssetDecision {
            id: id.clone(),
            action: if action.ships() { ships } else { Action::Skip },
            sha256: sha256.clone(),
            kept: if action.ships() { None } else { holds(id).cloned() },
            always: action == AssetAction::SkipAlways,
            depends_on: if ships == Action::Upsert && action.ships() {
                depends_on.get(id).cloned().unwrap_or_default()
            } else {
                Vec::new()
            },
        }
    };
    let mut decisions = Vec::new();
    for (id, asset) in &head.assets {
        if holds(id) != Some(&asset.sha256) {
            decisions.push(decide(id, Action::Upsert, &asset.sha256));
        }
    }
    if let Some((snapshot, held)) = base {
        let candidates: BTreeSet<&ItemId> = snapshot.assets.keys().chain(held.keys()).collect();
        for id in candidates {
            if let (Some(sha256), false) = (holds(id), head.assets.contains_key(id)) {
                decisions.push(decide(id, Action::Delete, sha256));
            }
        }
    }
    decisions.sort_by(|a, b| a.id.cmp(&b.id));
    decisions
}

/// The globs over `<kind>/<name>.yaml` that a full bundle for `environment` keeps: its
/// `skip_always`, from the assets folder down (a glob that starts with `**/` matches as it is).
pub fn keep_always_globs(project: &Project, environment: Option<&str>) -> Vec<String> {
    let Some(options) = environment.and_then(|env| project.config.environments.0.iter().find(|(n, _)| n == env)) else {
        return Vec::new();
    };
    let assets_dir = project.assets_dir();
    options
        .1
        .skip_always
        .iter()
        .filter_map(|glob| glob.strip_prefix(&assets_dir).or_else(|| glob.starts_with("**/").then_some(glob.as_str())))
        .map(str::to_string)
        .collect()
}

/// The assets a target holds that a full bundle neither lists nor may delete: those its
/// `keep_always` globs match.
pub fn kept_always<'a>(
    manifest: &Manifest,
    assets: &'a BTreeMap<ItemId, ContentHash>,
) -> Vec<(&'a ItemId, &'a ContentHash)> {
    if manifest.release.bundle != BundleKind::Full || manifest.keep_always.is_empty() {
        return Vec::new();
    }
    let mut globs = globset::GlobSetBuilder::new();
    for glob in &manifest.keep_always {
        if let Ok(glob) = globset::GlobBuilder::new(glob).literal_separator(true).build() {
            globs.add(glob);
        }
    }
    let Ok(globs) = globs.build() else { return Vec::new() };
    let listed: BTreeSet<&str> =
        manifest.items.iter().filter(|i| i.item_type == ItemType::Asset).map(|i| i.identity.as_str()).collect();
    assets.iter().filter(|(id, _)| !listed.contains(id.as_str()) && globs.is_match(format!("{id}.yaml"))).collect()
}
