//! The bundle file: a standard tar archive (gzip-compressed when its name ends in `.gz` or `.tgz`)
//! written deterministically, and read back member by member without a general extractor.
//!
//! Writing: entries in a fixed order (the manifest, its signature, then every member by path),
//! mode 0644, owner 0:0 with empty names, and one fixed mtime, so the same inputs give the same
//! bytes on any machine, time zone, umask or locale. The file appears by rename, so a failed
//! export leaves nothing behind.
//!
//! Reading refuses, before anything is used: links and every other non-regular member, absolute
//! or `..` paths, duplicate names, and a truncated or corrupt archive.

use std::io::{Read, Write};
use std::path::Path;

/// Why an archive cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("not a tar archive (nor a gzip-compressed one)")]
    NotAnArchive,
    #[error("the archive is truncated or corrupt: {0}")]
    Corrupt(String),
    #[error("member `{path}` is a {kind}, and a bundle holds regular files only")]
    NotRegular { path: String, kind: String },
    #[error("member `{0}` has an unsafe path (absolute, `..`, or not UTF-8)")]
    UnsafePath(String),
    #[error("member `{0}` appears twice")]
    Duplicate(String),
}

impl ArchiveError {
    /// The stable diagnostic code.
    pub fn code(&self) -> &'static str {
        match self {
            ArchiveError::NotAnArchive => "migrate::not_a_bundle",
            ArchiveError::Corrupt(_) => "migrate::archive_corrupt",
            ArchiveError::NotRegular { .. } => "migrate::member_not_regular",
            ArchiveError::UnsafePath(_) => "migrate::member_unsafe_path",
            ArchiveError::Duplicate(_) => "migrate::member_duplicate",
        }
    }
}

/// Writes a file atomically: a temporary file beside `path`, then renamed.
pub fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically(path, |file| {
        file.write_all(bytes)?;
        Ok(())
    })
}

fn write_atomically(path: &Path, fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.partial", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        fill(&mut file)?;
        // No fsync: a bundle is an artifact that `verify` checks, not state that must survive a
        // power cut, and syncing 100 MB took a third of an export's time on a busy disk.
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Writes a bundle file atomically: a temporary file beside `path`, then renamed.
pub fn write(path: &Path, members: &[(&str, &[u8])], mtime: u64) -> std::io::Result<()> {
    let compress = path.extension().is_some_and(|e| e == "gz" || e == "tgz");
    write_atomically(path, |file| {
        let out = std::io::BufWriter::with_capacity(1 << 20, file);
        if !compress {
            return write_tar(out, members, mtime)?.flush();
        }
        // Compression runs on a thread of its own, fed in 1 MiB chunks, while this one builds
        // the archive. Level 1: three times faster than gzip's default, for a slightly larger file. No file name and a zero mtime in the gzip header: the bytes depend on
        // the data only.
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
        std::thread::scope(|scope| {
            let compressor = scope.spawn(move || -> std::io::Result<()> {
                let mut encoder = flate2::GzBuilder::new().mtime(0).write(out, flate2::Compression::fast());
                for chunk in receiver {
                    encoder.write_all(&chunk)?;
                }
                encoder.finish()?.flush()
            });
            let written = write_tar(ChunkSender { sender, buffer: Vec::with_capacity(CHUNK) }, members, mtime)
                .and_then(|mut sender| sender.flush());
            let compressed =
                compressor.join().unwrap_or_else(|_| Err(std::io::Error::other("the compressor panicked")));
            written.and(compressed)
        })
    })
}

const CHUNK: usize = 1 << 20;

/// A writer that hands full chunks to another thread.
struct ChunkSender {
    sender: std::sync::mpsc::SyncSender<Vec<u8>>,
    buffer: Vec<u8>,
}

impl Write for ChunkSender {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK {
            self.flush()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
        self.sender.send(chunk).map_err(|_| std::io::Error::other("the compressor stopped"))
    }
}

fn write_tar<W: Write>(out: W, members: &[(&str, &[u8])], mtime: u64) -> std::io::Result<W> {
    let mut builder = tar::Builder::new(out);
    builder.mode(tar::HeaderMode::Deterministic);
    for (path, bytes) in members {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        header.set_username("")?;
        header.set_groupname("")?;
        builder.append_data(&mut header, path, *bytes)?;
    }
    builder.into_inner()
}

/// Returns the members of a bundle file's bytes, in archive order.
pub fn read(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, ArchiveError> {
    let data: std::borrow::Cow<'_, [u8]> = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        out.into()
    } else {
        bytes.into()
    };
    // A tar archive is a sequence of 512-byte blocks whose first header carries the `ustar` magic.
    if data.len() < 512 || &data[257..262] != b"ustar" {
        return Err(ArchiveError::NotAnArchive);
    }
    let mut archive = tar::Archive::new(&data[..]);
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let entries = archive.entries().map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        if !matches!(kind, tar::EntryType::Regular | tar::EntryType::Continuous) {
            return Err(ArchiveError::NotRegular { path: raw_path, kind: describe(kind) });
        }
        let path = std::str::from_utf8(&entry.path_bytes())
            .map(str::to_string)
            .map_err(|_| ArchiveError::UnsafePath(raw_path.clone()))?;
        if !is_safe_member_path(&path) {
            return Err(ArchiveError::UnsafePath(path));
        }
        if !seen.insert(path.clone()) {
            return Err(ArchiveError::Duplicate(path));
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut bytes).map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        if bytes.len() as u64 != entry.size() {
            return Err(ArchiveError::Corrupt(format!("member `{path}` is cut short")));
        }
        members.push((path, bytes));
    }
    Ok(members)
}

