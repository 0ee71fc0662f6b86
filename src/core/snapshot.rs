//! A whole project at one point, read and hashed: every asset and, per dialect, every effective
//! migration with its normalised text. `check` validates one; `export` ships one (or the
//! difference of two); the state and release ids are computed from one.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::core::catalog::{self, MigrationCatalog, MigrationFile, MigrationText};
use crate::core::finding::Finding;
use crate::core::hash::{ContentHash, StateEntry, session_sha256, state_id};
use crate::core::model::{Dialect, ItemId, Version};
use crate::core::project::Project;
use crate::core::source::{Entry, Source, SourceError};

/// An asset's normalised text.
#[derive(Debug, Clone)]
pub struct SnapshotAsset {
    /// Project-relative path.
    pub path: String,
    pub text: Arc<str>,
    pub sha256: ContentHash,
}

/// The effective file of one migration for one dialect.
#[derive(Debug, Clone)]
pub struct SnapshotMigration {
    pub file: MigrationFile,
    pub text: Arc<str>,
    pub sha256: ContentHash,
    pub parsed: MigrationText,
}

/// Everything of a project at one point.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub assets: BTreeMap<ItemId, SnapshotAsset>,
    pub migrations: BTreeMap<Dialect, BTreeMap<Version, SnapshotMigration>>,
    /// Project-relative paths that `ignore` leaves out.
    pub ignored: Vec<String>,
    /// Migration files (all, any dialect), for counting.
    pub migration_files: usize,
    /// `session:` statements per dialect (from `migrate.yaml`): part of the state.
    pub session: BTreeMap<Dialect, Vec<String>>,
}

impl Snapshot {
    /// Returns the state entries (docs/guide.md: state id), with each asset in `kept` at the copy a target
    /// keeps instead (none: left out).
    pub fn state_entries(&self, kept: &BTreeMap<ItemId, Option<ContentHash>>) -> Vec<StateEntry> {
        let head = self.assets.iter().filter(|(id, _)| !kept.contains_key(*id)).map(|(id, a)| (id, &a.sha256));
        let kept = kept.iter().filter_map(|(id, sha)| sha.as_ref().map(|sha| (id, sha)));
        let assets = head.chain(kept).map(|(id, sha256)| StateEntry {
            item_type: "asset",
            identity: id.to_string(),
            dialect: String::new(),
            sha256: sha256.clone(),
        });
        let migrations = self.migrations.iter().flat_map(|(dialect, versions)| {
            versions.iter().map(move |(version, m)| StateEntry {
                item_type: "migration",
                identity: version.to_string(),
                dialect: dialect.to_string(),
                sha256: m.sha256.clone(),
            })
        });
        let session = self.session.iter().map(|(dialect, statements)| StateEntry {
            item_type: "session",
            identity: String::new(),
            dialect: dialect.to_string(),
            sha256: session_sha256(statements),
        });
        assets.chain(migrations).chain(session).collect()
    }

    /// Returns the state id with the `kept` assets at the copy a target keeps: a release id.
    pub fn state_id(&self, kept: &BTreeMap<ItemId, Option<ContentHash>>) -> ContentHash {
        state_id(&self.state_entries(kept))
    }
}

enum Read<T> {
    Asset(ItemId, SnapshotAsset, T),
    Migration(usize, Arc<str>, ContentHash, MigrationText, Vec<Finding>),
    Failed(Finding),
}

/// Reads every migration and asset (on `threads` threads), normalises and hashes them. Returns
/// the findings about names and texts (not YAML: see `check`).
pub fn read_snapshot(
    project: &Project,
    source: &dyn Source,
    threads: usize,
) -> Result<(Snapshot, Vec<Finding>), SourceError> {
    let (snapshot, findings, _) = read_snapshot_with(project, source, threads, &|_, _| ())?;
    Ok((snapshot, findings))
}

/// The migrations alone, per dialect: version → sha256 of the effective file (`env show` has no
/// use for 100,000 assets).
pub fn migration_hashes(
    project: &Project,
    source: &dyn Source,
    threads: usize,
) -> Result<BTreeMap<Dialect, BTreeMap<Version, ContentHash>>, SourceError> {
    /// The source with the assets folder left out.
    struct MigrationsOnly<'a> {
        source: &'a dyn Source,
        assets: &'a str,
    }
    impl Source for MigrationsOnly<'_> {
        fn list(&self, dir: &str) -> Result<Vec<crate::core::source::Entry>, SourceError> {
            if dir == self.assets { Ok(Vec::new()) } else { self.source.list(dir) }
        }
        fn lookup(&self, path: &str) -> Result<Option<crate::core::source::ObjectId>, SourceError> {
            self.source.lookup(path)
        }
        fn read(&self, path: &str, id: &crate::core::source::ObjectId) -> Result<Vec<u8>, SourceError> {
            self.source.read(path, id)
        }
    }
    let source = MigrationsOnly { source, assets: &project.config.assets };
    let (snapshot, _) = read_snapshot(project, &source, threads)?;
    Ok(snapshot
        .migrations
        .into_iter()
        .map(|(dialect, versions)| (dialect, versions.into_iter().map(|(v, m)| (v, m.sha256)).collect()))
        .collect())
}

