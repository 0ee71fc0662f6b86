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
    #[error("the first member is `{0}`, not `manifest.json`: this is not a bundle")]
    NoManifest(String),
    #[error("member `{0}` is not listed in the manifest")]
    Unlisted(String),
    #[error("member `{path}` has {actual} bytes, but the manifest says {expected}")]
    SizeMismatch { path: String, expected: u64, actual: u64 },
    #[error("{0}")]
    TooLarge(String),
    #[error("`manifest.json` is not JSON: {0}")]
    ManifestNotJson(String),
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
            ArchiveError::NoManifest(_) => "migrate::not_a_bundle",
            ArchiveError::Unlisted(_) => "migrate::member_unlisted",
            ArchiveError::SizeMismatch { .. } => "migrate::member_size",
            ArchiveError::TooLarge(_) => "migrate::bundle_too_large",
            ArchiveError::ManifestNotJson(_) => "migrate::manifest_unreadable",
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
/// of a 100,000-item bundle is 25 MB), then every one of `rest`, then every one of `generated`.
pub struct Members<'a> {
    pub first: Vec<(&'a str, Vec<u8>)>,
    pub rest: &'a [(&'a str, &'a [u8])],
    pub generated: &'a [Generated<'a>],
}

/// A member rendered as it is written, whose size is known beforehand (the manifest lists it):
/// the offline script of a 56 MB data migration is never held whole.
pub struct Generated<'a> {
    pub path: &'a str,
    pub size: u64,
    pub render: &'a dyn Fn(&mut dyn std::fmt::Write) -> std::io::Result<()>,
}

/// Text written into an `io::Write`, counted; the first error is kept (`fmt::Write` cannot say
/// which).
struct TextSink<W> {
    inner: W,
    written: u64,
    error: Option<std::io::Error>,
}

impl<W: Write> std::fmt::Write for TextSink<W> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        if self.error.is_some() {
            return Err(std::fmt::Error);
        }
        match self.inner.write_all(text.as_bytes()) {
            Ok(()) => {
                self.written += text.len() as u64;
                Ok(())
            }
            Err(e) => {
                self.error = Some(e);
                Err(std::fmt::Error)
            }
        }
    }
}

/// Writes a text file atomically (see `write_file`) as `render` produces it.
pub fn write_text_file(
    path: &Path,
    render: &dyn Fn(&mut dyn std::fmt::Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    write_atomically(path, |file| {
        let mut sink = TextSink { inner: std::io::BufWriter::with_capacity(1 << 20, file), written: 0, error: None };
        render(&mut sink)?;
        if let Some(e) = sink.error {
            return Err(e);
        }
        sink.inner.flush()
    })
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
    for (index, member) in members.generated.iter().enumerate() {
        written(members.rest.len() + index);
        let mut header = header(member.size, mtime)?;
        header.set_path(member.path)?;
        header.set_cksum();
        let out = builder.get_mut();
        out.write_all(header.as_bytes())?;
        let mut sink = TextSink { inner: &mut *out, written: 0, error: None };
        (member.render)(&mut sink)?;
        if let Some(e) = sink.error {
            return Err(e);
        }
        if sink.written != member.size {
            return Err(std::io::Error::other(format!(
                "`{}` came out at {} bytes, not the {} its manifest entry says",
                member.path, sink.written, member.size
            )));
        }
        let padding = (512 - member.size % 512) % 512;
        out.write_all(&[0u8; 512][..padding as usize])?;
    }
    builder.into_inner()
}

/// The header of a member of `size` bytes, as every member of a bundle has it.
fn header(size: u64, mtime: u64) -> std::io::Result<tar::Header> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime);
    header.set_username("")?;
    header.set_groupname("")?;
    Ok(header)
}

fn append<W: Write>(builder: &mut tar::Builder<W>, path: &str, bytes: &[u8], mtime: u64) -> std::io::Result<()> {
    let mut header = header(bytes.len() as u64, mtime)?;
    builder.append_data(&mut header, path, bytes)
}

