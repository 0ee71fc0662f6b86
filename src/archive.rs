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

/// Writes a file atomically: a temporary file beside `path`, then renamed (see
/// `write_atomically` for `-`, links and special files).
pub fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically(path, |file| {
        file.write_all(bytes)?;
        Ok(())
    })
}

fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut (dyn Write + Send)) -> std::io::Result<()>,
) -> std::io::Result<()> {
    // `-` is standard output; a link, a device or a FIFO is written through, never replaced by
    // a file of ours; only a regular file (or nothing) is replaced by rename.
    if path.as_os_str() == "-" {
        let mut out = std::io::stdout();
        fill(&mut out)?;
        return out.flush();
    }
    match path.symlink_metadata() {
        Ok(meta) if meta.is_dir() => {
            return Err(std::io::Error::new(std::io::ErrorKind::IsADirectory, "it is a folder"));
        }
        Ok(meta) if !meta.file_type().is_file() => {
            let mut file = std::fs::OpenOptions::new().write(true).truncate(true).open(path)?;
            fill(&mut file)?;
            return file.flush();
        }
        _ => {}
    }
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

/// Members to write: `first` are owned and each is freed once it is in the archive (the manifest
/// of a 100,000-item bundle is 25 MB), then every one of `rest`.
pub struct Members<'a> {
    pub first: Vec<(&'a str, Vec<u8>)>,
    pub rest: &'a [(&'a str, &'a [u8])],
}

/// Writes a bundle file atomically: a temporary file beside `path`, then renamed. `written` hears
/// the index in `rest` of each member as it starts, for progress.
pub fn write(path: &Path, members: Members<'_>, mtime: u64, written: &mut dyn FnMut(usize)) -> std::io::Result<()> {
    let compress = path.extension().is_some_and(|e| e == "gz" || e == "tgz");
    write_atomically(path, |file| {
        let out = std::io::BufWriter::with_capacity(1 << 20, file);
        if !compress {
            return write_tar(out, members, mtime, written)?.flush();
        }
        write_tar_gz(out, members, mtime, written)
    })
}

/// Threads that compress the archive, each chunk as a gzip member of its own.
const COMPRESSORS: usize = 2;

/// Compresses the tar stream like `pigz`: fixed 2 MiB chunks, each compressed on one of
/// `COMPRESSORS` threads into a complete gzip member, written in order. Concatenated members
/// are one valid gzip file (`gzip -d`, `tar -z` and every reader take them), and fixed chunk
/// boundaries keep the bytes reproducible. Level 1: three times faster than gzip's default, for
/// a slightly larger file; no file name and a zero mtime in each header.
fn write_tar_gz<W: Write + Send>(
    mut out: W,
    members: Members<'_>,
    mtime: u64,
    written: &mut dyn FnMut(usize),
) -> std::io::Result<()> {
    use std::sync::mpsc::{Receiver, sync_channel};
    let mut inputs = Vec::new();
    let mut outputs: Vec<Receiver<std::io::Result<Vec<u8>>>> = Vec::new();
    std::thread::scope(|scope| {
        for _ in 0..COMPRESSORS {
            let (chunk_tx, chunk_rx) = sync_channel::<Vec<u8>>(1);
            let (done_tx, done_rx) = sync_channel::<std::io::Result<Vec<u8>>>(1);
            inputs.push(chunk_tx);
            outputs.push(done_rx);
            scope.spawn(move || {
                for chunk in chunk_rx {
                    let mut encoder = flate2::GzBuilder::new()
                        .mtime(0)
                        .write(Vec::with_capacity(chunk.len() / 3), flate2::Compression::fast());
                    let member = encoder.write_all(&chunk).and_then(|_| encoder.finish());
                    if done_tx.send(member).is_err() {
                        return;
                    }
                }
            });
        }
        let writer = scope.spawn(move || -> std::io::Result<W> {
            // Chunk i went to compressor i % COMPRESSORS: read the results in the same rotation.
            'members: loop {
                for output in &outputs {
                    match output.recv() {
                        Ok(member) => out.write_all(&member?)?,
                        Err(_) => break 'members,
                    }
                }
            }
            out.flush()?;
            Ok(out)
        });
        let sender = ChunkSender { senders: inputs, next: 0, buffer: Vec::with_capacity(CHUNK) };
        let tar = write_tar(sender, members, mtime, written).and_then(|mut sender| sender.flush());
        let finished = writer.join().unwrap_or_else(|_| Err(std::io::Error::other("the archive writer panicked")));
        tar.and(finished.map(|_| ()))
    })
}

const CHUNK: usize = 2 << 20;

/// A writer that hands full chunks to the compressors in rotation.
struct ChunkSender {
    senders: Vec<std::sync::mpsc::SyncSender<Vec<u8>>>,
    next: usize,
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
        let sender = &self.senders[self.next % self.senders.len()];
        self.next += 1;
        sender.send(chunk).map_err(|_| std::io::Error::other("the compressor stopped"))
    }
}

fn write_tar<W: Write>(out: W, members: Members<'_>, mtime: u64, written: &mut dyn FnMut(usize)) -> std::io::Result<W> {
    let mut builder = tar::Builder::new(out);
    builder.mode(tar::HeaderMode::Deterministic);
    for (path, bytes) in members.first {
        append(&mut builder, path, &bytes, mtime)?;
    }
    for (index, (path, bytes)) in members.rest.iter().enumerate() {
        written(index);
        append(&mut builder, path, bytes, mtime)?;
    }
    builder.into_inner()
}

fn append<W: Write>(builder: &mut tar::Builder<W>, path: &str, bytes: &[u8], mtime: u64) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime);
    header.set_username("")?;
    header.set_groupname("")?;
    builder.append_data(&mut header, path, bytes)
}

/// Returns the members of a bundle file's bytes, in archive order.
pub fn read(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, ArchiveError> {
    let data: std::borrow::Cow<'_, [u8]> = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
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
        let rest: Vec<(&str, &[u8])> = vec![("a.txt", b"a"), (long.as_str(), b"long")];
        let members = || Members { first: vec![("manifest.json", b"{}\n".to_vec())], rest: &rest };
        for name in ["b.tar", "b.tar.gz"] {
            let one = dir.path().join(format!("1-{name}"));
            let two = dir.path().join(format!("2-{name}"));
            write(&one, members(), 1_700_000_000, &mut |_| {}).unwrap();
            write(&two, members(), 1_700_000_000, &mut |_| {}).unwrap();
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
    fn large_archives_are_several_gzip_members_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        // 5 MiB of varied text: three 2 MiB chunks, so three gzip members from two threads.
        let big: Vec<u8> =
            (0..5 * 1024 * 1024u32).map(|i| b'a' + (i.wrapping_mul(2654435761) >> 27) as u8 % 26).collect();
        let rest: Vec<(&str, &[u8])> = vec![("big.txt", &big), ("small.txt", b"small")];
        let path = dir.path().join("big.tar.gz");
        write(&path, Members { first: vec![("manifest.json", b"{}".to_vec())], rest: &rest }, 0, &mut |_| {}).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let members_in_file = bytes.windows(4).filter(|w| *w == [0x1f, 0x8b, 0x08, 0x00]).count();
        assert!(members_in_file >= 3, "{members_in_file} gzip members");
        let read_back = read(&bytes).unwrap();
        assert_eq!(read_back[1].1, big);
        assert_eq!(read_back[2].1, b"small");
        let status = std::process::Command::new("gzip").arg("-t").arg(&path).status();
        if let Ok(status) = status {
            assert!(status.success(), "gzip reads concatenated members");
        }
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