/// A snapshot, the findings about names and texts, and the per-asset results.
pub type SnapshotWith<T> = (Snapshot, Vec<Finding>, Vec<(ItemId, T)>);

/// Per-asset work done by the thread that read the asset.
pub type AssetWork<'f, T> = dyn Fn(&ItemId, &SnapshotAsset) -> T + Sync + 'f;

/// `read_snapshot`, also running `analyse` on every asset that is text, on the reading thread;
/// its results come back in identity order.
pub fn read_snapshot_with<T: Send>(
    project: &Project,
    source: &dyn Source,
    threads: usize,
    analyse: &AssetWork<'_, T>,
) -> Result<SnapshotWith<T>, SourceError> {
    let mut findings = Vec::new();
    let mut snapshot = Snapshot { session: project.session.clone(), ..Snapshot::default() };
    let catalog = MigrationCatalog::from_entries(project, &source.list(&project.config.migrations)?);
    findings.extend(catalog.findings.iter().cloned());
    snapshot.ignored.extend(catalog.ignored.iter().cloned());

    enum Work<'e> {
        Asset(ItemId, &'e Entry),
        Migration(usize, &'e MigrationFile),
    }
    let asset_entries = source.list(&project.config.assets)?;
    let mut work: Vec<Work<'_>> = catalog.files.iter().enumerate().map(|(i, f)| Work::Migration(i, f)).collect();
    for entry in &asset_entries {
        if project.is_ignored(&entry.path) {
            snapshot.ignored.push(entry.path.clone());
            continue;
        }
        match catalog::asset_identity(project, &entry.path) {
            None => {}
            Some(Err(finding)) => findings.push(finding),
            Some(Ok(id)) => work.push(Work::Asset(id, entry)),
        }
    }
    let read = crate::core::parallel::map(work, threads, |work| {
        Ok(match work {
            Work::Asset(id, entry) => {
                let bytes = source.read(&entry.path, &entry.id)?;
                let text = catalog::normalised_text(&project.repo_path(&entry.path), &bytes);
                drop(bytes); // the text is the copy that stays
                match text {
                    Ok(text) => {
                        let sha256 = ContentHash::of(text.as_bytes());
                        let asset = SnapshotAsset { path: entry.path.clone(), text, sha256 };
                        let result = analyse(&id, &asset);
                        Read::Asset(id, asset, result)
                    }
                    Err(finding) => Read::Failed(finding.item(id.as_str())),
                }
            }
            Work::Migration(index, file) => {
                let bytes = source.read(&file.path, &file.object)?;
                let repo_path = project.repo_path(&file.path);
                let text = catalog::normalised_text(&repo_path, &bytes);
                drop(bytes); // the text is the copy that stays
                match text {
                    Ok(text) => {
                        let (parsed, found) = catalog::parse_migration_text(&repo_path, &text);
                        let sha256 = ContentHash::of(text.as_bytes());
                        Read::Migration(index, text, sha256, parsed, found)
                    }
                    Err(finding) => Read::Failed(finding),
                }
            }
        })
    })?;
    let mut texts: BTreeMap<usize, (Arc<str>, ContentHash, MigrationText)> = BTreeMap::new();
    let mut results = Vec::new();
    for item in read {
        match item {
            Read::Asset(id, asset, result) => {
                results.push((id.clone(), result));
                snapshot.assets.insert(id, asset);
            }
            Read::Migration(index, text, sha256, parsed, found) => {
                findings.extend(found);
                texts.insert(index, (text, sha256, parsed));
            }
            Read::Failed(finding) => findings.push(finding),
        }
    }
    let index_of: BTreeMap<&str, usize> = catalog.files.iter().enumerate().map(|(i, f)| (f.path.as_str(), i)).collect();
    for &dialect in &project.config.dialects {
        let mut versions = BTreeMap::new();
        for (version, file) in catalog.effective(dialect) {
            let index = index_of.get(file.path.as_str());
            if let Some((text, sha256, parsed)) = index.and_then(|i| texts.get(i)) {
                let migration = SnapshotMigration {
                    file: file.clone(),
                    text: text.clone(),
                    sha256: sha256.clone(),
                    parsed: parsed.clone(),
                };
                versions.insert(version, migration);
            }
        }
        snapshot.migrations.insert(dialect, versions);
    }
    snapshot.migration_files = catalog.files.len();
    Ok((snapshot, findings, results))
}
