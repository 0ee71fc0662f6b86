//! `migrate verify`, `inspect` and `keygen`: every tampering case refused with its own message,
//! and signatures that stay reproducible.

use std::path::{Path, PathBuf};

use crate::common::TestEnv;

type Members = Vec<(String, Vec<u8>)>;

/// A good bundle of the inventory fixture, and its members.
fn good_bundle(env: &TestEnv, extra: &[&str]) -> (PathBuf, Members) {
    let repo = env.inventory("repo.git", true);
    let path = env.path("good.tar");
    let mut args = vec!["export", "--head", "feature", "-o", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = env.run(&repo.dir, &args);
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    let members = crate::common::members(&path);
    (path, members)
}

/// Writes members as a tar file with plain headers; `raw_names` may be anything at all.
fn write_tar(path: &Path, members: &[(String, Vec<u8>)]) {
    let mut builder = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in members {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        set_raw_name(&mut header, name);
        header.set_cksum();
        builder.append(&header, &bytes[..]).unwrap();
    }
    builder.finish().unwrap();
}

/// Sets a header's name without the tar crate's checks, as a hostile archive would.
fn set_raw_name(header: &mut tar::Header, name: &str) {
    let old = header.as_old_mut();
    old.name = [0; 100];
    old.name[..name.len()].copy_from_slice(name.as_bytes());
}

fn verify(env: &TestEnv, path: &Path, extra: &[&str]) -> String {
    let mut args = vec!["verify", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    env.run(env.root.path(), &args)
}

#[test]
fn a_good_bundle_verifies_and_inspects() {
    let env = TestEnv::new();
    let (path, _) = good_bundle(&env, &[]);
    insta::assert_snapshot!("good", verify(&env, &path, &[]));
    insta::assert_snapshot!("inspect", env.run(env.root.path(), &["inspect", path.to_str().unwrap()]));
    let json = env.stdout(env.root.path(), &["inspect", path.to_str().unwrap(), "--format", "json"], 0);
    let members = crate::common::members(&path);
    assert_eq!(json.as_bytes(), &members[0].1[..], "inspect --format json prints the manifest as stored");
}

#[test]
fn every_tampering_is_refused_with_its_own_message() {
    let env = TestEnv::new();
    let (_, members) = good_bundle(&env, &[]);
    let manifest_index = members.iter().position(|(p, _)| p == "manifest.json").unwrap();
    let asset = members.iter().position(|(p, _)| p == "assets/query/active-hosts.yaml").unwrap();
    let mut cases: Vec<(&str, Members, &str)> = Vec::new();

    let mut future = members.clone();
    let manifest = String::from_utf8(future[manifest_index].1.clone()).unwrap();
    future[manifest_index].1 = manifest.replacen("\"format_version\":1", "\"format_version\":2", 1).into_bytes();
    cases.push(("future_format", future, "migrate::unknown_bundle_format"));

    let mut unlisted = members.clone();
    unlisted.push(("run-me.sh".into(), b"rm -rf /\n".to_vec()));
    cases.push(("unlisted", unlisted, "migrate::member_unlisted"));

    let mut missing = members.clone();
    missing.remove(asset);
    cases.push(("missing", missing, "migrate::member_missing"));

    let mut changed = members.clone();
    changed[asset].1 = b"spec: {sql: DROP TABLE hosts}\n".to_vec();
    cases.push(("wrong_size", changed, "migrate::member_size"));

    let mut same_size = members.clone();
    let mut bytes = same_size[asset].1.clone();
    let last = bytes.len() - 2;
    bytes[last] = if bytes[last] == b'0' { b'1' } else { b'0' };
    same_size[asset].1 = bytes;
    cases.push(("wrong_sha256", same_size, "migrate::member_hash"));

    let mut duplicate = members.clone();
    duplicate.push(members[asset].clone());
    cases.push(("duplicate", duplicate, "migrate::member_duplicate"));

    let mut absolute = members.clone();
    absolute.push(("/etc/cron.d/evil".into(), b"x".to_vec()));
    cases.push(("absolute", absolute, "migrate::member_unsafe_path"));

    let mut dotdot = members.clone();
    dotdot.push(("assets/../../outside.yaml".into(), b"x".to_vec()));
    cases.push(("dotdot", dotdot, "migrate::member_unsafe_path"));

    for (name, members, expected) in cases {
        let path = env.path(&format!("{name}.tar"));
        write_tar(&path, &members);
        let out = verify(&env, &path, &[]);
        assert!(out.contains(expected), "{name}: {out}");
        assert!(out.ends_with("[exit status: 1]\n"), "{name}: {out}");
        insta::assert_snapshot!(format!("tampered_{name}"), out.replace(env.root.path().to_str().unwrap(), "[ROOT]"));
    }
}

#[test]
fn links_truncation_and_non_bundles() {
    let env = TestEnv::new();
    let (good, members) = good_bundle(&env, &[]);

    let link = env.path("link.tar");
    {
        let mut builder = tar::Builder::new(std::fs::File::create(&link).unwrap());
        for (name, bytes) in &members {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            builder.append_data(&mut header, name, &bytes[..]).unwrap();
        }
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        builder.append_link(&mut header, "assets/query/evil.yaml", "/etc/passwd").unwrap();
        builder.finish().unwrap();
    }
    let out = verify(&env, &link, &[]);
    assert!(
        out.contains("migrate::member_not_regular")
            && out.contains("symbolic link")
            && out.ends_with("[exit status: 1]\n"),
        "{out}"
    );

    let bytes = std::fs::read(&good).unwrap();
    let truncated = env.path("truncated.tar");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2 + 100]).unwrap();
    let out = verify(&env, &truncated, &[]);
    assert!(out.contains("migrate::archive_corrupt") && out.ends_with("[exit status: 1]\n"), "{out}");

    let text = env.path("notes.txt");
    std::fs::write(&text, "just some text, not a bundle\n".repeat(40)).unwrap();
    let out = verify(&env, &text, &[]);
    assert!(out.contains("migrate::not_a_bundle") && out.ends_with("[exit status: 2]\n"), "{out}");

    let no_manifest = env.path("no-manifest.tar");
    write_tar(&no_manifest, &members[1..]);
    let out = verify(&env, &no_manifest, &[]);
    assert!(out.contains("migrate::not_a_bundle") && out.ends_with("[exit status: 2]\n"), "{out}");

    let out = verify(&env, &env.path("nowhere.tar"), &[]);
    assert!(out.ends_with("[exit status: 2]\n"), "{out}");
}

