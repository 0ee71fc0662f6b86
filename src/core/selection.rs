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
    if manifest.release.bundle != BundleKind::Full || manifest.skipped.is_empty() {
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
    for id in skipped {
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
    for skipped in &manifest.skipped {
        let sha256 = assets.get(&skipped.id).cloned();
        let commit = match earlier.get(&skipped.id) {
            Some(before) if before.sha256 == sha256 => before.commit.clone(),
            _ => sha256.as_ref().and(previous_commit.clone()),
        };
        held.insert(skipped.id.clone(), HeldAsset { id: skipped.id.clone(), sha256, commit, always: skipped.always });
    }
    held.into_values().collect()
}
