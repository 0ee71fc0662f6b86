//! The gix adapter: open a repository, resolve revisions, find merge-bases, and serve a commit's
//! project folder as a `Source` — straight from git objects, so bare repositories work and no
//! checkout is needed.

use std::path::Path;

use gix::bstr::ByteSlice;

use crate::core::source::{Entry, ObjectId, PathChange, Source, SourceError, Special, SpecialKind};
use crate::exit::Failure;

/// An open repository.
pub struct GitRepo {
    repo: gix::Repository,
}

/// A resolved commit.
#[derive(Debug, Clone)]
pub struct Commit {
    pub id: gix::ObjectId,
    /// What the user typed, or how the commit was chosen.
    pub spec: String,
}

impl GitRepo {
    /// Opens the repository at or above `path`, ignoring the user's and the system's git config
    /// so that results do not depend on the machine.
    pub fn discover(path: &Path) -> Result<GitRepo, Failure> {
        let repo = gix::discover_opts(path, Default::default(), open_options()).map_err(|e| {
            Failure::usage(miette::miette!(
                code = "migrate::not_a_repository",
                help = "run inside a git repository, or pass `--repo PATH`",
                "`{}` is not in a git repository: {e}",
                path.display()
            ))
        })?;
        Ok(GitRepo { repo })
    }

    pub fn workdir(&self) -> Option<&Path> {
        self.repo.workdir()
    }

    fn is_shallow(&self) -> bool {
        self.repo.is_shallow().unwrap_or(false)
    }

