//! `manifest.json`: the wire contract of a bundle. Readers look at `format_version` first and
//! refuse one they do not know; maps are sorted so that the bytes are stable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::hash::ContentHash;
use crate::core::model::{Dialect, ItemId};
use crate::core::project::RuleSeverity;

/// The bundle format this build writes and reads.
pub const BUNDLE_FORMAT_VERSION: u32 = 1;

/// The member holding the manifest.
pub const MANIFEST_PATH: &str = "manifest.json";

/// The member holding the manifest's minisign signature.
pub const SIGNATURE_PATH: &str = "manifest.json.minisig";

/// What a bundle is and holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "migrate bundle manifest")]
pub struct Manifest {
    /// Format version of this document and of the bundle; `1`.
    pub format_version: u32,
    pub project: String,
    /// The history table on targets.
    pub history_table: String,
    /// Severity of every hazard category and rule in force when the bundle was made.
    pub hazards: BTreeMap<String, RuleSeverity>,
    /// Whether a target may run a migration older than its newest applied one.
    #[serde(default)]
    pub allow_out_of_order: bool,
    pub release: Release,
    pub source: BundleSource,
    /// The environment the bundle was exported for (`export --env`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The reason given with `export --skip-promotion`: the environment before this one in
    /// promotion order had not taken the release (`policy: promotion`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_skipped: Option<String>,
    /// What the target must already hold.
    pub requires: Requires,
    pub dialects: Vec<Dialect>,
    /// Per dialect, the statements that run at the start of every import session and at the
    /// top of the offline script (`session:` in `migrate.yaml`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub session: BTreeMap<Dialect, Session>,
    /// Assets that differ and are left out on purpose (`--skip`, not named by `--only`, or the
    /// environment's `skip_always`): targets keep their copy, and do not delete it.
    pub skipped: Vec<SkippedAsset>,
    /// A full bundle for an environment: its `skip_always`, as globs over `<kind>/<name>.yaml`.
    /// An import never deletes an asset it holds that one matches, and counts it as held.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keep_always: Vec<String>,
    /// Every member of the bundle but the manifest and its signature, and every deletion.
    pub items: Vec<Item>,
}

/// An asset a bundle leaves as targets have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SkippedAsset {
    pub id: ItemId,
    /// Incremental and downgrade bundles: sha256 of the copy a target at the base keeps (absent:
    /// it has none), as the release id counts it. Full bundles: absent, each target keeps what it
    /// has and records the state id of that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<ContentHash>,
    /// Skipped by the environment's `skip_always` rather than for this release only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub always: bool,
}