/// The first members of a bundle, which say what the rest may be.
pub struct Head {
    pub manifest: Vec<u8>,
    pub signature: Option<Vec<u8>>,
}

/// What the head admits: the exact size of every member the rest of the archive may hold.
pub trait Admit {
    /// The listed size of `path`, or `None` when the manifest does not list it.
    fn size_of(&self, path: &str) -> Option<u64>;
}

impl Admit for crate::core::verify::Admission {
    fn size_of(&self, path: &str) -> Option<u64> {
        crate::core::verify::Admission::size_of(self, path)
    }
}

/// Payload members by path, in archive order.
pub type MemberList = Vec<(String, Vec<u8>)>;

/// Why a bundle file is not read: the archive itself, or the head's refusal.
#[derive(Debug)]
pub enum ReadError<E> {
    Archive(ArchiveError),
    Refused(E),
}

impl<E> From<ArchiveError> for ReadError<E> {
    fn from(e: ArchiveError) -> Self {
        ReadError::Archive(e)
    }
}

/// Bytes of tar structure around a member's contents: the previous member's padding, its header,
/// a GNU long-name or PAX record and its header (paths up to 4 KiB), or the archive's end blocks.
const MEMBER_OVERHEAD: u64 = 4 * 512 + 4096;

/// Reads a bundle file as a stream, in bounded memory: the manifest must come first (the
/// signature, if any, second) and is handed to `admit` before one byte of payload is inflated;
/// then each member must be one the admission lists, at exactly its listed size, once. The
/// decompressed stream is metered: each header may cost `MEMBER_OVERHEAD` bytes and each member
/// its checked size, no more, so a gzip bomb, a forged header size or a flood of members is
/// refused after reading at most a few KiB beyond what was allowed.
/// Returns the admission and the payload members in archive order.
pub fn read<A: Admit, E>(
    input: impl Read,
    admit: impl FnOnce(Head) -> Result<A, E>,
) -> Result<(A, MemberList), ReadError<E>> {
    use crate::core::manifest::{MANIFEST_PATH, SIGNATURE_PATH};
    use crate::core::verify::limits;
    let mut input = std::io::BufReader::with_capacity(1 << 18, input);
    let gzip = std::io::BufRead::fill_buf(&mut input)
        .map_err(|e| ArchiveError::Corrupt(e.to_string()))?
        .starts_with(&[0x1f, 0x8b]);
    let inflated: Box<dyn Read> =
        if gzip { Box::new(flate2::bufread::MultiGzDecoder::new(input)) } else { Box::new(input) };
    let budget = Budget::new(MEMBER_OVERHEAD);
    let mut limited = budget.reader(inflated);
    // A tar archive is a sequence of 512-byte blocks whose first header carries the `ustar` magic.
    let mut first = [0u8; 512];
    if let Err(e) = limited.read_exact(&mut first) {
        return Err(if gzip && e.kind() != std::io::ErrorKind::UnexpectedEof {
            ArchiveError::Corrupt(e.to_string())
        } else {
            ArchiveError::NotAnArchive
        }
        .into());
    }
    if &first[257..262] != b"ustar" {
        return Err(ArchiveError::NotAnArchive.into());
    }
    let mut archive = tar::Archive::new(std::io::Cursor::new(first).chain(limited));
    let corrupt = |e: std::io::Error| budget.explain(e);
    let mut entries = archive.entries().map_err(corrupt)?;
    let mut head: Option<Head> = None;
    let mut admission: Option<A> = None;
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut admit = Some(admit);
    let mut admit_once = |first: Head| -> Result<A, ReadError<E>> {
        let Some(admit) = admit.take() else { unreachable!("the head is admitted once") };
        admit(first).map_err(ReadError::Refused)
    };
    loop {
        budget.grant(MEMBER_OVERHEAD);
        let entry = match entries.next() {
            None => break,
            Some(entry) => entry.map_err(corrupt)?,
        };
        let mut entry = entry;
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        if !matches!(kind, tar::EntryType::Regular | tar::EntryType::Continuous) {
            return Err(ArchiveError::NotRegular { path: raw_path, kind: describe(kind) }.into());
        }
        let path = std::str::from_utf8(&entry.path_bytes())
            .map(str::to_string)
            .map_err(|_| ArchiveError::UnsafePath(raw_path.clone()))?;
        if !is_safe_member_path(&path) {
            return Err(ArchiveError::UnsafePath(path).into());
        }
        if !seen.insert(path.clone()) {
            return Err(ArchiveError::Duplicate(path).into());
        }
        let size = entry.size();
        match (&mut head, &admission) {
            (None, None) => {
                if path != MANIFEST_PATH {
                    return Err(ArchiveError::NoManifest(path).into());
                }
                let bytes = read_manifest(&mut entry, size, &budget)?;
                head = Some(Head { manifest: bytes, signature: None });
                continue;
            }
            (Some(first), None) if path == SIGNATURE_PATH && first.signature.is_none() => {
                first.signature = Some(read_member(&mut entry, &path, size, limits::SIGNATURE_BYTES, &budget)?);
                continue;
            }
            (Some(_), None) => {
                let Some(first) = head.take() else { unreachable!("matched Some above") };
                admission = Some(admit_once(first)?);
            }
            (_, Some(_)) => {}
        }
        let Some(admitted) = &admission else { unreachable!("admitted above") };
        let Some(listed) = admitted.size_of(&path) else { return Err(ArchiveError::Unlisted(path).into()) };
        if size != listed {
            return Err(ArchiveError::SizeMismatch { path, expected: listed, actual: size }.into());
        }
        let bytes = read_member(&mut entry, &path, size, listed, &budget)?;
        members.push((path, bytes));
    }
    let admission = match (admission, head) {
        (Some(admission), _) => admission,
        (None, Some(first)) => admit_once(first)?,
        (None, None) => return Err(ArchiveError::NoManifest(String::new()).into()),
    };
    Ok((admission, members))
}

