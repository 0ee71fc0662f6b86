//! Receipts and environment records: what one import on one target did, and the latest receipt of
//! every target of an environment (`environments/<env>.json`). One versioned format; readers look
//! at `format_version` first and refuse a future one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::hash::ContentHash;
use crate::core::model::{Dialect, ItemId, Version};

/// The format version of receipts and environment records this build writes and reads.
pub const RECORD_FORMAT_VERSION: u32 = 1;

/// What one import on one target did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "migrate receipt")]
pub struct Receipt {
    /// Format version of this document; `1`.
    pub format_version: u32,
    pub environment: String,
    pub project: String,
    /// Made at the target's first import; stable for the target's life.
    pub target_id: String,
    /// The database, as a URL with any password removed.
    pub database: String,
    pub release: ReceiptRelease,
    pub source: ReceiptSource,
    /// Per dialect, the migrations the target's history holds, in version order.
    pub migrations: BTreeMap<Dialect, Vec<AppliedMigration>>,
    /// The assets the target holds.
    pub assets: Vec<AppliedAsset>,
    /// Assets skipped (by `--skip`, `--only` or `skip_always`), with the copy the target keeps;
    /// the next `plan --env`/`export --env` offers them again.
    #[serde(default)]
    pub skipped: Vec<HeldAsset>,
    /// When the import finished, RFC 3339 in UTC.
    pub applied_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptRelease {
    /// The release id of the bundle the target now holds.
    pub id: ContentHash,
    /// The human release version, when the bundle had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptSource {
    /// The commit the bundle was exported from.
    pub head_commit: String,
    /// The longest path from a root commit to `head_commit`.
    pub head_depth: u64,
}

/// One migration in a target's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppliedMigration {
    pub version: Version,
    pub sha256: ContentHash,
    pub status: MigrationStatus,
    /// Statement progress of a partially applied migration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statements: Option<StatementProgress>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MigrationStatus {
    Applied,
    Partial,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatementProgress {
    pub done: u32,
    pub total: u32,
}

/// An asset a release skipped, as the target keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeldAsset {
    pub id: ItemId,
    /// sha256 of the copy the target holds; absent when it holds none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<ContentHash>,
    /// A commit whose version of the asset is that copy (to show what changed since).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Skipped by the environment's `skip_always`, not by a choice for one release.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub always: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppliedAsset {
    pub id: ItemId,
    pub sha256: ContentHash,
}

/// `environments/<env>.json`: the latest receipt of each target, keyed by target id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "migrate environment record")]
pub struct EnvironmentRecord {
    /// Format version of this document; `1`.
    pub format_version: u32,
    pub environment: String,
    pub targets: BTreeMap<String, Receipt>,
}

/// What `EnvironmentRecord::merge` did with a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merged {
    /// The receipt is now its target's.
    Recorded,
    /// The record holds a newer receipt of the target (its `applied_at`): this one is left out.
    Older { newer: String },
}

impl EnvironmentRecord {
    /// Keeps the newer of the recorded receipt of the receipt's target and the receipt, by
    /// `applied_at`. Receipts of distinct times therefore merge to the same record in any order
    /// (from the shards of a Kubernetes Job, a CI matrix, an Ansible play), and recording one
    /// twice changes nothing. `applied_at` counts seconds: of two receipts of one target in the
    /// same second (two imports in a row), the one recorded last stays, as it always did.
    pub fn merge(&mut self, receipt: Receipt) -> Merged {
        if let Some(recorded) = self.targets.get(&receipt.target_id)
            && recorded.applied_at > receipt.applied_at
        {
            return Merged::Older { newer: recorded.applied_at.clone() };
        }
        self.targets.insert(receipt.target_id.clone(), receipt);
        Merged::Recorded
    }
}

/// An environment record or receipt cannot be read.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RecordError {
    #[error("`{path}` is not a valid environment record: {reason} (line {line}, column {column})")]
    #[diagnostic(
        code(migrate::record_invalid),
        help("restore it from git history, or record it again with `migrate env record`")
    )]
    Invalid { path: String, reason: String, line: usize, column: usize },
    #[error("`{path}` has format version {found}; this migrate reads version {RECORD_FORMAT_VERSION}")]
    #[diagnostic(code(migrate::record_future_version), help("upgrade migrate"))]
    FutureVersion { path: String, found: u64 },
    #[error("`{path}` is the record of environment `{found}`, not `{expected}`")]
    #[diagnostic(code(migrate::record_wrong_environment), help("each `environments/<env>.json` holds only `<env>`"))]
    WrongEnvironment { path: String, found: String, expected: String },
}