    fn shallow_help(&self) -> &'static str {
        if self.is_shallow() {
            "this clone is shallow: run `git fetch --unshallow` (in CI: `fetch-depth: 0`)"
        } else {
            "check the spelling; `git log --oneline` lists commits and `git branch -a` branches"
        }
    }

    /// Resolves anything git accepts (branch, tag, `HEAD~2`, full or short id) to a commit.
    pub fn resolve(&self, spec: &str) -> Result<Commit, Failure> {
        let found =
            self.repo.rev_parse_single(spec).and_then(|id| id.object()).and_then(|object| object.peel_to_commit());
        match found {
            Ok(commit) => Ok(Commit { id: commit.id, spec: spec.to_string() }),
            Err(e) => Err(Failure::usage(miette::miette!(
                code = "migrate::unknown_revision",
                help = self.shallow_help(),
                "cannot resolve revision `{spec}`: {e}"
            ))),
        }
    }

    /// Returns the default branch: `origin/HEAD`, else `main`, else `master`.
    pub fn default_branch(&self) -> Option<Commit> {
        [
            "refs/remotes/origin/HEAD",
            "refs/heads/main",
            "refs/heads/master",
            "refs/remotes/origin/main",
            "refs/remotes/origin/master",
        ]
        .into_iter()
        .find_map(|name| {
            let mut reference = self.repo.try_find_reference(name).ok()??;
            let id = reference.peel_to_id().ok()?.detach();
            let short = name.trim_start_matches("refs/heads/").trim_start_matches("refs/remotes/");
            Some(Commit { id, spec: short.to_string() })
        })
    }

    /// The names of the tags that point at `commit` (annotated tags peeled), sorted.
    pub fn tags_at(&self, commit: &Commit) -> Vec<String> {
        let Ok(references) = self.repo.references() else { return Vec::new() };
        let Ok(tags) = references.tags() else { return Vec::new() };
        let mut names: Vec<String> = tags
            .filter_map(Result::ok)
            .filter_map(|mut reference| {
                let id = reference.peel_to_id().ok()?.detach();
                (id == commit.id).then(|| reference.name().shorten().to_string())
            })
            .collect();
        names.sort();
        names
    }

    /// Refuses a shallow clone: the head's depth, in every manifest, needs the whole history.
    pub fn require_full_history(&self) -> Result<(), Failure> {
        if self.is_shallow() {
            return Err(Failure::usage(miette::miette!(
                code = "migrate::shallow_history",
                help = "run `git fetch --unshallow` (in CI: `fetch-depth: 0`)",
                "this clone is shallow, and a bundle records the head's depth in the whole history"
            )));
        }
        Ok(())
    }

    /// Returns the longest path from a root commit to `commit` (a root has depth 1).
    pub fn depth(&self, commit: &Commit) -> Result<u64, Failure> {
        let failure = |e: gix::Error| {
            Failure::usage(miette::miette!(
                code = "migrate::git_read",
                "cannot walk the history of `{}`: {e}",
                commit.spec
            ))
        };
        let mut depth: std::collections::HashMap<gix::ObjectId, u64> = std::collections::HashMap::new();
        // Iterative post-order walk: a commit's depth is 1 + the largest depth of its parents.
        let mut stack: Vec<(gix::ObjectId, bool)> = vec![(commit.id, false)];
        while let Some((id, parents_done)) = stack.pop() {
            if depth.contains_key(&id) {
                continue;
            }
            let parents: Vec<gix::ObjectId> =
                self.repo.find_commit(id).map_err(failure)?.parent_ids().map(|p| p.detach()).collect();
            if parents_done {
                let d = parents.iter().filter_map(|p| depth.get(p)).max().copied().unwrap_or(0) + 1;
                depth.insert(id, d);
            } else {
                stack.push((id, true));
                stack.extend(parents.into_iter().filter(|p| !depth.contains_key(p)).map(|p| (p, false)));
            }
        }
        Ok(depth.get(&commit.id).copied().unwrap_or(1))
    }

    /// Returns the committer time of a commit, in seconds since the epoch.
    pub fn commit_time(&self, commit: &Commit) -> Result<u64, Failure> {
        let time = self.repo.find_commit(commit.id).and_then(|c| c.time()).map_err(|e| {
            Failure::usage(miette::miette!(code = "migrate::git_read", "cannot read commit `{}`: {e}", commit.spec))
        })?;
        Ok(u64::try_from(time.seconds).unwrap_or(0))
    }

    /// Returns whether `ancestor` is an ancestor of `descendant` (or the same commit).
    pub fn is_ancestor(&self, ancestor: &Commit, descendant: &Commit) -> Result<bool, Failure> {
        if ancestor.id == descendant.id {
            return Ok(true);
        }
        Ok(self.merge_base(ancestor, descendant).is_ok_and(|base| base.id == ancestor.id))
    }

    /// Returns the merge-base of two commits.
    pub fn merge_base(&self, one: &Commit, two: &Commit) -> Result<Commit, Failure> {
        match self.repo.merge_base(one.id, two.id) {
            Ok(Some(id)) => {
                Ok(Commit { id: id.detach(), spec: format!("merge-base of {} and {}", one.spec, two.spec) })
            }
            Ok(None) => Err(Failure::usage(miette::miette!(
                code = "migrate::no_merge_base",
                help = if self.is_shallow() { self.shallow_help() } else { "pass `--base REV`" },
                "`{}` and `{}` have no common ancestor",
                one.spec,
                two.spec
            ))),
            Err(e) => Err(Failure::usage(miette::miette!(
                code = "migrate::no_merge_base",
                help = self.shallow_help(),
                "cannot find the merge-base of `{}` and `{}`: {e}",
                one.spec,
                two.spec
            ))),
        }
    }

    /// Returns the tracked files below `prefix` (paths relative to it), from the index: git
    /// shows a tracked file even where `.gitignore` matches it, and so does `WORKTREE`.
    /// Every folder holding a `migrate.yaml` in the index or at `HEAD` (`""` for the root,
    /// else `"dir/"`), sorted.
    pub fn project_folders(&self) -> Result<Vec<String>, Failure> {
        let file = crate::core::project::PROJECT_FILE;
        let folder_of = |path: &str| {
            let folder = path.strip_suffix(file)?;
            (folder.is_empty() || folder.ends_with('/')).then(|| folder.to_string())
        };
        let mut folders: Vec<String> = self.tracked_files("")?.iter().filter_map(|t| folder_of(&t.path)).collect();
        if let Ok(tree) = self.repo.head_commit().and_then(|c| c.tree()) {
            let mut recorder = gix::traverse::tree::Recorder::default();
            if tree.traverse().breadthfirst(&mut recorder).is_ok() {
                folders.extend(recorder.records.iter().filter_map(|e| folder_of(e.filepath.to_str().ok()?)));
            }
        }
        folders.sort();
        folders.dedup();
        Ok(folders)
    }

    pub fn tracked_files(&self, prefix: &str) -> Result<Vec<Tracked>, Failure> {
        let index = self.repo.index_or_empty().map_err(|e| {
            Failure::usage(miette::miette!(code = "migrate::git_read", "cannot read the git index: {e}"))
        })?;
        Ok(index
            .entries()
            .iter()
            .filter_map(|entry| {
                let path = entry.path(&index).to_str().ok()?;
                let path = path.strip_prefix(prefix)?.to_string();
                Some(Tracked { path, submodule: entry.mode.is_submodule() })
            })
            .collect())
    }

    /// Returns the project folder (`prefix`, `""` for the root) of a commit, or `None` when the
    /// commit has no such folder.
    pub fn project_at(&self, commit: &Commit, prefix: &str) -> Result<Option<GitSource>, Failure> {
        let read_failure = |e: gix::Error| {
            Failure::usage(miette::miette!(code = "migrate::git_read", "cannot read commit `{}`: {e}", commit.spec))
        };
        let tree = self.repo.find_commit(commit.id).and_then(|c| c.tree()).map_err(read_failure)?;
        let tree = if prefix.is_empty() {
            tree
        } else {
            match tree.lookup_entry_by_path(prefix.trim_end_matches('/')).map_err(read_failure)? {
                Some(entry) if entry.mode().is_tree() => entry.object().map_err(read_failure)?.into_tree(),
                _ => return Ok(None),
            }
        };
        Ok(Some(GitSource {
            shared: self.repo.clone().into_sync(),
            pool: std::sync::Mutex::new(Vec::new()),
            tree: tree.id,
        }))
    }
}