/// Reads one member of `size` bytes, refused when over `limit` before anything is read.
fn read_member(
    entry: &mut impl Read,
    path: &str,
    size: u64,
    limit: u64,
    budget: &Budget,
) -> Result<Vec<u8>, ArchiveError> {
    if size > limit {
        return Err(ArchiveError::TooLarge(format!("member `{path}` declares {size} bytes, more than {limit}")));
    }
    budget.grant(size);
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(size as usize).map_err(|_| {
        ArchiveError::TooLarge(format!("member `{path}` declares {size} bytes, more than this machine can hold"))
    })?;
    entry.take(size).read_to_end(&mut bytes).map_err(|e| budget.explain(e))?;
    if bytes.len() as u64 != size {
        return Err(ArchiveError::Corrupt(format!("member `{path}` is cut short")));
    }
    Ok(bytes)
}

/// Reads the manifest member, checking that it is JSON as it streams in, so that a manifest
/// header in front of a gzip bomb (zeros, or any text that is not JSON) costs one buffer, not
/// the size it declares. The bytes are kept for the signature and the typed parse.
fn read_manifest(entry: &mut impl Read, size: u64, budget: &Budget) -> Result<Vec<u8>, ArchiveError> {
    use crate::core::verify::limits;
    if size > limits::MANIFEST_BYTES {
        return Err(ArchiveError::TooLarge(format!(
            "`manifest.json` declares {size} bytes, more than {}",
            limits::MANIFEST_BYTES
        )));
    }
    budget.grant(size);
    struct Tee<'a, R> {
        inner: R,
        copy: &'a mut Vec<u8>,
    }
    impl<R: Read> Read for Tee<'_, R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let read = self.inner.read(buf)?;
            self.copy.extend_from_slice(&buf[..read]);
            Ok(read)
        }
    }
    let mut bytes = Vec::new();
    let mut reader = std::io::BufReader::with_capacity(1 << 16, Tee { inner: entry.take(size), copy: &mut bytes });
    let mut json = serde_json::Deserializer::from_reader(&mut reader);
    let checked = serde::de::Deserialize::deserialize(&mut json).and_then(|serde::de::IgnoredAny| json.end());
    if let Err(e) = checked {
        return Err(match e.io_error_kind() {
            Some(_) if budget.exhausted.get() => budget.explain(std::io::Error::other(e)),
            Some(_) => ArchiveError::Corrupt(format!("`manifest.json` cannot be read: {e}")),
            None => ArchiveError::ManifestNotJson(e.to_string()),
        });
    }
    drop(reader);
    if bytes.len() as u64 != size {
        return Err(ArchiveError::Corrupt("member `manifest.json` is cut short".into()));
    }
    Ok(bytes)
}

