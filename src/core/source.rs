//! `Source`: the project's files at one point — a git tree, the work tree, or files in memory.
//! Nothing downstream knows which.
//!
//! A source lists paths with an object id and reads bytes on request, so `plan` reads only what
//! changed: equal ids mean equal bytes, and unequal ids are compared by their normalised hash.
//! The shell implements it for git and the work tree; `MemorySource` serves tests and the work
//! tree alike.

use std::collections::BTreeMap;

/// A 20-byte object id. Git's blob id in practice; any hash of the raw bytes works, as long as
/// equal ids mean equal bytes.
pub type ObjectId = [u8; 20];

/// A failure to read from a source (git or the file system).
pub type SourceError = Box<dyn std::error::Error + Send + Sync>;

/// One file of a listing, with a project-relative path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub id: ObjectId,
}

/// The project's files at one point. `Sync`, because `plan` reads changed files on several
/// threads.
pub trait Source: Sync {
    /// Returns every file below the project-relative folder `dir`, recursively, sorted by path.
    fn list(&self, dir: &str) -> Result<Vec<Entry>, SourceError>;
    /// Returns the id of one project-relative file, if it exists.
    fn lookup(&self, path: &str) -> Result<Option<ObjectId>, SourceError>;
    /// Returns the raw bytes of a file listed with this id.
    fn read(&self, path: &str, id: &ObjectId) -> Result<Vec<u8>, SourceError>;
    /// Returns what `list` leaves out below `dir` that is not a folder: links and submodules,
    /// which are never read or followed, and which `check` reports.
    fn specials(&self, dir: &str) -> Result<Vec<Special>, SourceError> {
        let _ = dir;
        Ok(Vec::new())
    }
}

/// A path that holds neither a file nor a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Special {
    /// Project-relative.
    pub path: String,
    pub kind: SpecialKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecialKind {
    Link,
    Submodule,
}

/// Files held in memory.
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    files: BTreeMap<String, (ObjectId, Vec<u8>)>,
    specials: Vec<Special>,
}

impl MemorySource {
    pub fn new() -> MemorySource {
        MemorySource::default()
    }

    pub fn insert(&mut self, path: impl Into<String>, id: ObjectId, bytes: Vec<u8>) {
        self.files.insert(path.into(), (id, bytes));
    }

    /// Records a link or submodule at a project-relative path.
    pub fn insert_special(&mut self, special: Special) {
        self.specials.push(special);
    }

    /// Builds a source from files, with ids from a sha256 of the bytes (for tests).
    #[cfg(test)]
    pub fn from_files<P: Into<String>, B: AsRef<[u8]>>(files: impl IntoIterator<Item = (P, B)>) -> MemorySource {
        let mut source = MemorySource::new();
        for (path, bytes) in files {
            let bytes = bytes.as_ref().to_vec();
            let digest = <sha2::Sha256 as sha2::Digest>::digest(&bytes);
            let mut id = [0u8; 20];
            id.copy_from_slice(&digest[..20]);
            source.insert(path, id, bytes);
        }
        source
    }
}

impl Source for MemorySource {
    fn list(&self, dir: &str) -> Result<Vec<Entry>, SourceError> {
        let prefix = format!("{dir}/");
        Ok(self
            .files
            .range(prefix.clone()..)
            .take_while(|(path, _)| path.starts_with(&prefix))
            .map(|(path, (id, _))| Entry { path: path.clone(), id: *id })
            .collect())
    }

    fn lookup(&self, path: &str) -> Result<Option<ObjectId>, SourceError> {
        Ok(self.files.get(path).map(|(id, _)| *id))
    }

    fn specials(&self, dir: &str) -> Result<Vec<Special>, SourceError> {
        let prefix = format!("{dir}/");
        Ok(self.specials.iter().filter(|s| s.path == dir || s.path.starts_with(&prefix)).cloned().collect())
    }

    fn read(&self, path: &str, _id: &ObjectId) -> Result<Vec<u8>, SourceError> {
        self.files.get(path).map(|(_, bytes)| bytes.clone()).ok_or_else(|| format!("no file `{path}`").into())
    }
}

/// A change of one path between two listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathChange {
    pub path: String,
    pub old: Option<ObjectId>,
    pub new: Option<ObjectId>,
}

/// Compares two sorted listings. The shell uses a git tree diff instead when both sides are
/// commits, which never looks into unchanged folders.
pub fn diff_listings(old: &[Entry], new: &[Entry]) -> Vec<PathChange> {
    let old: BTreeMap<&str, &ObjectId> = old.iter().map(|e| (e.path.as_str(), &e.id)).collect();
    let new: BTreeMap<&str, &ObjectId> = new.iter().map(|e| (e.path.as_str(), &e.id)).collect();
    let mut changes = Vec::new();
    for (path, id) in &old {
        match new.get(path) {
            Some(new_id) if new_id == id => {}
            new_id => changes.push(PathChange { path: path.to_string(), old: Some(**id), new: new_id.map(|i| **i) }),
        }
    }
    for (path, id) in &new {
        if !old.contains_key(path) {
            changes.push(PathChange { path: path.to_string(), old: None, new: Some(**id) });
        }
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    changes
}
