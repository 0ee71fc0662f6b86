//! What an import records once it has run: the target's next `state.json` and its receipt.
//! Pure: the shell reads the asset files and the history back, and writes what comes out.

use std::collections::BTreeMap;

use crate::core::decide::{AssetStep, DecisionKind};
use crate::core::hash::ContentHash;
use crate::core::manifest::Manifest;
use crate::core::model::Dialect;
use crate::core::record::{
    AppliedAsset, AppliedMigration, MigrationStatus, RECORD_FORMAT_VERSION, Receipt, ReceiptRelease, ReceiptSource,
    StatementProgress,
};
use crate::core::state::{
    HistoryRow, ImportEntry, PartialMigration, RecordedMigration, STATE_FORMAT_VERSION, StateRelease, TargetState,
};

/// What is known about a target after an apply, finished or not.
pub struct AfterApply<'a> {
    pub manifest: &'a Manifest,
    /// The state before the import (`None`: a new target).
    pub before: Option<&'a TargetState>,
    pub target_id: &'a str,
    /// `--env`, recorded when the target has none yet.
    pub environment: Option<&'a str>,
    /// The database, as a URL without its password.
    pub database: &'a str,
    pub dialect: Dialect,
    /// The history table as read back after the apply.
    pub history: &'a [HistoryRow],
    /// Each asset step, with the sha256 of its file now (`None`: no file).
    pub assets: Vec<(&'a AssetStep, Option<ContentHash>)>,
}

/// How the apply ended.
pub enum Ending<'a> {
    /// Every step ran.
    Applied { kind: DecisionKind, migrations: usize, assets: usize, finished_at: &'a str },
    /// It stopped after changes were committed; `partial` is the migration left part-way.
    Stopped { partial: Option<PartialMigration> },
}

/// The target's next state: the history as it is now, every asset written or deleted (even when
/// the apply stopped part-way), and, when it finished, the release it holds and the import's
/// entry.
pub fn state_after(after: &AfterApply<'_>, ending: Ending<'_>) -> TargetState {
    let manifest = after.manifest;
    let mut state = after.before.cloned().unwrap_or_else(|| TargetState {
        format_version: STATE_FORMAT_VERSION,
        target_id: after.target_id.to_string(),
        environment: after.environment.map(str::to_string),
        database: after.database.to_string(),
        dialect: after.dialect,
        project: manifest.project.clone(),
        history_table: manifest.history_table.clone(),
        release: None,
        assets: BTreeMap::new(),
        skipped: Vec::new(),
        history: Vec::new(),
        partial: None,
        imports: Vec::new(),
    });
    state.history = after
        .history
        .iter()
        .map(|row| RecordedMigration { version: row.version.clone(), sha256: row.sha256.clone() })
        .collect();
    if state.environment.is_none() {
        state.environment = after.environment.map(str::to_string);
    }
    for (step, found) in &after.assets {
        match found {
            Some(sha256) if *sha256 == step.sha256 => {
                state.assets.insert(step.id.clone(), step.sha256.clone());
            }
            None if step.member.is_none() => {
                state.assets.remove(&step.id);
            }
            _ => {}
        }
    }
    match ending {
        Ending::Applied { kind, migrations, assets, finished_at } => {
            let held = crate::core::selection::held_release_id(manifest, &state.assets);
            state.skipped = crate::core::selection::skipped_after(manifest, after.before, &state.assets);
            state.release = Some(StateRelease {
                id: held.clone(),
                version: manifest.release.version.clone(),
                head_commit: manifest.source.head.commit.clone(),
                head_depth: manifest.source.head_depth,
            });
            state.partial = None;
            state.imports.push(ImportEntry {
                release_id: held,
                decision: kind.name().to_string(),
                migrations,
                assets,
                finished_at: finished_at.to_string(),
            });
        }
        Ending::Stopped { partial } => state.partial = partial,
    }
    state
}

/// The receipt of a target's state (for `migrate env record`); `None` when the target has no
/// environment, which a receipt must name.
pub fn receipt(state: &TargetState, manifest: &Manifest, history: &[HistoryRow], now: &str) -> Option<Receipt> {
    let environment = state.environment.clone()?;
    let migrations = history
        .iter()
        .map(|row| AppliedMigration {
            version: row.version.clone(),
            sha256: row.sha256.clone(),
            status: if row.statements_done == row.statements_total {
                MigrationStatus::Applied
            } else {
                MigrationStatus::Partial
            },
            statements: (row.statements_done != row.statements_total)
                .then_some(StatementProgress { done: row.statements_done, total: row.statements_total }),
        })
        .collect();
    Some(Receipt {
        format_version: RECORD_FORMAT_VERSION,
        environment,
        project: state.project.clone(),
        target_id: state.target_id.clone(),
        database: crate::core::redact::redact(&state.database),
        release: ReceiptRelease {
            id: crate::core::selection::held_release_id(manifest, &state.assets),
            version: manifest.release.version.clone(),
        },
        source: ReceiptSource {
            head_commit: manifest.source.head.commit.clone(),
            head_depth: manifest.source.head_depth,
        },
        migrations: BTreeMap::from([(state.dialect, migrations)]),
        assets: state
            .assets
            .iter()
            .map(|(id, sha256)| AppliedAsset { id: id.clone(), sha256: sha256.clone() })
            .collect(),
        skipped: state.skipped.clone(),
        applied_at: now.to_string(),
    })
}