/// How many decompressed bytes the reader may still take; shared between the reader under the
/// tar parser and the code that raises the allowance once the manifest is admitted.
struct Budget {
    remaining: std::rc::Rc<std::cell::Cell<u64>>,
    exhausted: std::rc::Rc<std::cell::Cell<bool>>,
}

impl Budget {
    fn new(bytes: u64) -> Budget {
        Budget {
            remaining: std::rc::Rc::new(std::cell::Cell::new(bytes)),
            exhausted: std::rc::Rc::new(std::cell::Cell::new(false)),
        }
    }

    fn reader<R: Read>(&self, inner: R) -> Limited<R> {
        Limited { inner, remaining: self.remaining.clone(), exhausted: self.exhausted.clone() }
    }

    /// Allows `bytes` more.
    fn grant(&self, bytes: u64) {
        self.remaining.set(self.remaining.get().saturating_add(bytes));
    }

    /// The archive error for an I/O error met while reading: over budget, or corrupt.
    fn explain(&self, e: std::io::Error) -> ArchiveError {
        if self.exhausted.get() {
            ArchiveError::TooLarge("the archive holds more than its headers and manifest declare".into())
        } else {
            ArchiveError::Corrupt(e.to_string())
        }
    }
}

/// A reader that fails once its budget is spent.
struct Limited<R> {
    inner: R,
    remaining: std::rc::Rc<std::cell::Cell<u64>>,
    exhausted: std::rc::Rc<std::cell::Cell<bool>>,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let remaining = self.remaining.get();
        if remaining == 0 {
            self.exhausted.set(true);
            return Err(std::io::Error::other("the archive holds more than its manifest lists"));
        }
        let want = buf.len().min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let read = self.inner.read(&mut buf[..want])?;
        self.remaining.set(remaining - read as u64);
        Ok(read)
    }
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

    /// An admission listing the given sizes.
    struct Listing(std::collections::BTreeMap<String, u64>);

    impl Admit for Listing {
        fn size_of(&self, path: &str) -> Option<u64> {
            self.0.get(path).copied()
        }
    }

    /// Reads `bytes`, admitting exactly `listed`; the head is returned with the members.
    fn read_listing(bytes: &[u8], listed: &[(&str, u64)]) -> Result<(Head, MemberList), ArchiveError> {
        let mut head = None;
        let listing = Listing(listed.iter().map(|(p, s)| (p.to_string(), *s)).collect());
        let result = read(bytes, |h| {
            head = Some(h);
            Ok::<_, ()>(listing)
        });
        match result {
            Ok((_, members)) => Ok((head.unwrap(), members)),
            Err(ReadError::Archive(e)) => Err(e),
            Err(ReadError::Refused(())) => unreachable!(),
        }
    }

    #[test]
    fn round_trip_is_deterministic_plain_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let long = format!("assets/{}x.yaml", "deep/".repeat(40));
        let rest: Vec<(&str, &[u8])> = vec![("a.txt", b"a"), (long.as_str(), b"long")];
        let members = || Members { first: vec![("manifest.json", b"{}\n".to_vec())], rest: &rest, generated: &[] };
        for name in ["b.tar", "b.tar.gz"] {
            let one = dir.path().join(format!("1-{name}"));
            let two = dir.path().join(format!("2-{name}"));
            write(&one, members(), 1_700_000_000, &mut |_| {}).unwrap();
            write(&two, members(), 1_700_000_000, &mut |_| {}).unwrap();
            let bytes = std::fs::read(&one).unwrap();
            assert_eq!(bytes, std::fs::read(&two).unwrap());
            let (head, read_back) = read_listing(&bytes, &[("a.txt", 1), (long.as_str(), 4)]).unwrap();
            assert_eq!(head.manifest, b"{}\n");
            let names: Vec<&str> = read_back.iter().map(|(p, _)| p.as_str()).collect();
            assert_eq!(names, ["a.txt", long.as_str()]);
            assert_eq!(read_back[1].1, b"long");
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
        write(
            &path,
            Members { first: vec![("manifest.json", b"{}".to_vec())], rest: &rest, generated: &[] },
            0,
            &mut |_| {},
        )
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let members_in_file = bytes.windows(4).filter(|w| *w == [0x1f, 0x8b, 0x08, 0x00]).count();
        assert!(members_in_file >= 3, "{members_in_file} gzip members");
        let (_, read_back) = read_listing(&bytes, &[("big.txt", big.len() as u64), ("small.txt", 5)]).unwrap();
        assert_eq!(read_back[0].1, big);
        assert_eq!(read_back[1].1, b"small");
        let status = std::process::Command::new("gzip").arg("-t").arg(&path).status();
        if let Ok(status) = status {
            assert!(status.success(), "gzip reads concatenated members");
        }
    }

    #[test]
    fn unsafe_archives_are_refused() {
        assert!(matches!(read_listing(b"hello", &[]), Err(ArchiveError::NotAnArchive)));
        assert!(is_safe_member_path("assets/query/a.yaml"));
        for bad in ["/etc/passwd", "../x", "a/../b", "a//b", "./a", "a\\b", ""] {
            assert!(!is_safe_member_path(bad), "{bad}");
        }
    }

    #[test]
    fn nothing_beyond_the_listing_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.tar");
        let rest: Vec<(&str, &[u8])> = vec![("a.txt", b"aaaa"), ("b.txt", b"b")];
        write(
            &path,
            Members { first: vec![("manifest.json", b"{}".to_vec())], rest: &rest, generated: &[] },
            0,
            &mut |_| {},
        )
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(read_listing(&bytes, &[("a.txt", 4), ("b.txt", 1)]).is_ok(), "the control reads");
        assert!(matches!(read_listing(&bytes, &[("a.txt", 4)]), Err(ArchiveError::Unlisted(p)) if p == "b.txt"));
        assert!(matches!(
            read_listing(&bytes, &[("a.txt", 3), ("b.txt", 1)]),
            Err(ArchiveError::SizeMismatch { expected: 3, actual: 4, .. })
        ));
        // The manifest must come first: the same members in another order are not a bundle.
        let reordered = dir.path().join("r.tar");
        let rest: Vec<(&str, &[u8])> = vec![("manifest.json", b"{}")];
        write(
            &reordered,
            Members { first: vec![("a.txt", b"aaaa".to_vec())], rest: &rest, generated: &[] },
            0,
            &mut |_| {},
        )
        .unwrap();
        let bytes = std::fs::read(&reordered).unwrap();
        assert!(matches!(read_listing(&bytes, &[("a.txt", 4)]), Err(ArchiveError::NoManifest(p)) if p == "a.txt"));
    }
}