impl EnvironmentRecord {
    /// Parses a record, checking the format version before anything else.
    pub fn parse(path: &str, expected_env: &str, bytes: &[u8]) -> Result<EnvironmentRecord, RecordError> {
        let invalid = |e: serde_json::Error| RecordError::Invalid {
            path: path.to_string(),
            reason: e.to_string().split(" at line ").next().unwrap_or_default().to_string(),
            line: e.line(),
            column: e.column(),
        };
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(invalid)?;
        let found = value.get("format_version").and_then(serde_json::Value::as_u64).unwrap_or(0);
        if found > u64::from(RECORD_FORMAT_VERSION) {
            return Err(RecordError::FutureVersion { path: path.to_string(), found });
        }
        let record: EnvironmentRecord = serde_json::from_slice(bytes).map_err(invalid)?;
        if record.environment != expected_env {
            return Err(RecordError::WrongEnvironment {
                path: path.to_string(),
                found: record.environment,
                expected: expected_env.to_string(),
            });
        }
        Ok(record)
    }

    /// Returns the least advanced target (smallest head depth; ties by target id) and whether
    /// the targets disagree on the release they hold.
    pub fn least_advanced(&self) -> Option<(&str, &Receipt, bool)> {
        let (id, receipt) = self
            .targets
            .iter()
            .min_by(|a, b| a.1.source.head_depth.cmp(&b.1.source.head_depth).then_with(|| a.0.cmp(b.0)))?;
        let disagree = self.targets.values().any(|r| r.release.id != receipt.release.id);
        Some((id.as_str(), receipt, disagree))
    }
}

/// Where a migration was recorded as shipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippedMigration {
    pub sha256: ContentHash,
    pub environment: String,
    pub target_id: String,
    pub partial: bool,
}

