//! Head (and base) snapshots → the bundle's manifest and members. Pure: the shell reads the
//! snapshots, this decides what ships, and `archive` writes the bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::core::hash::ContentHash;
use crate::core::hazard;
use crate::core::manifest::{
    Action, BUNDLE_FORMAT_VERSION, BundleKind, BundleSource, HistoryRow, Item, ItemType, Manifest, ManifestHazard,
    MigrationInfo, Release, ReleaseKind, Requires, SkippedAsset, SourceRef, StatementInfo,
};
use crate::core::model::{Dialect, ItemId, Version};
use crate::core::project::{HAZARD_CATEGORIES, Project, RuleSeverity};
use crate::core::selection::AssetDecision;
use crate::core::snapshot::{Snapshot, SnapshotMigration};
use crate::core::sql_script;
use crate::core::sql_split;

/// The base side of an incremental or downgrade bundle.
pub struct BaseSide<'a> {
    pub snapshot: &'a Snapshot,
    pub reference: SourceRef,
    /// The release a target at the base holds.
    pub release_id: ContentHash,
    /// Whether the head is older than the base.
    pub downgrade: bool,
}

/// What to bundle.
pub struct BundleRequest<'a> {
    pub project: &'a Project,
    pub head: &'a Snapshot,
    pub head_ref: SourceRef,
    pub head_depth: u64,
    pub base: Option<BaseSide<'a>>,
    pub environment: Option<String>,
    /// What happens to each asset that differs: from the plan (`selection::from_plan`), or for
    /// a full bundle from the head (`selection::for_snapshot`).
    pub assets: &'a [AssetDecision],
    pub release_version: Option<String>,
    /// `--skip-promotion REASON`, recorded in the manifest.
    pub skip_promotion: Option<String>,
    /// Threads for parsing the migrations' SQL.
    pub threads: usize,
}

/// A bundle before it is written: the manifest and every other member, sorted by path.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub manifest: Manifest,
    /// Every member but the offline scripts, sorted by path. Every member is text; sharing the
    /// snapshot's texts keeps a 100,000-asset export small.
    pub members: BTreeMap<String, Arc<str>>,
    /// The offline scripts (`sql/<dialect>.sql`, after every other member): listed and hashed in
    /// the manifest, and rendered again as they are written (`script`), so that the script of
    /// a 56 MB data migration is never held whole.
    pub scripts: Vec<(String, Dialect)>,
}

impl Bundle {
    /// Renders the offline script of `dialect` into `out`, exactly as the manifest hashed it.
    pub fn script(&self, dialect: Dialect, out: &mut dyn std::fmt::Write) -> Result<(), BundleError> {
        sql_script::render(&self.manifest, dialect, &self.members, out)
            .map_err(|refusal| BundleError::Internal(refusal.message))
    }
}

/// Why a bundle cannot be made.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum BundleError {
    #[error("migration `{name}` ({dialect}) has no down section, so the downgrade cannot undo it")]
    #[diagnostic(
        code(migrate::missing_down),
        help("add a `-- migrate:down` section to `{path}` in the base, or ship a new migration that undoes it")
    )]
    MissingDown { dialect: Dialect, name: String, path: String },
    #[error("`{version}` ({dialect}) exists at the head but not at the base: the history has diverged, not gone back")]
    #[diagnostic(code(migrate::diverged), help("a downgrade bundle goes from a base to one of its ancestors"))]
    Diverged { dialect: Dialect, version: Version },
    #[error("{0}")]
    #[diagnostic(code(migrate::internal))]
    Internal(String),
}