/// The session statements of one dialect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// In the order they run, each without its `;`.
    pub statements: Vec<String>,
    /// sha256 of the statements, each followed by a newline (as in the release id).
    pub sha256: ContentHash,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// The state id of what a target holds afterwards: the head, with each skipped asset at the
    /// copy the target keeps (a full bundle leaves skipped assets out here; each target records
    /// the id of what it holds).
    pub id: ContentHash,
    /// The human release version (`--release-version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `migration` when SQL runs, `deployment` when only assets change.
    pub kind: ReleaseKind,
    /// The semantic-version bump the release needs, as `plan` shows it: `none`, `patch` (assets
    /// only), `minor` (SQL), `major` (destructive or blue/green-unsafe SQL).
    #[serde(default)]
    pub bump: crate::core::plan::Bump,
    /// `full`, `incremental` or `downgrade`.
    pub bundle: BundleKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseKind {
    Deployment,
    Migration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BundleKind {
    /// The whole project at head; any target that is behind converges with it.
    Full,
    /// Only the change from the base release, which the target must hold.
    Incremental,
    /// From a newer base back to an older head: down sections in reverse order.
    Downgrade,
}

impl BundleKind {
    pub fn name(self) -> &'static str {
        match self {
            BundleKind::Full => "full",
            BundleKind::Incremental => "incremental",
            BundleKind::Downgrade => "downgrade",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BundleSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<SourceRef>,
    pub head: SourceRef,
    /// The longest path from a root commit to the head commit.
    pub head_depth: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceRef {
    /// The revision as the user named it.
    #[serde(rename = "ref")]
    pub reference: String,
    pub commit: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Requires {
    /// The release the target must hold (incremental and downgrade bundles); absent for a full
    /// bundle, which needs nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_id: Option<ContentHash>,
    /// Per dialect, exactly the history the target must hold (empty for a full bundle); the
    /// offline script's guard checks it.
    pub history: BTreeMap<Dialect, Vec<HistoryRow>>,
}

/// One history row a target must hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryRow {
    pub version: crate::core::model::Version,
    pub sha256: ContentHash,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ItemType {
    Migration,
    Asset,
    Script,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Run a migration's up section.
    Apply,
    /// Run a migration's down section (downgrade bundles).
    Revert,
    /// Write an asset.
    Upsert,
    /// Remove an asset (only if an earlier import put it there).
    Delete,
    /// Leave an asset as the target has it.
    Skip,
    /// Nothing to do on the target: the offline SQL scripts.
    Include,
}

/// One item: a member of the bundle, or a deletion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Item {
    #[serde(rename = "type")]
    pub item_type: ItemType,
    /// `kind/name` for an asset, the version (no leading zeros) for a migration, the dialect for a
    /// script.
    pub identity: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialect: Option<Dialect>,
    /// The member's path in the bundle; absent for a deletion or a skip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub action: Action,
    /// The member's sha256; for a deletion, of the content being deleted.
    pub sha256: ContentHash,
    /// The member's size in bytes (0 for a deletion).
    pub size: u64,
    /// Migrations only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<MigrationInfo>,
    /// Assets only: the identities it depends on (`depends_on`), written first by an import.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<ItemId>,
}

/// What a target needs to know about a migration before it runs one statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrationInfo {
    /// The file name without dialect suffix and `.sql`, e.g. `0001_create_hosts`.
    pub name: String,
    /// The normalised file's sha256, as history rows record it.
    pub file_sha256: ContentHash,
    /// `false` for `-- migrate:no-transaction`: its statements run one at a time.
    pub transactional: bool,
    /// The statements that run (the up section, or the down section for a revert), in order.
    pub statements: Vec<StatementInfo>,
    /// The SQL hazards of these statements, as `plan` reports them (severities after the
    /// project's overrides; rules turned `off` are left out).
    pub hazards: Vec<ManifestHazard>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManifestHazard {
    /// The rule id, `<category>/<rule>`.
    pub rule: String,
    pub severity: RuleSeverity,
    /// 1-based line of the statement in the member.
    pub line: usize,
    /// What the statement does, e.g. `DROP TABLE users`.
    pub message: String,
    /// The reason given by `-- migrate:allow`, when the hazard was allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatementInfo {
    /// sha256 of the statement's exact text.
    pub sha256: ContentHash,
    /// 1-based line of the statement in the member.
    pub line: usize,
}

impl Manifest {
    /// Serialises the manifest as the bundle stores it: compact JSON (a 100,000-item manifest
    /// pretty-printed is a third larger; `migrate inspect` is the way to read one), keys in
    /// declaration order, maps sorted, a trailing newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Sized up front: growing a 25 MB buffer by doubling holds both copies at its peak. An
        // item takes about 200 bytes and a statement 90 (a data migration has 800,000); pages
        // reserved beyond the end are never touched.
        let statements: usize =
            self.items.iter().filter_map(|i| i.migration.as_ref()).map(|m| m.statements.len()).sum();
        let mut bytes = Vec::with_capacity(1024 + self.items.len() * 256 + statements * 128);
        serde_json::to_writer(&mut bytes, self).expect("the manifest serialises to JSON");
        bytes.push(b'\n');
        bytes
    }
}

impl Manifest {
    /// The signature's trusted comment: what the signer vouches for besides the manifest bytes,
    /// with no timestamp, so that a signed bundle stays reproducible.
    pub fn trusted_comment(&self) -> String {
        let none = "none".to_string();
        format!(
            "migrate project:{} release:{} requires:{} environment:{}",
            self.project,
            self.release.id,
            self.requires.release_id.as_ref().map_or(none.clone(), ToString::to_string),
            self.environment.as_ref().unwrap_or(&none)
        )
    }
}

/// Why a manifest cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("the manifest is not JSON: {0}")]
    NotJson(String),
    #[error("the bundle has format version {0}; this migrate reads version {BUNDLE_FORMAT_VERSION}")]
    UnknownFormat(u64),
    #[error("the manifest does not match format version {BUNDLE_FORMAT_VERSION}: {0}")]
    Invalid(String),
}

impl Manifest {
    /// Parses a manifest, looking at the format version before anything else.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        // Two passes over the bytes rather than one `Value` tree: the version alone (every other
        // field skipped), then the typed manifest, in memory near the size of the text.
        #[derive(Deserialize)]
        struct Version {
            #[serde(default)]
            format_version: Option<serde_json::Value>,
        }
        let version: Version = serde_json::from_slice(bytes).map_err(|e| ManifestError::NotJson(e.to_string()))?;
        let version = version.format_version.as_ref().and_then(serde_json::Value::as_u64).unwrap_or(0);
        if version != u64::from(BUNDLE_FORMAT_VERSION) {
            return Err(ManifestError::UnknownFormat(version));
        }
        serde_json::from_slice(bytes).map_err(|e| ManifestError::Invalid(e.to_string()))
    }
}
