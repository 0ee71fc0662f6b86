//! A target's identity kept in its database, beside the history table (`<history>_target`, one
//! row): project, target id, environment and release, so that a new or missing folder pointed at
//! the database is that same target, and `status --db URL` reads a target without its folder.
//!
//! The folder's `state.json` and the database's row are written by every import; when both
//! exist they must name the same project, target and environment (two folders on one database,
//! or a database restored from another target, are refused). When only the row exists, the
//! target's state is rebuilt from it: what the folder held (its assets) is gone, so a bundle
//! that needs them is refused.

use serde::{Deserialize, Serialize};

use crate::core::decide::Refusal;
use crate::core::manifest::{BundleKind, ItemType, Manifest};

use crate::core::model::Dialect;
use crate::core::state::{
    HistoryRow, PartialMigration, RecordedMigration, STATE_FORMAT_VERSION, StateRelease, TargetState,
};

/// The identity table's name: the history table's with `_target` after it.
pub fn identity_table(history_table: &str) -> String {
    format!("{history_table}_target")
}

/// The identity table's `CREATE TABLE IF NOT EXISTS`, without a terminator. One row (`id` 1).
pub fn identity_table_ddl(dialect: Dialect, history_table: &str) -> String {
    let table = identity_table(history_table);
    let columns = match dialect {
        Dialect::Sqlite => {
            "  id              INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
  project         TEXT    NOT NULL,
  target_id       TEXT    NOT NULL,
  environment     TEXT,
  release_id      TEXT,
  release_version TEXT,
  detail          TEXT    NOT NULL,
  updated_at      TEXT    NOT NULL
)"
        }
        Dialect::Postgres => {
            "  id              integer NOT NULL PRIMARY KEY CHECK (id = 1),
  project         text    NOT NULL,
  target_id       text    NOT NULL,
  environment     text,
  release_id      text,
  release_version text,
  detail          text    NOT NULL,
  updated_at      text    NOT NULL
)"
        }
        Dialect::Mysql => {
            "  id              INT          NOT NULL PRIMARY KEY,
  project         VARCHAR(255) NOT NULL,
  target_id       VARCHAR(255) NOT NULL,
  environment     VARCHAR(255) NULL,
  release_id      VARCHAR(255) NULL,
  release_version VARCHAR(255) NULL,
  detail          LONGTEXT     NOT NULL,
  updated_at      VARCHAR(64)  NOT NULL
) ENGINE=InnoDB"
        }
    };
    format!("CREATE TABLE IF NOT EXISTS {table} (\n{columns}")
}

/// The identity table's columns besides `id`, in the order of `IdentityRow`.
pub const IDENTITY_COLUMNS: &str = "project, target_id, environment, release_id, release_version, detail, updated_at";

/// The identity row as a driver reads and writes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdentityRow {
    pub project: String,
    pub target_id: String,
    pub environment: Option<String>,
    pub release_id: Option<String>,
    pub release_version: Option<String>,
    /// JSON: what the columns do not say (`Detail`).
    pub detail: String,
    pub updated_at: String,
}

/// The part of the identity kept as JSON in the `detail` column.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Detail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    head_commit: Option<String>,
    #[serde(default)]
    head_depth: u64,
    /// How many assets the target's folder holds.
    #[serde(default)]
    assets: usize,
    /// A migration an import stopped in (exit 4), as `state.json` records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    partial: Option<PartialMigration>,
}

/// A target's identity, as its database keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetIdentity {
    pub project: String,
    pub target_id: String,
    pub environment: Option<String>,
    pub release: Option<StateRelease>,
    /// How many assets the target's folder holds.
    pub assets: usize,
    pub partial: Option<PartialMigration>,
}

impl TargetIdentity {
    /// The identity a target's state gives.
    pub fn of(state: &TargetState) -> TargetIdentity {
        TargetIdentity {
            project: state.project.clone(),
            target_id: state.target_id.clone(),
            environment: state.environment.clone(),
            release: state.release.clone(),
            assets: state.assets.len(),
            partial: state.partial.clone(),
        }
    }

    pub fn to_row(&self, now: &str) -> IdentityRow {
        let detail = Detail {
            head_commit: self.release.as_ref().map(|r| r.head_commit.clone()),
            head_depth: self.release.as_ref().map_or(0, |r| r.head_depth),
            assets: self.assets,
            partial: self.partial.clone(),
        };
        IdentityRow {
            project: self.project.clone(),
            target_id: self.target_id.clone(),
            environment: self.environment.clone(),
            release_id: self.release.as_ref().map(|r| r.id.to_string()),
            release_version: self.release.as_ref().and_then(|r| r.version.clone()),
            detail: serde_json::to_string(&detail).unwrap_or_else(|_| "{}".into()),
            updated_at: now.to_string(),
        }
    }