/// A commit's project folder. Readable from several threads at once.
pub struct GitSource {
    shared: gix::ThreadSafeRepository,
    /// Handles for the reading threads: a `gix::Repository` may move between threads but not be
    /// shared, so each read takes one from here and puts it back, keeping its caches warm.
    pool: std::sync::Mutex<Vec<gix::Repository>>,
    tree: gix::ObjectId,
}

impl GitSource {
    /// Runs `f` with a repository handle of this thread's own.
    fn with_handle<T>(&self, f: impl FnOnce(&gix::Repository) -> Result<T, SourceError>) -> Result<T, SourceError> {
        let handle = self.pool.lock().ok().and_then(|mut pool| pool.pop());
        let handle = match handle {
            Some(handle) => handle,
            None => self.shared.to_thread_local(),
        };
        let result = f(&handle);
        if let Ok(mut pool) = self.pool.lock() {
            pool.push(handle);
        }
        result
    }
}

fn to_object_id(id: &gix::oid) -> ObjectId {
    let mut out = [0u8; 20];
    let bytes = id.as_bytes();
    out.copy_from_slice(&bytes[..20.min(bytes.len())]);
    out
}

fn subtree<'r>(
    repo: &'r gix::Repository,
    tree: gix::ObjectId,
    dir: &str,
) -> Result<Option<gix::Tree<'r>>, SourceError> {
    Ok(match repo.find_tree(tree)?.lookup_entry_by_path(dir)? {
        Some(entry) if entry.mode().is_tree() => Some(entry.object()?.into_tree()),
        _ => None,
    })
}

impl GitSource {
    /// Returns what changed below `dir` between `self` (old) and `new`, with a tree diff that
    /// skips every folder whose tree id did not change.
    /// The sub-folders that differ are compared on several threads: with git's default packing
    /// most of the time goes to inflating trees.
    /// Links and submodules the diff meets on the new side (added or changed) come back apart:
    /// they are not items, but `plan` names them.
    pub fn diff_dir(&self, new: &GitSource, dir: &str) -> Result<(Vec<PathChange>, Vec<Special>), SourceError> {
        if let Some(special) = new.with_handle(|repo| folder_special(repo, new.tree, dir))? {
            return Ok((Vec::new(), vec![special]));
        }
        let (old_entries, new_entries) =
            self.with_handle(|repo| Ok((top_entries(repo, self.tree, dir)?, top_entries(repo, new.tree, dir)?)))?;
        let mut folders = Vec::new();
        let names: std::collections::BTreeSet<&String> = old_entries.keys().chain(new_entries.keys()).collect();
        for name in names {
            match (old_entries.get(name), new_entries.get(name)) {
                (Some(a), Some(b)) if a == b => {}
                (Some((true, _)), Some((true, _))) => folders.push(format!("{dir}/{name}")),
                // A file, or a folder added or removed whole: one diff of the folder does it all.
                _ => return self.with_handle(|repo| diff_subtrees(repo, self.tree, new.tree, dir)),
            }
        }
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let parts = crate::core::parallel::map_each(folders, threads, |folder| {
            self.with_handle(|repo| diff_subtrees(repo, self.tree, new.tree, folder))
        })?;
        let (mut changes, mut specials) = (Vec::new(), Vec::new());
        for (part, found) in parts {
            changes.extend(part);
            specials.extend(found);
        }
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        specials.sort_by(|a, b| a.path.cmp(&b.path));
        Ok((changes, specials))
    }
}