#[test]
fn signatures_are_reproducible_and_checked() {
    let env = TestEnv::new();
    let key = env.path("release.key");
    let out = env.run(env.root.path(), &["keygen", "-o", key.to_str().unwrap()]);
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    let public = env.path("release.key.pub");
    assert!(std::fs::read_to_string(&public).unwrap().starts_with("untrusted comment: minisign public key"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let out = env.run(env.root.path(), &["keygen", "-o", key.to_str().unwrap()]);
    assert!(out.ends_with("[exit status: 2]\n"), "keygen never overwrites: {out}");

    let (signed, members) = good_bundle(&env, &["--sign", key.to_str().unwrap()]);
    assert!(members.iter().any(|(p, _)| p == "manifest.json.minisig"));
    let again = env.path("again.tar");
    let repo = env.path("repo.git");
    let out = env
        .run(&repo, &["export", "--head", "feature", "--sign", key.to_str().unwrap(), "-o", again.to_str().unwrap()]);
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    assert!(std::fs::read(&signed).unwrap() == std::fs::read(&again).unwrap(), "a signed bundle is reproducible");

    let out = verify(&env, &signed, &["--trust", public.to_str().unwrap()]);
    assert!(out.contains("signed by a trusted key") && out.ends_with("[exit status: 0]\n"), "{out}");
    // The bare base64 key on the command line, as minisign's `-P` takes it.
    let bare = std::fs::read_to_string(&public).unwrap().lines().nth(1).unwrap().to_string();
    let out = verify(&env, &signed, &["--trust", &bare]);
    assert!(out.contains("signed by a trusted key") && out.ends_with("[exit status: 0]\n"), "{out}");

    let other = env.path("other.key");
    env.run(env.root.path(), &["keygen", "-o", other.to_str().unwrap()]);
    let out = verify(&env, &signed, &["--trust", env.path("other.key.pub").to_str().unwrap()]);
    assert!(out.contains("migrate::signature_invalid") && out.ends_with("[exit status: 1]\n"), "{out}");
    let other_bare = std::fs::read_to_string(env.path("other.key.pub")).unwrap().lines().nth(1).unwrap().to_string();
    let out = verify(&env, &signed, &["--trust", &other_bare]);
    assert!(out.contains("migrate::signature_invalid") && out.ends_with("[exit status: 1]\n"), "{out}");
    // Neither a file nor a key: said so.
    let out = verify(&env, &signed, &["--trust", "not-a-key"]);
    assert!(out.contains("migrate::key_unreadable") && out.ends_with("[exit status: 2]\n"), "{out}");

    let unsigned = env.path("unsigned.tar");
    let out = env.run(&repo, &["export", "--head", "feature", "-o", unsigned.to_str().unwrap()]);
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    let out = verify(&env, &unsigned, &["--trust", public.to_str().unwrap()]);
    assert!(out.contains("migrate::bundle_unsigned") && out.ends_with("[exit status: 1]\n"), "{out}");

    // A manifest changed after signing (its members still match it) fails the signature.
    let mut forged = members.clone();
    let index = forged.iter().position(|(p, _)| p == "manifest.json").unwrap();
    let text = String::from_utf8(forged[index].1.clone()).unwrap();
    forged[index].1 = text.replacen("\"project\":\"inventory\"", "\"project\":\"inventorY\"", 1).into_bytes();
    let forged_path = env.path("forged.tar");
    write_tar(&forged_path, &forged);
    let out = verify(&env, &forged_path, &["--trust", public.to_str().unwrap()]);
    assert!(out.contains("migrate::signature_invalid") && out.ends_with("[exit status: 1]\n"), "{out}");
}

/// `migrate sign` writes a minisign signature that minisign itself accepts, the same bytes for
/// the same key and file; a changed file, or another key, fails minisign's check (the control).
#[test]
fn signed_files_pass_minisign_itself() {
    let env = TestEnv::new();
    let key = env.path("release.key");
    env.run(env.root.path(), &["keygen", "-o", key.to_str().unwrap()]);
    let file = env.path("SHA256SUMS");
    std::fs::write(&file, "0123  migrate-0.1.0-x86_64-linux.tar.gz\n").unwrap();
    let out = env.run(env.root.path(), &["sign", "--key", key.to_str().unwrap(), file.to_str().unwrap()]);
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    let signature = env.path("SHA256SUMS.minisig");
    let first = std::fs::read(&signature).unwrap();
    env.run(env.root.path(), &["sign", "--key", key.to_str().unwrap(), file.to_str().unwrap()]);
    assert_eq!(std::fs::read(&signature).unwrap(), first, "a signature is deterministic");
    let minisign = |public: &std::path::Path| {
        std::process::Command::new("minisign")
            .args(["-V", "-m"])
            .arg(&file)
            .arg("-p")
            .arg(public)
            .output()
            .expect("minisign is installed (Debian's `minisign` package)")
    };
    let checked = minisign(&env.path("release.key.pub"));
    let said = String::from_utf8_lossy(&checked.stdout).into_owned();
    assert!(
        checked.status.success() && said.contains("file:SHA256SUMS"),
        "{said}{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    std::fs::write(&file, "4567  migrate-0.1.0-x86_64-linux.tar.gz\n").unwrap();
    assert!(!minisign(&env.path("release.key.pub")).status.success(), "a changed file fails");
    std::fs::write(&file, "0123  migrate-0.1.0-x86_64-linux.tar.gz\n").unwrap();
    let other = env.path("other.key");
    env.run(env.root.path(), &["keygen", "-o", other.to_str().unwrap()]);
    assert!(!minisign(&env.path("other.key.pub")).status.success(), "another key fails");
    assert!(minisign(&env.path("release.key.pub")).status.success(), "and the right one still passes");
}
