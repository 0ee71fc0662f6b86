//! What `import` did or, with `--dry-run`, would do: one document for `--format json`, and the
//! text a dry run prints (the SQL the import would run, in the offline script's words).

use std::fmt::Write as _;

use serde::Serialize;

use crate::core::decide::{DecisionKind, Steps};
use crate::core::hash::ContentHash;
use crate::core::manifest::{Manifest, ManifestHazard};
use crate::core::model::{Dialect, ItemId, Version};

/// The format version of `import --format json`.
pub const IMPORT_FORMAT_VERSION: u32 = 1;

/// What `import --format json` prints, with and without `--dry-run`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(title = "migrate import --format json")]
pub struct ImportReport {
    /// Format version of this document; `1`.
    pub format_version: u32,
    /// `true` when nothing was changed: the document says what the import would do.
    pub dry_run: bool,
    pub decision: ImportDecision,
    /// The release the target holds afterwards.
    pub release_id: ContentHash,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_version: Option<String>,
    /// The project's session statements for the target's dialect: every import session runs
    /// them first.
    pub session: Vec<String>,
    /// History rows written by the bundle's offline script, taken over without running anything.
    pub adopted: Vec<Version>,
    /// In the order they run.
    pub migrations: Vec<ImportedMigration>,
    /// Writes in `depends_on` order, then deletes.
    pub assets: Vec<ImportedAsset>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportDecision {
    Initialise,
    Upgrade,
    Downgrade,
    Resume,
    /// The target already holds the release.
    NothingToDo,
}

impl From<DecisionKind> for ImportDecision {
    fn from(kind: DecisionKind) -> Self {
        match kind {
            DecisionKind::Initialise => ImportDecision::Initialise,
            DecisionKind::Upgrade => ImportDecision::Upgrade,
            DecisionKind::Downgrade => ImportDecision::Downgrade,
            DecisionKind::Resume => ImportDecision::Resume,
        }
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ImportedMigration {
    pub version: Version,
    pub name: String,
    pub action: MigrationAction,
    /// `false` for `-- migrate:no-transaction` migrations, whose statements run one at a time.
    pub transactional: bool,
    /// Statements an earlier import already ran; the import resumes after them.
    pub resume_after: usize,
    /// The statements that run, without those already run.
    pub statements: Vec<ImportedStatement>,
    pub hazards: Vec<ManifestHazard>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MigrationAction {
    Apply,
    /// The down section runs (a downgrade bundle).
    Revert,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ImportedStatement {
    /// 1-based line in the migration file.
    pub line: usize,
    pub sha256: ContentHash,
    pub sql: String,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ImportedAsset {
    pub id: ItemId,
    pub action: AssetAction,
    pub sha256: ContentHash,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AssetAction {
    Upsert,
    Delete,
}

/// The report of an import of `manifest` into a `dialect` target that runs `steps` (`None`:
/// nothing to do).
pub fn import_report(manifest: &Manifest, dialect: Dialect, steps: Option<&Steps>, dry_run: bool) -> ImportReport {
    let migrations = steps.map(|s| s.migrations.as_slice()).unwrap_or_default();
    let assets = steps.map(|s| s.assets.as_slice()).unwrap_or_default();
    ImportReport {
        format_version: IMPORT_FORMAT_VERSION,
        dry_run,
        decision: steps.map_or(ImportDecision::NothingToDo, |s| s.kind.into()),
        release_id: manifest.release.id.clone(),
        release_version: manifest.release.version.clone(),
        session: manifest.session.get(&dialect).map(|s| s.statements.clone()).unwrap_or_default(),
        adopted: steps.map(|s| s.adopted.clone()).unwrap_or_default(),
        migrations: migrations
            .iter()
            .map(|m| ImportedMigration {
                version: m.version.clone(),
                name: m.name.clone(),
                action: if m.revert { MigrationAction::Revert } else { MigrationAction::Apply },
                transactional: m.transactional,
                resume_after: m.start_at,
                statements: m
                    .statements
                    .iter()
                    .skip(m.start_at)
                    .map(|s| ImportedStatement {
                        line: s.line,
                        sha256: s.sha256.clone(),
                        sql: m.text_of(s).to_string(),
                    })
                    .collect(),
                hazards: m.hazards.clone(),
            })
            .collect(),
        assets: assets
            .iter()
            .map(|a| ImportedAsset {
                id: a.id.clone(),
                action: if a.member.is_some() { AssetAction::Upsert } else { AssetAction::Delete },
                sha256: a.sha256.clone(),
            })
            .collect(),
    }
}

impl ImportDecision {
    pub fn name(self) -> &'static str {
        match self {
            ImportDecision::Initialise => "initialise",
            ImportDecision::Upgrade => "upgrade",
            ImportDecision::Downgrade => "downgrade",
            ImportDecision::Resume => "resume",
            ImportDecision::NothingToDo => "nothing to do",
        }
    }
}

/// A dry run for people: the decision, then each migration's hazards and SQL, then the assets;
/// or the one line of an import that has nothing to do.
pub fn dry_run_text(report: &ImportReport) -> String {
    if report.decision == ImportDecision::NothingToDo {
        return format!("nothing to do: the target holds release {}\n", report.release_id);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "dry run: the import would {} the target to release {}",
        report.decision.name(),
        report.release_id
    );
    if !report.session.is_empty() {
        let _ = writeln!(out, "\n-- session: run first");
        for statement in &report.session {
            let _ = writeln!(out, "{statement};");
        }
    }
    for version in &report.adopted {
        let _ = writeln!(out, "\n-- adopt migration {version}, already applied by the offline script");
    }
    for step in &report.migrations {
        let what = match step.action {
            MigrationAction::Revert => "revert",
            MigrationAction::Apply => "migration",
        };
        let tx = if step.transactional { "" } else { ", no transaction" };
        let n = step.statements.len() + step.resume_after;
        let resumed = if step.resume_after > 0 {
            format!(", resuming after statement {}", step.resume_after)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "\n-- {what} {} {} ({n} statement{}{tx}{resumed})",
            step.version,
            step.name,
            if n == 1 { "" } else { "s" }
        );
        for hazard in &step.hazards {
            let allowed = hazard.allowed.as_ref().map(|r| format!(" (allowed: {r})")).unwrap_or_default();
            let _ = writeln!(
                out,
                "-- {} {} at line {}: {}{allowed}",
                hazard.severity.name(),
                hazard.rule,
                hazard.line,
                hazard.message
            );
        }
        for statement in &step.statements {
            let _ = writeln!(out, "{};", statement.sql);
        }
    }
    if !report.assets.is_empty() {
        out.push('\n');
    }
    for asset in &report.assets {
        let what = match asset.action {
            AssetAction::Upsert => "write ",
            AssetAction::Delete => "delete",
        };
        let _ = writeln!(out, "{what} assets/{}.yaml", asset.id);
    }
    out
}
