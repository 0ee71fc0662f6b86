//! The target folder: its lock, `state.json` written atomically, and assets staged and renamed
//! so that a reader never sees half a file. Nothing here writes outside the target folder.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::core::model::ItemId;
use crate::core::state::TargetState;

/// The tool's own folder inside a target.
pub const TOOL_DIR: &str = ".migrate";

/// A target folder.
pub struct Target {
    pub root: PathBuf,
}

/// Why the target cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("the target is busy: another import holds its lock ({holder})")]
    Busy { holder: String },
    #[error("{0}")]
    Io(String),
    #[error("`{path}` is a link or leaves the target folder; migrate writes only inside the target")]
    Escape { path: String },
}

fn io(context: &str, path: &Path, e: std::io::Error) -> TargetError {
    TargetError::Io(format!("cannot {context} `{}`: {e}", path.display()))
}

/// The target's exclusive lock; released when dropped, or when the process dies.
pub struct TargetLock {
    _file: std::fs::File,
}

impl Target {
    pub fn new(root: &Path) -> Target {
        Target { root: root.to_path_buf() }
    }

    fn tool_dir(&self) -> PathBuf {
        self.root.join(TOOL_DIR)
    }

    /// The tool's folder, which must be a real folder inside the target (not a link that would
    /// send the lock, journal and state elsewhere); made when `create` and missing.
    fn own_dir(&self, create: bool) -> Result<Option<PathBuf>, TargetError> {
        let dir = self.tool_dir();
        match dir.symlink_metadata() {
            Ok(meta) if meta.file_type().is_dir() => Ok(Some(dir)),
            Ok(_) => Err(TargetError::Escape { path: dir.display().to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !create => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&dir).map_err(|e| io("create", &dir, e))?;
                Ok(Some(dir))
            }
            Err(e) => Err(io("inspect", &dir, e)),
        }
    }