fn describe(kind: tar::EntryType) -> String {
    match kind {
        tar::EntryType::Symlink => "symbolic link".into(),
        tar::EntryType::Link => "hard link".into(),
        tar::EntryType::Directory => "directory".into(),
        tar::EntryType::Char | tar::EntryType::Block => "device".into(),
        tar::EntryType::Fifo => "fifo".into(),
        other => format!("{other:?} entry").to_lowercase(),
    }
}

/// A member path is relative, `/`-separated, without empty, `.` or `..` segments or backslashes.
pub fn is_safe_member_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.contains('\0')
        && path.split('/').all(|segment| !segment.is_empty() && segment != "." && segment != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_deterministic_plain_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let long = format!("assets/{}x.yaml", "deep/".repeat(40));
        let members: Vec<(&str, &[u8])> = vec![("manifest.json", b"{}\n"), ("a.txt", b"a"), (long.as_str(), b"long")];
        for name in ["b.tar", "b.tar.gz"] {
            let one = dir.path().join(format!("1-{name}"));
            let two = dir.path().join(format!("2-{name}"));
            write(&one, &members, 1_700_000_000).unwrap();
            write(&two, &members, 1_700_000_000).unwrap();
            let bytes = std::fs::read(&one).unwrap();
            assert_eq!(bytes, std::fs::read(&two).unwrap());
            let read_back = read(&bytes).unwrap();
            let names: Vec<&str> = read_back.iter().map(|(p, _)| p.as_str()).collect();
            assert_eq!(names, ["manifest.json", "a.txt", long.as_str()]);
            assert_eq!(read_back[2].1, b"long");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4, "no temporary file is left");
    }

    #[test]
    fn unsafe_archives_are_refused() {
        assert!(matches!(read(b"hello"), Err(ArchiveError::NotAnArchive)));
        assert!(is_safe_member_path("assets/query/a.yaml"));
        for bad in ["/etc/passwd", "../x", "a/../b", "a//b", "./a", "a\\b", ""] {
            assert!(!is_safe_member_path(bad), "{bad}");
        }
    }
}
