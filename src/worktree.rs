//! `WORKTREE`: the project's files on disk as git would see them — tracked and untracked, with
//! what `.gitignore` (and `.git/info/exclude`) ignores left out. They are listed with git blob
//! ids, so they compare with committed files by id, and read again when asked for: a 200 MB
//! asset is not held for the whole run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::core::source::{Entry, MemorySource, ObjectId, Source, SourceError, Special};
use crate::git::blob_id;

/// The project's files on disk (see `read_project`).
pub struct WorktreeSource {
    /// Paths and ids (no bytes), and the links found.
    listing: MemorySource,
    /// Where each listed file is on disk.
    disk: BTreeMap<String, PathBuf>,
    /// The submodules found, each reported once.
    submodules: std::collections::BTreeSet<String>,
}

impl WorktreeSource {
    fn insert(&mut self, path: String, on_disk: PathBuf) -> Result<(), SourceError> {
        let bytes = std::fs::read(&on_disk).map_err(|e| format!("cannot read `{}`: {e}", on_disk.display()))?;
        self.listing.insert(path.clone(), blob_id(&bytes)?, Vec::new());
        self.disk.insert(path, on_disk);
        Ok(())
    }

    /// A submodule at a project-relative path, once however it was found.
    fn add_submodule(&mut self, path: String) {
        use crate::core::source::SpecialKind;
        if self.submodules.insert(path.clone()) {
            self.listing.insert_special(Special { path, kind: SpecialKind::Submodule });
        }
    }
}

impl Source for WorktreeSource {
    fn list(&self, dir: &str) -> Result<Vec<Entry>, SourceError> {
        self.listing.list(dir)
    }

    fn lookup(&self, path: &str) -> Result<Option<ObjectId>, SourceError> {
        self.listing.lookup(path)
    }

    fn specials(&self, dir: &str) -> Result<Vec<Special>, SourceError> {
        self.listing.specials(dir)
    }

    fn read(&self, path: &str, id: &ObjectId) -> Result<Vec<u8>, SourceError> {
        let on_disk = self.disk.get(path).ok_or_else(|| format!("no file `{path}`"))?;
        let bytes = std::fs::read(on_disk).map_err(|e| format!("cannot read `{}`: {e}", on_disk.display()))?;
        // What was listed is what is read, or the run says so rather than mixing two versions.
        if blob_id(&bytes)? != *id {
            return Err(format!(
                "`{}` changed while migrate was reading the work tree: run it again",
                on_disk.display()
            )
            .into());
        }
        Ok(bytes)
    }
}

/// Reads the project's files below `project_dir`, limited to the given project-relative folders
/// and files; `tracked` (project-relative, from the index) are read even where ignored. A folder
/// that holds a `.git` (a submodule's checkout, or a repository of its own) and a submodule in
/// the index are submodules, as git sees them: never read, and reported by `check`.
pub fn read_project(
    repo_root: &Path,
    project_dir: &Path,
    folders: &[&str],
    files: &[&str],
    tracked: &[crate::git::Tracked],
) -> Result<WorktreeSource, SourceError> {
    let mut source =
        WorktreeSource { listing: MemorySource::new(), disk: BTreeMap::new(), submodules: Default::default() };
    for file in files {
        let path = project_dir.join(file);
        if path.is_file() && !is_ignored(repo_root, &path) {
            source.insert(file.to_string(), path)?;
        }
    }
    for folder in folders {
        let dir = project_dir.join(folder);
        // The folder itself as a link or a repository of its own: all of it would be dropped.
        if dir.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()) {
            let kind = crate::core::source::SpecialKind::Link;
            source.listing.insert_special(Special { path: folder.to_string(), kind });
            continue;
        }
        if dir.join(".git").symlink_metadata().is_ok() {
            source.add_submodule(folder.to_string());
            continue;
        }
        if !dir.is_dir() {
            continue;
        }
        let repositories = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let found = std::sync::Arc::clone(&repositories);
        let walker = ignore::WalkBuilder::new(&dir)
            .hidden(false)
            .parents(true)
            .git_ignore(true)
            .git_exclude(true)
            .git_global(false)
            .ignore(false)
            .require_git(false)
            .filter_entry(move |entry| {
                if entry.file_name() == ".git" {
                    return false;
                }
                let repository = entry.depth() > 0
                    && entry.file_type().is_some_and(|t| t.is_dir())
                    && entry.path().join(".git").symlink_metadata().is_ok();
                if repository && let Ok(mut found) = found.lock() {
                    found.push(entry.path().to_path_buf());
                }
                !repository
            })
            .build();
        for entry in walker {
            let entry = entry?;
            let is_link = entry.file_type().is_some_and(|t| t.is_symlink());
            if !is_link && !entry.file_type().is_some_and(|t| t.is_file()) {
                continue; // folders
            }
            let relative = entry.path().strip_prefix(project_dir).map_err(|e| e.to_string())?;
            let relative = relative
                .to_str()
                .ok_or_else(|| format!("`{}` is not a UTF-8 path", entry.path().display()))?
                .replace('\\', "/");
            if is_link {
                // Git would store the link, not what it points to: `check` reports it.
                let kind = crate::core::source::SpecialKind::Link;
                source.listing.insert_special(crate::core::source::Special { path: relative, kind });
                continue;
            }
            source.insert(relative, entry.path().to_path_buf())?;
        }
        let found = repositories.lock().map(|found| found.clone()).unwrap_or_default();
        for repository in found {
            if let Some(relative) = repository.strip_prefix(project_dir).ok().and_then(Path::to_str) {
                source.add_submodule(relative.replace('\\', "/"));
            }
        }
    }
    for tracked in tracked {
        let path = &tracked.path;
        let inside = folders.iter().any(|f| path.starts_with(&format!("{f}/")));
        if tracked.submodule && (inside || folders.contains(&path.as_str())) {
            source.add_submodule(path.clone());
            continue;
        }
        let on_disk = project_dir.join(path);
        if inside && source.lookup(path)?.is_none() && on_disk.is_file() && !on_disk.is_symlink() {
            source.insert(path.clone(), on_disk)?;
        }
    }
    Ok(source)
}

/// Returns whether a single file is ignored by the `.gitignore` files between it and the root.
fn is_ignored(repo_root: &Path, path: &Path) -> bool {
    let mut builder = ignore::gitignore::GitignoreBuilder::new(repo_root);
    let mut dir = path.parent();
    while let Some(d) = dir {
        builder.add(d.join(".gitignore"));
        if d == repo_root {
            break;
        }
        dir = d.parent();
    }
    builder.add(repo_root.join(".git/info/exclude"));
    builder.build().is_ok_and(|g| g.matched_path_or_any_parents(path, false).is_ignore())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file is listed with its blob id and read again when asked: what is read is what was
    /// listed, or an error that says the file changed (never the new bytes under the old id).
    #[test]
    fn a_file_changed_after_listing_is_an_error_not_a_mix() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("assets/query")).unwrap();
        let file = root.path().join("assets/query/a.yaml");
        std::fs::write(&file, "spec: {a: 1}\n").unwrap();
        let source = read_project(root.path(), root.path(), &["assets"], &[], &[]).unwrap();
        let entries = source.list("assets").unwrap();
        assert_eq!(entries.len(), 1);
        let entry = &entries[0];
        assert_eq!(source.read(&entry.path, &entry.id).unwrap(), b"spec: {a: 1}\n");
        std::fs::write(&file, "spec: {a: 2}\n").unwrap();
        let error = source.read(&entry.path, &entry.id).unwrap_err().to_string();
        assert!(error.contains("changed while migrate was reading"), "{error}");
    }
}