/// Every `(dialect, version)` that any environment record holds.
pub fn shipped_migrations(records: &[EnvironmentRecord]) -> BTreeMap<(Dialect, Version), Vec<ShippedMigration>> {
    let mut shipped: BTreeMap<(Dialect, Version), Vec<ShippedMigration>> = BTreeMap::new();
    for record in records {
        for (target_id, receipt) in &record.targets {
            for (dialect, migrations) in &receipt.migrations {
                for m in migrations {
                    shipped.entry((*dialect, m.version.clone())).or_default().push(ShippedMigration {
                        sha256: m.sha256.clone(),
                        environment: record.environment.clone(),
                        target_id: target_id.clone(),
                        partial: m.status == MigrationStatus::Partial,
                    });
                }
            }
        }
    }
    shipped
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(depth: u64, release: &[u8]) -> Receipt {
        Receipt {
            format_version: 1,
            environment: "prod".into(),
            project: "inventory".into(),
            target_id: format!("t{depth}"),
            database: "sqlite:db.sqlite3".into(),
            release: ReceiptRelease { id: ContentHash::of(release), version: None },
            source: ReceiptSource { head_commit: "0".repeat(40), head_depth: depth },
            migrations: BTreeMap::from([(
                Dialect::Sqlite,
                vec![AppliedMigration {
                    version: Version::parse("1").unwrap(),
                    sha256: ContentHash::of(b"m"),
                    status: MigrationStatus::Applied,
                    statements: None,
                }],
            )]),
            assets: vec![],
            skipped: vec![],
            applied_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn round_trip_and_least_advanced() {
        let record = EnvironmentRecord {
            format_version: 1,
            environment: "prod".into(),
            targets: BTreeMap::from([("b".into(), sample(7, b"r2")), ("a".into(), sample(5, b"r1"))]),
        };
        let bytes = serde_json::to_vec(&record).unwrap();
        let parsed = EnvironmentRecord::parse("environments/prod.json", "prod", &bytes).unwrap();
        assert_eq!(parsed, record);
        let (id, receipt, disagree) = parsed.least_advanced().unwrap();
        assert_eq!((id, receipt.source.head_depth, disagree), ("a", 5, true));
        assert_eq!(shipped_migrations(&[parsed]).len(), 1);
    }

    #[test]
    fn future_versions_and_typos_are_refused() {
        let future = br#"{"format_version": 2, "environment": "prod", "targets": {}, "new": 1}"#;
        assert!(matches!(
            EnvironmentRecord::parse("p.json", "prod", future),
            Err(RecordError::FutureVersion { found: 2, .. })
        ));
        let typo = b"{\"format_version\": 1,\n \"environment\": \"prod\", \"targetz\": {}}";
        assert!(matches!(EnvironmentRecord::parse("p.json", "prod", typo), Err(RecordError::Invalid { line: 2, .. })));
        let other = br#"{"format_version": 1, "environment": "test", "targets": {}}"#;
        assert!(matches!(EnvironmentRecord::parse("p.json", "prod", other), Err(RecordError::WrongEnvironment { .. })));
    }
}

/// `migrate env show`: every target of an environment against the project at a revision.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[schemars(title = "migrate env show output")]
pub struct EnvironmentView {
    /// Format version of this document; `1`.
    pub format_version: u32,
    pub environment: String,
    /// The revision the targets are compared with (`WORKTREE`, a branch, a commit).
    pub compared_with: String,
    pub targets: Vec<TargetView>,
}

/// One target of an environment, from its latest receipt.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TargetView {
    pub target_id: String,
    /// Without its password.
    pub database: String,
    pub release: ReceiptRelease,
    pub applied_at: String,
    /// Per dialect: what the target holds against the project.
    pub migrations: BTreeMap<Dialect, MigrationsView>,
    /// Assets the target skipped, with the copy it keeps.
    pub skipped: Vec<HeldAsset>,
}

/// A target's migrations of one dialect against the project.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct MigrationsView {
    /// Migrations recorded as applied.
    pub applied: usize,
    /// Migrations that stopped part-way (a re-run resumes them).
    pub partial: Vec<PartialView>,
    /// Migrations of the project the target does not have.
    pub pending: Vec<Version>,
    /// Migrations the target ran whose text differs from the project's, or that the project no
    /// longer has.
    pub differ: Vec<Version>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PartialView {
    pub version: Version,
    pub done: u32,
    pub total: u32,
}

/// Compares every target of `record` with the project's migrations (`project`: per dialect,
/// version → sha256 of the effective file), targets in id order.
pub fn environment_view(
    record: &EnvironmentRecord,
    compared_with: &str,
    project: &BTreeMap<Dialect, BTreeMap<Version, ContentHash>>,
) -> EnvironmentView {
    let empty = BTreeMap::new();
    let targets = record
        .targets
        .values()
        .map(|receipt| {
            let dialects: std::collections::BTreeSet<Dialect> =
                receipt.migrations.keys().chain(project.keys()).copied().collect();
            let migrations = dialects
                .into_iter()
                .map(|dialect| {
                    let held = receipt.migrations.get(&dialect).map(Vec::as_slice).unwrap_or_default();
                    let known = project.get(&dialect).unwrap_or(&empty);
                    let partial = held
                        .iter()
                        .filter(|m| m.status == MigrationStatus::Partial)
                        .map(|m| PartialView {
                            version: m.version.clone(),
                            done: m.statements.map_or(0, |s| s.done),
                            total: m.statements.map_or(0, |s| s.total),
                        })
                        .collect();
                    let pending = known.keys().filter(|v| !held.iter().any(|m| &m.version == *v)).cloned().collect();
                    let differ = held
                        .iter()
                        .filter(|m| known.get(&m.version) != Some(&m.sha256))
                        .map(|m| m.version.clone())
                        .collect();
                    let applied = held.iter().filter(|m| m.status == MigrationStatus::Applied).count();
                    (dialect, MigrationsView { applied, partial, pending, differ })
                })
                .collect();
            TargetView {
                target_id: receipt.target_id.clone(),
                database: crate::core::redact::redact(&receipt.database),
                release: receipt.release.clone(),
                applied_at: receipt.applied_at.clone(),
                migrations,
                skipped: receipt.skipped.clone(),
            }
        })
        .collect();
    EnvironmentView {
        format_version: RECORD_FORMAT_VERSION,
        environment: record.environment.clone(),
        compared_with: compared_with.to_string(),
        targets,
    }
}