/// Builds the manifest and members.
pub fn build(request: &BundleRequest<'_>) -> Result<Bundle, BundleError> {
    let project = request.project;
    let head = request.head;
    let mut items = Vec::new();
    let mut members: BTreeMap<String, Arc<str>> = BTreeMap::new();
    let downgrade = request.base.as_ref().is_some_and(|b| b.downgrade);

    for &dialect in &project.config.dialects {
        let empty = BTreeMap::new();
        let head_versions = head.migrations.get(&dialect).unwrap_or(&empty);
        let base_versions = request.base.as_ref().and_then(|b| b.snapshot.migrations.get(&dialect));
        // The migrations this bundle runs, in the order it runs them: (migration, action,
        // section, the section's first line in the file).
        let mut runs: Vec<(&SnapshotMigration, Action, &str, usize)> = Vec::new();
        if downgrade {
            let base_versions = base_versions.unwrap_or(&empty);
            if let Some(version) = head_versions.keys().find(|v| !base_versions.contains_key(*v)) {
                return Err(BundleError::Diverged { dialect, version: version.clone() });
            }
            for (version, migration) in base_versions.iter().rev() {
                if head_versions.contains_key(version) {
                    continue;
                }
                let Some(down) = migration.parsed.down() else {
                    return Err(BundleError::MissingDown {
                        dialect,
                        name: migration.file.name.clone(),
                        path: project.repo_path(&migration.file.path),
                    });
                };
                runs.push((migration, Action::Revert, down, migration.parsed.down_line.unwrap_or(1)));
            }
        } else {
            for (version, migration) in head_versions {
                if base_versions.is_some_and(|b| b.contains_key(version)) {
                    continue; // shipped at the base; `plan` refused edits before we got here
                }
                runs.push((migration, Action::Apply, migration.parsed.up(), 1));
            }
        }
        // Splitting and parsing are most of the cost, and independent per migration: done on
        // every thread, a chunk at a time so that only one chunk's syntax trees are alive. A
        // chunk holds up to 512 migrations and `CHUNK_BYTES` of SQL; a larger migration is read
        // alone, one statement at a time, its syntax trees let go as they are looked at.
        let mut created_tables = BTreeSet::new(); // tables the release creates, in order, as in `plan`
        let mut start = 0;
        while start < runs.len() {
            let (migration, action, section, line) = runs[start];
            if section.len() > CHUNK_BYTES {
                let mut context = hazard::Context {
                    dialect,
                    no_transaction: migration.parsed.no_transaction,
                    overrides: &project.config.hazards,
                    created_tables: &mut created_tables,
                };
                let mut statements = Vec::new();
                let read = sql_split::statements(section, dialect).map(|s| {
                    statements.push(statement_info(&s, line));
                    (hazard::Place::of(&s), hazard::parse(dialect, &s))
                });
                let found = hazard::analyse_parsed(section, read, &mut context);
                items.push(migration_item(dialect, migration, action, statements, line, found, &mut members));
                start += 1;
                continue;
            }
            let mut end = start;
            let mut bytes = 0;
            while end < runs.len() && end - start < 512 && bytes + runs[end].2.len() <= CHUNK_BYTES {
                bytes += runs[end].2.len();
                end += 1;
            }
            let chunk = runs[start..end.max(start + 1)].to_vec();
            start = end.max(start + 1);
            let read = crate::core::parallel::map(chunk, request.threads, |(migration, action, section, line)| {
                // Each statement is hashed, placed and read, and its text let go.
                let (mut infos, mut read) = (Vec::new(), Vec::new());
                for s in sql_split::statements(section, dialect) {
                    infos.push(statement_info(&s, line));
                    read.push((hazard::Place::of(&s), hazard::parse(dialect, &s)));
                }
                Ok((migration, action, section, line, infos, read))
            })
            .map_err(|e| BundleError::Internal(e.to_string()))?;
            for (migration, action, section, line, statements, parsed) in read {
                let mut context = hazard::Context {
                    dialect,
                    no_transaction: migration.parsed.no_transaction,
                    overrides: &project.config.hazards,
                    created_tables: &mut created_tables,
                };
                let found = hazard::analyse_parsed(section, parsed, &mut context);
                items.push(migration_item(dialect, migration, action, statements, line, found, &mut members));
            }
        }
    }

    // What a skipped asset counts as in the release id: the copy a target at the base keeps; a
    // full bundle does not know it (each target records what it holds).
    let mut kept: BTreeMap<ItemId, Option<ContentHash>> = BTreeMap::new();
    let mut skipped = Vec::new();
    // Written and skipped assets first, then deletions, each in identity order.
    let (present, gone): (Vec<&AssetDecision>, Vec<&AssetDecision>) =
        request.assets.iter().partition(|d| head.assets.get(&d.id).is_some_and(|a| a.sha256 == d.sha256));
    for decision in present.into_iter().chain(gone) {
        let id = &decision.id;
        let (path, size) = match (decision.action, head.assets.get(id)) {
            (Action::Upsert, Some(asset)) => {
                let path = format!("assets/{id}.yaml");
                members.insert(path.clone(), Arc::clone(&asset.text));
                (Some(path), asset.text.len() as u64)
            }
            (Action::Upsert, None) => {
                return Err(BundleError::Internal(format!("asset `{id}` ships but the head does not have it")));
            }
            _ => (None, 0),
        };
        if decision.action == Action::Skip {
            kept.insert(id.clone(), decision.kept.clone());
            skipped.push(SkippedAsset { id: id.clone(), kept: decision.kept.clone(), always: decision.always });
        }
        items.push(Item {
            item_type: ItemType::Asset,
            identity: id.to_string(),
            dialect: None,
            path,
            action: decision.action,
            sha256: decision.sha256.clone(),
            size,
            migration: None,
            depends_on: decision.depends_on.clone(),
        });
    }

    // Kind and bump as `plan` decides them: SQL is migrations or changed session statements.
    let base_session = request.base.as_ref().map(|b| &b.snapshot.session);
    let session_changed = base_session.map_or(!head.session.is_empty(), |base| *base != head.session);
    let sql_changes = session_changed || items.iter().any(|i| i.item_type == ItemType::Migration);
    let ships_assets = items.iter().any(|i| matches!(i.action, Action::Upsert | Action::Delete));
    let breaking = items
        .iter()
        .filter_map(|i| i.migration.as_ref())
        .any(|m| m.hazards.iter().any(|h| crate::core::plan::is_breaking_rule(&h.rule)));
    let bump = crate::core::plan::release_bump(sql_changes, ships_assets, breaking);
    let kind = if sql_changes { ReleaseKind::Migration } else { ReleaseKind::Deployment };
    let bundle_kind = match &request.base {
        None => BundleKind::Full,
        Some(b) if b.downgrade => BundleKind::Downgrade,
        Some(_) => BundleKind::Incremental,
    };
    let mut manifest = Manifest {
        format_version: BUNDLE_FORMAT_VERSION,
        project: project.config.project.clone(),
        history_table: project.config.history_table.clone(),
        hazards: hazards_in_force(project),
        allow_out_of_order: project.config.allow_out_of_order,
        release: Release {
            id: head.state_id(&kept),
            version: request.release_version.clone(),
            kind,
            bump,
            bundle: bundle_kind,
        },
        source: BundleSource {
            base: request.base.as_ref().map(|b| b.reference.clone()),
            head: request.head_ref.clone(),
            head_depth: request.head_depth,
        },
        environment: request.environment.clone(),
        promotion_skipped: request.skip_promotion.clone(),
        requires: Requires {
            release_id: request.base.as_ref().map(|b| b.release_id.clone()),
            history: project
                .config
                .dialects
                .iter()
                .map(|&dialect| {
                    let rows = request
                        .base
                        .as_ref()
                        .and_then(|b| b.snapshot.migrations.get(&dialect))
                        .map(|versions| {
                            versions
                                .iter()
                                .map(|(version, m)| HistoryRow { version: version.clone(), sha256: m.sha256.clone() })
                                .collect()
                        })
                        .unwrap_or_default();
                    (dialect, rows)
                })
                .collect(),
        },
        dialects: project.config.dialects.clone(),
        session: head
            .session
            .iter()
            .map(|(dialect, statements)| {
                let sha256 = crate::core::hash::session_sha256(statements);
                (*dialect, crate::core::manifest::Session { statements: statements.clone(), sha256 })
            })
            .collect(),
        skipped: {
            skipped.sort_by(|a, b| a.id.cmp(&b.id));
            skipped
        },
        keep_always: match &request.base {
            None => crate::core::selection::keep_always_globs(project, request.environment.as_deref()),
            Some(_) => Vec::new(),
        },
        items,
    };
    // The offline scripts are rendered from the items above, so what a DBA reads is what
    // `import` runs; they are items themselves, hashed like every other member.
    let mut scripts = Vec::new();
    for &dialect in &project.config.dialects {
        let mut digest = crate::core::hash::HashingWriter::default();
        sql_script::render(&manifest, dialect, &members, &mut digest)
            .map_err(|refusal| BundleError::Internal(refusal.message))?;
        let (sha256, size) = digest.finish();
        let path = format!("sql/{dialect}.sql");
        manifest.items.push(Item {
            item_type: ItemType::Script,
            identity: dialect.to_string(),
            dialect: Some(dialect),
            path: Some(path.clone()),
            action: Action::Include,
            sha256,
            size,
            migration: None,
            depends_on: Vec::new(),
        });
        scripts.push((path, dialect));
    }
    scripts.sort();
    Ok(Bundle { manifest, members, scripts })
}

