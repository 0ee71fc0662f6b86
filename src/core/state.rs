//! `<target>/.migrate/state.json`: what a target holds and how it got there. Versioned like every
//! file we write; readers refuse a future version.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::hash::ContentHash;
use crate::core::model::{Dialect, ItemId, Version};

/// The format version of `state.json` this build writes and reads.
pub const STATE_FORMAT_VERSION: u32 = 1;

/// A target's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "migrate target state")]
pub struct TargetState {
    /// Format version of this document; `1`.
    pub format_version: u32,
    /// Made at the first import; stable for the target's life.
    pub target_id: String,
    /// The environment the target belongs to (`import --env`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The database, as a URL with any password removed.
    pub database: String,
    pub dialect: Dialect,
    pub project: String,
    pub history_table: String,
    /// The release the target holds; absent before the first import finishes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<StateRelease>,
    /// The assets imports put in `<target>/assets/`, with the sha256 of what they wrote.
    pub assets: BTreeMap<ItemId, ContentHash>,
    /// Assets releases skipped, with the copy the target keeps (see the receipt's `skipped`).
    #[serde(default)]
    pub skipped: Vec<crate::core::record::HeldAsset>,
    /// The history table as the last import left it, to tell drift from it.
    #[serde(default)]
    pub history: Vec<RecordedMigration>,
    /// A migration an import stopped in (exit 4), with the hashes of the statements that ran,
    /// so that a re-run resumes after them and refuses if one of them changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<PartialMigration>,
    /// Every import that changed something, oldest first.
    #[serde(default)]
    pub imports: Vec<ImportEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateRelease {
    pub id: ContentHash,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub head_commit: String,
    pub head_depth: u64,
}

/// A migration an import stopped in (exit 4), run statement by statement, of which the import
/// knows exactly which statements ran: each returned before the failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartialMigration {
    pub version: Version,
    /// sha256 of each statement that ran, in order.
    pub statements: Vec<ContentHash>,
    /// How many statements ran (the length of `statements`; kept for older readers).
    #[serde(default)]
    pub started: usize,
    /// `true` when the statements are of the down section (a downgrade stopped part-way); the
    /// history row then still says the migration is applied.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revert: bool,
}

/// The format version of `.migrate/journal.json`.
pub const JOURNAL_FORMAT_VERSION: u32 = 1;

/// `.migrate/journal.json`: written (durably) before an import runs any statement outside a
/// transaction, and removed when the import ends with a record of what it did. After a crash it
/// says which migrations may have had a statement in flight: a statement outside a transaction
/// commits by itself, so one that was running may or may not have taken effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Journal {
    pub format_version: u32,
    pub migrations: Vec<JournalMigration>,
}

/// A migration the journal names: its statements, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalMigration {
    pub version: Version,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revert: bool,
    pub statements: Vec<ContentHash>,
}

impl Journal {
    /// Returns the entry for a migration (and direction), if the journal names it.
    pub fn entry(&self, version: &Version, revert: bool) -> Option<&JournalMigration> {
        self.migrations.iter().find(|m| &m.version == version && m.revert == revert)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordedMigration {
    pub version: Version,
    pub sha256: ContentHash,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportEntry {
    pub release_id: ContentHash,
    /// `initialise`, `upgrade`, `downgrade` or `resume`.
    pub decision: String,
    pub migrations: usize,
    pub assets: usize,
    /// RFC 3339, UTC.
    pub finished_at: String,
}

/// One row of a target's history table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub version: Version,
    pub name: String,
    pub sha256: ContentHash,
    pub statements_done: u32,
    pub statements_total: u32,
    /// `import` or `script` (the bundle's offline SQL, run by hand).
    pub applied_by: String,
}

/// Why a state file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("`state.json` has format version {0}; this migrate reads version {STATE_FORMAT_VERSION}")]
    FutureVersion(u64),
    #[error("`state.json` is not valid: {0}")]
    Invalid(String),
}

impl TargetState {
    pub fn parse(bytes: &[u8]) -> Result<TargetState, StateError> {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| StateError::Invalid(e.to_string()))?;
        let version = value.get("format_version").and_then(serde_json::Value::as_u64).unwrap_or(0);
        if version > u64::from(STATE_FORMAT_VERSION) {
            return Err(StateError::FutureVersion(version));
        }
        serde_json::from_value(value).map_err(|e| StateError::Invalid(e.to_string()))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("the state serialises to JSON");
        bytes.push(b'\n');
        bytes
    }
}
