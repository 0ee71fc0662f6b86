//! Target state + asset files + history rows → what the target holds, and its drift from what
//! imports recorded.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::core::hash::ContentHash;
use crate::core::model::{ItemId, Version};
use crate::core::state::{HistoryRow, TargetState};

/// The format version of `status --format json`.
pub const STATUS_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Drift {
    /// An asset an import wrote is gone.
    AssetMissing { id: ItemId },
    /// An asset an import wrote was changed by hand.
    AssetChanged { id: ItemId, expected: ContentHash, found: ContentHash },
    /// A history row no import recorded (and not the offline script's).
    UnknownHistoryRow { version: Version, sha256: ContentHash },
    /// A history row whose hash is not what the import recorded.
    HistoryRowChanged { version: Version, expected: ContentHash, found: ContentHash },
    /// A history row the import recorded is gone.
    HistoryRowMissing { version: Version },
    /// A migration stopped part-way.
    PartialMigration { version: Version, done: u32, total: u32 },
}

/// `status --format json`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(title = "migrate status --format json")]
pub struct Status {
    pub format_version: u32,
    /// Absent when nothing was imported into the folder yet: it is not a target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    pub database: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_id: Option<ContentHash>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_version: Option<String>,
    pub migrations: Vec<StatusMigration>,
    pub assets: usize,
    /// Assets releases skipped, with the copy the target keeps; the next `plan --env` offers them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<crate::core::record::HeldAsset>,
    /// History rows written by a bundle's offline script, which the next import adopts.
    pub applied_by_script: Vec<Version>,
    pub drift: Vec<Drift>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct StatusMigration {
    pub version: Version,
    pub name: String,
    pub sha256: ContentHash,
    pub applied_by: String,
}

/// The status of a folder nothing was imported into.
pub fn not_a_target(database: String) -> Status {
    Status {
        format_version: STATUS_FORMAT_VERSION,
        target_id: None,
        environment: None,
        database,
        release_id: None,
        release_version: None,
        migrations: Vec::new(),
        assets: 0,
        skipped: Vec::new(),
        applied_by_script: Vec::new(),
        drift: Vec::new(),
    }
}

/// Compares what is on the target with what imports recorded. `files` holds the sha256 of each
/// recorded asset's file, `None` when it is missing.
pub fn status(state: &TargetState, files: &BTreeMap<ItemId, Option<ContentHash>>, history: &[HistoryRow]) -> Status {
    let mut drift = Vec::new();
    for (id, expected) in &state.assets {
        match files.get(id).cloned().flatten() {
            None => drift.push(Drift::AssetMissing { id: id.clone() }),
            Some(found) if found != *expected => {
                drift.push(Drift::AssetChanged { id: id.clone(), expected: expected.clone(), found })
            }
            Some(_) => {}
        }
    }
    let recorded: BTreeMap<&Version, &ContentHash> = state.history.iter().map(|r| (&r.version, &r.sha256)).collect();
    let mut by_script = Vec::new();
    for row in history {
        if row.statements_done != row.statements_total {
            drift.push(Drift::PartialMigration {
                version: row.version.clone(),
                done: row.statements_done,
                total: row.statements_total,
            });
        }
        match recorded.get(&row.version) {
            Some(sha) if **sha == row.sha256 => {}
            Some(sha) => drift.push(Drift::HistoryRowChanged {
                version: row.version.clone(),
                expected: (*sha).clone(),
                found: row.sha256.clone(),
            }),
            None if row.applied_by == "script" => by_script.push(row.version.clone()),
            None => drift.push(Drift::UnknownHistoryRow { version: row.version.clone(), sha256: row.sha256.clone() }),
        }
    }
    for version in recorded.keys() {
        if !history.iter().any(|r| &r.version == *version) {
            drift.push(Drift::HistoryRowMissing { version: (*version).clone() });
        }
    }
    Status {
        format_version: STATUS_FORMAT_VERSION,
        target_id: Some(state.target_id.clone()),
        environment: state.environment.clone(),
        database: state.database.clone(),
        release_id: state.release.as_ref().map(|r| r.id.clone()),
        release_version: state.release.as_ref().and_then(|r| r.version.clone()),
        migrations: history
            .iter()
            .map(|r| StatusMigration {
                version: r.version.clone(),
                name: r.name.clone(),
                sha256: r.sha256.clone(),
                applied_by: r.applied_by.clone(),
            })
            .collect(),
        assets: state.assets.len(),
        skipped: state.skipped.clone(),
        applied_by_script: by_script,
        drift,
    }
}

/// `status --fleet`: every target of a fleet, wave by wave.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[schemars(title = "migrate status --fleet output")]
pub struct FleetStatus {
    /// Format version of this document; `1`.
    pub format_version: u32,
    /// The most severe exit code of the targets (the command's own).
    pub exit_code: u8,
    pub targets: Vec<FleetTargetStatus>,
}

/// One target of a fleet.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct FleetTargetStatus {
    pub name: String,
    pub wave: String,
    /// What `status --target` reports; absent when the target could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Why the target could not be read, or that nothing was imported there (without secrets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What `status --target` would exit with for this target.
    pub exit_code: u8,
}