/// A path of the tree as UTF-8, or an error that names it (lossily) so that it can be found.
fn utf8_path(dir: &str, path: &gix::bstr::BStr) -> Result<String, SourceError> {
    match path.to_str() {
        Ok(path) => Ok(path.to_string()),
        Err(_) => Err(format!(
            "the path `{dir}/{}` is not valid UTF-8 (shown with U+FFFD where its bytes are not); rename it in git",
            path.to_str_lossy()
        )
        .into()),
    }
}

/// The entries of the folder `dir` of a tree: name → (is a folder, object id).
fn top_entries(
    repo: &gix::Repository,
    tree: gix::ObjectId,
    dir: &str,
) -> Result<std::collections::BTreeMap<String, (bool, gix::ObjectId)>, SourceError> {
    let mut entries = std::collections::BTreeMap::new();
    if let Some(tree) = subtree(repo, tree, dir)? {
        for entry in tree.iter() {
            let entry = entry?;
            let name = utf8_path(dir, entry.filename())?;
            entries.insert(name, (entry.mode().is_tree(), entry.oid().to_owned()));
        }
    }
    Ok(entries)
}

fn diff_subtrees(
    repo: &gix::Repository,
    old: gix::ObjectId,
    new: gix::ObjectId,
    dir: &str,
) -> Result<(Vec<PathChange>, Vec<Special>), SourceError> {
    let empty = repo.empty_tree();
    let old_tree = subtree(repo, old, dir)?.unwrap_or_else(|| empty.clone());
    let new_tree = subtree(repo, new, dir)?.unwrap_or(empty);
    let mut recorder = gix::diff::tree::Recorder::default();
    gix::diff::tree(
        gix::objs::TreeRefIter::from_bytes(&old_tree.data, repo.object_hash()),
        gix::objs::TreeRefIter::from_bytes(&new_tree.data, repo.object_hash()),
        &mut gix::diff::tree::State::default(),
        &repo.objects,
        &mut recorder,
    )?;
    use gix::diff::tree::recorder::Change;
    let file_id = |mode: gix::object::tree::EntryMode, oid: &gix::oid| is_file(mode).then(|| to_object_id(oid));
    let mut changes = Vec::new();
    let mut specials = Vec::new();
    for change in recorder.records {
        let (path, old, new) = match change {
            Change::Addition { entry_mode, oid, path, .. } => {
                if let Some(kind) = special_kind(entry_mode) {
                    specials.push(Special { path: format!("{dir}/{}", utf8_path(dir, path.as_ref())?), kind });
                }
                (path, None, file_id(entry_mode, &oid))
            }
            Change::Deletion { entry_mode, oid, path, .. } => (path, file_id(entry_mode, &oid), None),
            Change::Modification { previous_entry_mode, previous_oid, entry_mode, oid, path } => {
                if let Some(kind) = special_kind(entry_mode) {
                    specials.push(Special { path: format!("{dir}/{}", utf8_path(dir, path.as_ref())?), kind });
                }
                (path, file_id(previous_entry_mode, &previous_oid), file_id(entry_mode, &oid))
            }
        };
        // Folders are reported too, and a file that became a link is a deletion.
        if old.is_some() || new.is_some() {
            changes.push(PathChange { path: format!("{dir}/{}", utf8_path(dir, path.as_ref())?), old, new });
        }
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((changes, specials))
}

/// A link or a submodule: what is not an item where items are.
/// The folder `dir` itself as a link or a submodule (whose files would all be dropped), if it is
/// one.
fn folder_special(repo: &gix::Repository, tree: gix::ObjectId, dir: &str) -> Result<Option<Special>, SourceError> {
    let entry = repo.find_tree(tree)?.lookup_entry_by_path(dir)?;
    Ok(entry.and_then(|e| special_kind(e.mode())).map(|kind| Special { path: dir.to_string(), kind }))
}

fn special_kind(mode: gix::object::tree::EntryMode) -> Option<SpecialKind> {
    if mode.is_link() {
        Some(SpecialKind::Link)
    } else if mode.is_commit() {
        Some(SpecialKind::Submodule)
    } else {
        None
    }
}

fn list_subtree(repo: &gix::Repository, tree: gix::ObjectId, dir: &str) -> Result<Vec<Entry>, SourceError> {
    let Some(tree) = subtree(repo, tree, dir)? else {
        return Ok(Vec::new());
    };
    let mut recorder = gix::traverse::tree::Recorder::default();
    tree.traverse().depthfirst(&mut recorder)?;
    let mut entries = Vec::with_capacity(recorder.records.len());
    for record in recorder.records {
        if !is_file(record.mode) {
            continue;
        }
        let path = utf8_path(dir, record.filepath.as_ref())?;
        entries.push(Entry { path: format!("{dir}/{path}"), id: to_object_id(&record.oid) });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// Regular and executable files are items; links and submodules are not.
fn is_file(mode: gix::object::tree::EntryMode) -> bool {
    mode.is_blob()
}

impl Source for GitSource {
    fn list(&self, dir: &str) -> Result<Vec<Entry>, SourceError> {
        self.with_handle(|repo| list_subtree(repo, self.tree, dir))
    }

    fn lookup(&self, path: &str) -> Result<Option<ObjectId>, SourceError> {
        self.with_handle(|repo| {
            Ok(match repo.find_tree(self.tree)?.lookup_entry_by_path(path)? {
                Some(entry) if is_file(entry.mode()) => Some(to_object_id(entry.oid())),
                _ => None,
            })
        })
    }

    fn read(&self, _path: &str, id: &ObjectId) -> Result<Vec<u8>, SourceError> {
        let id = gix::ObjectId::from_bytes_or_panic(id);
        // A small blob is copied and its buffer goes back to the handle's free list for the next
        // read; a large one's buffer is taken, so that no pooled handle keeps the largest file
        // it read for the rest of the run.
        self.with_handle(|repo| {
            let mut blob = repo.find_blob(id)?;
            Ok(if blob.data.len() > 1 << 20 { blob.take_data() } else { blob.data.to_vec() })
        })
    }

    fn specials(&self, dir: &str) -> Result<Vec<Special>, SourceError> {
        self.with_handle(|repo| {
            if let Some(special) = folder_special(repo, self.tree, dir)? {
                return Ok(vec![special]);
            }
            let Some(tree) = subtree(repo, self.tree, dir)? else { return Ok(Vec::new()) };
            let mut recorder = gix::traverse::tree::Recorder::default();
            tree.traverse().depthfirst(&mut recorder)?;
            let mut specials = Vec::new();
            for record in recorder.records {
                let Some(kind) = special_kind(record.mode) else { continue };
                let path = utf8_path(dir, record.filepath.as_ref())?;
                specials.push(Special { path: format!("{dir}/{path}"), kind });
            }
            Ok(specials)
        })
    }
}

/// A path in the index, project-relative.
pub struct Tracked {
    pub path: String,
    /// A submodule (a commit of another repository), not a file.
    pub submodule: bool,
}

/// Returns the git blob id of bytes, so work-tree files compare with committed ones by id.
pub fn blob_id(bytes: &[u8]) -> Result<ObjectId, SourceError> {
    let id = gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, bytes)?;
    Ok(to_object_id(&id))
}

/// Isolated from the user's and the system's config (results must not depend on the machine),
/// with a delta-base cache: without it every object read re-inflates its whole delta chain. Git's
/// default (16 MiB) left `plan` inflating the same tree bases again on a repository packed with
/// git's defaults; 96 MiB per reading thread took a fifth off `plan` there, and a full export of
/// 100,000 assets still peaks at about 235 MB.
///
/// Replace refs (`refs/replace/`) are ignored, as `git --no-replace-objects` does, so that what a
/// commit id holds is its own objects only: a local ref must not change a bundle's bytes for the
/// same commit. Grafts (`.git/info/grafts`) are not read by gix at all.
fn open_options() -> gix::open::Options {
    gix::open::Options::isolated().config_overrides(["core.deltaBaseCacheLimit=96m", "core.useReplaceRefs=false"])
}
