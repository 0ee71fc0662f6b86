//! Hostile bundle files, built from a good bundle's members: gzip bombs, forged header sizes, a
//! flood of members. One generator for the tests (`tests/it/hostile.rs`) and for the script that
//! measures how fast and in how little memory they are refused (`scripts/bench-hostile.sh`, via
//! `examples/hostile.rs`).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const GIB: u64 = 1 << 30;

/// One hostile file and how `migrate verify` must refuse it.
pub struct Hostile {
    pub name: &'static str,
    pub path: PathBuf,
    /// The diagnostic code of the refusal.
    pub code: &'static str,
    /// 1 (refused) or 2 (not a bundle at all).
    pub exit: i32,
}

/// Every member of a bundle file in archive order (the manifest first), read with the `tar`
/// crate rather than the tool's own reader.
pub fn read_members(bundle: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(bundle).unwrap();
    let data: Vec<u8> = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_end(&mut out).unwrap();
        out
    } else {
        bytes
    };
    let mut archive = tar::Archive::new(&data[..]);
    let mut members = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        members.push((path, content));
    }
    members
}

/// A plain ustar header for a regular member of `size` bytes (sizes past 8 GiB in base-256).
fn header(name: &str, size: u64) -> Vec<u8> {
    let mut header = tar::Header::new_ustar();
    header.set_path(name).unwrap();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    header.as_bytes().to_vec()
}

/// A member: header, contents, padding to the next 512-byte block.
fn entry(name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = header(name, bytes.len() as u64);
    out.extend_from_slice(bytes);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A gzip stream of `bytes` zeros, about 1 KB per MiB: one compressed 16 MiB member repeated
/// (concatenated gzip members are one stream).
fn gzip_zeros(bytes: u64) -> Vec<u8> {
    const CHUNK: u64 = 16 << 20;
    let member = gzip(&vec![0u8; CHUNK as usize]);
    let mut out = Vec::with_capacity(member.len() * (bytes / CHUNK) as usize);
    for _ in 0..bytes / CHUNK {
        out.extend_from_slice(&member);
    }
    out
}

/// Writes every hostile variant of `good` (a bundle's members, manifest first, the rest
/// including at least one asset) into `dir`.
pub fn write_all(good: &[(String, Vec<u8>)], dir: &Path) -> Vec<Hostile> {
    assert_eq!(good[0].0, "manifest.json", "the manifest comes first");
    let manifest = entry(&good[0].0, &good[0].1);
    let (member, _) = good.iter().find(|(p, _)| p.starts_with("assets/")).expect("a bundle with an asset");
    let bomb = gzip_zeros(GIB);
    let mut all_good: Vec<u8> = good.iter().flat_map(|(p, b)| entry(p, b)).collect();
    let mut out = Vec::new();
    let mut write = |name: &'static str, bytes: &[u8], code: &'static str, exit: i32| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        out.push(Hostile { name, path, code, exit });
    };

    // Gzip bombs: 1 MB that inflates to 1 GiB, behind each kind of header.
    let mut bytes = gzip(&header("manifest.json", GIB));
    bytes.extend_from_slice(&bomb);
    write("bomb-manifest.tar.gz", &bytes, "migrate::bundle_too_large", 1);

    let mut bytes = gzip(&header("manifest.json", 200 << 20));
    bytes.extend_from_slice(&bomb);
    write("bomb-manifest-within-limit.tar.gz", &bytes, "migrate::manifest_unreadable", 2);

    let mut head = manifest.clone();
    head.extend(header(member, GIB));
    let mut bytes = gzip(&head);
    bytes.extend_from_slice(&bomb);
    write("bomb-listed-member.tar.gz", &bytes, "migrate::member_size", 1);

    let mut head = all_good.clone();
    head.extend(header("payload.bin", GIB));
    let mut bytes = gzip(&head);
    bytes.extend_from_slice(&bomb);
    write("bomb-unlisted-member.tar.gz", &bytes, "migrate::member_unlisted", 1);

    let mut long_name = tar::Header::new_gnu();
    long_name.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
    long_name.set_entry_type(tar::EntryType::GNULongName);
    long_name.set_size(GIB);
    long_name.set_cksum();
    let mut bytes = gzip(long_name.as_bytes());
    bytes.extend_from_slice(&bomb);
    write("bomb-long-name.tar.gz", &bytes, "migrate::bundle_too_large", 1);

    write("bomb-no-tar.gz", &bomb, "migrate::not_a_bundle", 2);

    // Forged header sizes (2^62 bytes) in a 16 KiB file.
    let mut bytes = header("manifest.json", 1 << 62);
    bytes.resize(16 << 10, 0);
    write("forged-size-manifest.tar", &bytes, "migrate::bundle_too_large", 1);

    let mut bytes = manifest.clone();
    bytes.extend(header(member, 1 << 62));
    bytes.resize(bytes.len() + (16 << 10), 0);
    write("forged-size-member.tar", &bytes, "migrate::member_size", 1);

    // A million empty members after the manifest (512 MB of headers).
    let mut bytes = manifest;
    bytes.reserve(1_000_000 * 512 + 1024);
    for i in 0..1_000_000 {
        bytes.extend(header(&format!("m/{i}"), 0));
    }
    bytes.resize(bytes.len() + 1024, 0);
    write("million-members.tar", &bytes, "migrate::member_unlisted", 1);

    // The control: the same members, written the same plain way, verify.
    all_good.resize(all_good.len() + 1024, 0);
    let path = dir.join("control.tar");
    std::fs::write(&path, &all_good).unwrap();
    out
}