    /// One of the tool's own files or folders under `.migrate`: absent, or a real file (or
    /// folder, when `folder`) there, never a link or anything else.
    fn own_path(&self, name: &str, create: bool, folder: bool) -> Result<Option<PathBuf>, TargetError> {
        let Some(dir) = self.own_dir(create)? else { return Ok(None) };
        let path = dir.join(name);
        match path.symlink_metadata() {
            Ok(meta) if (folder && meta.file_type().is_dir()) || (!folder && meta.file_type().is_file()) => {
                Ok(Some(path))
            }
            Ok(_) => Err(TargetError::Escape { path: path.display().to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Some(path)),
            Err(e) => Err(io("inspect", &path, e)),
        }
    }

    pub fn state_path(&self) -> PathBuf {
        self.tool_dir().join("state.json")
    }

    pub fn trusted_keys(&self) -> Vec<PathBuf> {
        let dir = self.tool_dir().join("trusted");
        let mut keys: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|e| e == "pub"))
                    .collect()
            })
            .unwrap_or_default();
        keys.sort();
        keys
    }

    /// Takes the exclusive lock, waiting up to `timeout`. The lock file names its holder; a
    /// holder that died released the lock with its process (an OS file lock), so it never blocks.
    pub fn lock(&self, timeout: Duration, holder: &str) -> Result<TargetLock, TargetError> {
        let path = self.own_path("lock", true, false)?.unwrap_or_else(|| self.tool_dir().join("lock"));
        // Every file of the tool's is checked before the first write: none may be a link.
        for name in ["state.json", "journal.json"] {
            self.own_path(name, true, false)?;
        }
        self.own_path("staging", true, true)?;
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io("open", &path, e))?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < timeout => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default().trim().to_string();
                    return Err(TargetError::Busy { holder });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io("lock", &path, e)),
            }
        }
        file.set_len(0).map_err(|e| io("write", &path, e))?;
        file.write_all(holder.as_bytes()).map_err(|e| io("write", &path, e))?;
        Ok(TargetLock { _file: file })
    }

    fn journal_path(&self) -> PathBuf {
        self.tool_dir().join("journal.json")
    }

    /// Records, before any statement runs outside a transaction, the migrations that will run so
    /// and their statements' hashes: after a crash it says which partial history rows may have
    /// had a statement in flight.
    pub fn write_journal(&self, journal: &crate::core::state::Journal) -> Result<(), TargetError> {
        let mut bytes = serde_json::to_vec_pretty(journal).map_err(|e| TargetError::Io(e.to_string()))?;
        bytes.push(b'\n');
        let path = self.own_path("journal.json", true, false)?.unwrap_or_else(|| self.journal_path());
        write_durably(&path, &bytes)
    }

    /// The journal a dead import left: `None` when there is none, `Some(Err(()))` when it
    /// cannot be read (then every partial row counts as uncertain).
    pub fn read_journal(&self) -> Option<Result<crate::core::state::Journal, ()>> {
        let path = match self.own_path("journal.json", false, false) {
            Ok(Some(path)) => path,
            Ok(None) => return None,
            Err(_) => return Some(Err(())),
        };
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(_) => return Some(Err(())),
        };
        Some(serde_json::from_slice(&bytes).map_err(|_| ()))
    }

    pub fn clear_journal(&self) -> Result<(), TargetError> {
        match std::fs::remove_file(self.journal_path()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("remove", &self.journal_path(), e)),
        }
    }

    pub fn read_state(&self) -> Result<Option<Vec<u8>>, TargetError> {
        let Some(path) = self.own_path("state.json", false, false)? else { return Ok(None) };
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read", &path, e)),
        }
    }

    /// Writes `state.json` atomically: a temporary file, fsync, rename, fsync of the folder.
    pub fn write_state(&self, state: &TargetState) -> Result<(), TargetError> {
        let path = self.own_path("state.json", true, false)?.unwrap_or_else(|| self.state_path());
        write_durably(&path, &state.to_bytes())
    }

    /// Returns the path of an asset, refusing one that would leave the folder or pass through a
    /// link already in the target.
    pub fn asset_path(&self, id: &ItemId) -> Result<PathBuf, TargetError> {
        let mut path = self.root.join("assets");
        let relative = format!("{id}.yaml");
        for segment in relative.split('/') {
            if segment.is_empty() || segment == "." || segment == ".." {
                return Err(TargetError::Escape { path: relative.clone() });
            }
            path.push(segment);
            if path.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(TargetError::Escape { path: path.display().to_string() });
            }
        }
        if self.root.join("assets").symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(TargetError::Escape { path: "assets".into() });
        }
        Ok(path)
    }

    /// Writes an asset: staged beside the tool's files, synced, then renamed into place.
    pub fn write_asset(&self, id: &ItemId, bytes: &[u8]) -> Result<(), TargetError> {
        let path = self.asset_path(id)?;
        let staging = self.own_path("staging", true, true)?.unwrap_or_else(|| self.tool_dir().join("staging"));
        std::fs::create_dir_all(&staging).map_err(|e| io("create", &staging, e))?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io("create", parent, e))?;
        }
        let staged = staging.join(format!("{}.yaml", id.as_str().replace('/', "%2F")));
        let mut file = std::fs::File::create(&staged).map_err(|e| io("create", &staged, e))?;
        file.write_all(bytes).and_then(|_| file.sync_all()).map_err(|e| io("write", &staged, e))?;
        std::fs::rename(&staged, &path).map_err(|e| io("move into place", &path, e))
    }

    pub fn delete_asset(&self, id: &ItemId) -> Result<(), TargetError> {
        let path = self.asset_path(id)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("delete", &path, e)),
        }
    }
}

/// Writes a file so that it is either the old or the new content after a crash.
pub fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), TargetError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = dir.join(format!(".{}.tmp", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()));
    let mut file = std::fs::File::create(&temp).map_err(|e| io("create", &temp, e))?;
    file.write_all(bytes).and_then(|_| file.sync_all()).map_err(|e| io("write", &temp, e))?;
    std::fs::rename(&temp, path).map_err(|e| io("replace", path, e))?;
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}