    /// Reads a row; an error says what in it is not ours.
    pub fn from_row(row: IdentityRow) -> Result<TargetIdentity, String> {
        let detail: Detail =
            serde_json::from_str(&row.detail).map_err(|e| format!("its `detail` is not what migrate writes: {e}"))?;
        let release = match row.release_id {
            Some(id) => Some(StateRelease {
                id: crate::core::hash::ContentHash::try_from(id).map_err(|e| format!("its `release_id`: {e}"))?,
                version: row.release_version,
                head_commit: detail.head_commit.unwrap_or_default(),
                head_depth: detail.head_depth,
            }),
            None => None,
        };
        if row.project.is_empty() || row.target_id.is_empty() {
            return Err("its project or target id is empty".into());
        }
        Ok(TargetIdentity {
            project: row.project,
            target_id: row.target_id,
            environment: row.environment,
            release,
            assets: detail.assets,
            partial: detail.partial,
        })
    }

    /// Whether writing `self` would change what the database says.
    pub fn differs_from(&self, recorded: Option<&TargetIdentity>) -> bool {
        recorded != Some(self)
    }
}

/// Whether a bundle writes assets (then it needs the target's folder).
pub fn carries_assets(manifest: &Manifest) -> bool {
    manifest.items.iter().any(|i| i.item_type == ItemType::Asset)
}

/// The state of a target known only from its database: no assets, and the history as the
/// database holds it (there is no other record to tell drift from).
pub fn state_from_identity(
    identity: &TargetIdentity,
    database: &str,
    dialect: Dialect,
    history_table: &str,
    history: &[HistoryRow],
) -> TargetState {
    TargetState {
        format_version: STATE_FORMAT_VERSION,
        target_id: identity.target_id.clone(),
        environment: identity.environment.clone(),
        database: database.to_string(),
        dialect,
        project: identity.project.clone(),
        history_table: history_table.to_string(),
        release: identity.release.clone(),
        assets: Default::default(),
        skipped: Vec::new(),
        history: history
            .iter()
            .map(|row| RecordedMigration { version: row.version.clone(), sha256: row.sha256.clone() })
            .collect(),
        partial: identity.partial.clone(),
        imports: Vec::new(),
    }
}

/// The folder's state and the database's identity, reconciled: the state to decide with, or why
/// the two cannot be one target. `Ok((state, true))` when the state was rebuilt from the
/// database (a new or missing folder).
pub fn reconcile(
    state: Option<TargetState>,
    identity: Option<&TargetIdentity>,
    manifest: &Manifest,
    rebuild: impl FnOnce(&TargetIdentity) -> TargetState,
) -> Result<(Option<TargetState>, bool), Refusal> {
    let Some(identity) = identity else { return Ok((state, false)) };
    if let Some(state) = state {
        let conflict = if state.project != identity.project {
            Some(format!("project `{}`, and the database's is project `{}`", state.project, identity.project))
        } else if state.target_id != identity.target_id {
            Some(format!("target {}, and the database is target {}", state.target_id, identity.target_id))
        } else {
            match (&state.environment, &identity.environment) {
                (Some(folder), Some(database)) if folder != database => {
                    Some(format!("in environment `{folder}`, and the database's target is in `{database}`"))
                }
                _ => None,
            }
        };
        return match conflict {
            Some(conflict) => Err(Refusal {
                code: "migrate::identity_conflict",
                message: format!("the target folder is {conflict}"),
                help: "a database belongs to one target: point this folder at its own database, or a new folder at this one (it becomes that target); nothing was changed".into(),
            }),
            None => Ok((Some(state), false)),
        };
    }
    // A full bundle writes every asset; any other builds on the assets the folder held.
    if identity.assets > 0 && manifest.release.bundle != BundleKind::Full {
        return Err(Refusal {
            code: "migrate::target_folder_missing",
            message: format!(
                "the database is target {}, whose folder held {} asset{}, and this folder holds none",
                identity.target_id,
                identity.assets,
                if identity.assets == 1 { "" } else { "s" }
            ),
            help:
                "restore the target's folder, or import a full bundle here (it writes every asset); nothing was changed"
                    .into(),
        });
    }
    Ok((Some(rebuild(identity)), true))
}