/// The SQL a chunk of migrations read on all threads may hold (the syntax trees of a chunk are
/// alive together); a larger migration is read one statement at a time.
const CHUNK_BYTES: usize = 4 << 20;

/// A statement as the manifest lists it; lines count in the whole file (`line` is the
/// section's first).
fn statement_info(statement: &sql_split::Statement, line: usize) -> StatementInfo {
    StatementInfo { sha256: ContentHash::of(statement.text.as_bytes()), line: statement.line + line - 1 }
}

fn migration_item(
    dialect: Dialect,
    migration: &SnapshotMigration,
    action: Action,
    statements: Vec<StatementInfo>,
    section_line: usize,
    hazards: Vec<hazard::Hazard>,
    members: &mut BTreeMap<String, Arc<str>>,
) -> Item {
    let file_name = migration.file.path.rsplit('/').next().unwrap_or(&migration.file.path);
    let path = format!("migrations/{file_name}");
    members.insert(path.clone(), Arc::clone(&migration.text));
    // Statement lines count in the whole file: the down section starts after the up section.
    let line_offset = section_line - 1;
    Item {
        item_type: ItemType::Migration,
        identity: migration.file.version.to_string(),
        dialect: Some(dialect),
        path: Some(path),
        action,
        sha256: migration.sha256.clone(),
        size: migration.text.len() as u64,
        migration: Some(MigrationInfo {
            name: migration.file.name.clone(),
            file_sha256: migration.sha256.clone(),
            transactional: !migration.parsed.no_transaction,
            statements,
            hazards: hazards
                .into_iter()
                .map(|h| ManifestHazard {
                    rule: h.rule.to_string(),
                    severity: h.severity,
                    line: h.line + line_offset,
                    message: h.message,
                    allowed: h.allowed,
                })
                .collect(),
        }),
        depends_on: Vec::new(),
    }
}

/// Returns the severity of every hazard category after `migrate.yaml`'s overrides, plus the
/// rule-level overrides.
pub fn hazards_in_force(project: &Project) -> BTreeMap<String, RuleSeverity> {
    let mut rules: BTreeMap<String, RuleSeverity> =
        HAZARD_CATEGORIES.iter().map(|(category, severity)| (category.to_string(), *severity)).collect();
    for (key, severity) in &project.config.hazards {
        rules.insert(key.clone(), *severity);
    }
    rules
}
