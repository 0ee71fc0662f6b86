//! Hostile and unlucky inputs (issue 12): links where the tool's own files go, special output
//! paths.

use std::os::unix::fs::FileTypeExt as _;

use crate::common::{RepoBuilder, TestEnv};

fn project(env: &TestEnv) -> RepoBuilder {
    let mut repo = RepoBuilder::init(&env.path("work"), false);
    repo.write("migrate.yaml", "version: 1\nproject: p\ndialects: [sqlite]\n")
        .write("migrations/0001_a.sql", "CREATE TABLE a (id INTEGER);\n")
        .write("assets/query/a.yaml", "spec: {}\n");
    repo.commit("one");
    repo
}

/// Issue 12, item 5: `.migrate`, or one of the tool's files in it, as a link is refused before
/// anything is written anywhere; the control imports.
#[test]
fn the_tools_own_paths_must_not_be_links() {
    let env = TestEnv::new();
    let repo = project(&env);
    let bundle = env.path("one.tar");
    env.export(&repo.dir, &bundle, &["--head", "main"]);
    let outside = env.path("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let import = |target: &std::path::Path| {
        env.run(env.root.path(), &["import", bundle.to_str().unwrap(), "--target", target.to_str().unwrap()])
    };

    let linked = env.path("linked");
    std::fs::create_dir_all(&linked).unwrap();
    std::os::unix::fs::symlink(&outside, linked.join(".migrate")).unwrap();
    let out = import(&linked);
    assert!(out.contains("migrate::target_link") && out.ends_with("[exit status: 1]\n"), "{out}");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "nothing written through the link");
    assert!(!linked.join("db.sqlite3").exists() && !linked.join("assets").exists());

    let state_linked = env.path("state-linked");
    std::fs::create_dir_all(state_linked.join(".migrate")).unwrap();
    let decoy = outside.join("decoy.json");
    std::fs::write(&decoy, "keep me").unwrap();
    std::os::unix::fs::symlink(&decoy, state_linked.join(".migrate/state.json")).unwrap();
    let out = import(&state_linked);
    assert!(out.contains("migrate::target_link") && out.ends_with("[exit status: 1]\n"), "{out}");
    assert_eq!(std::fs::read_to_string(&decoy).unwrap(), "keep me");
    let out = env.run(env.root.path(), &["status", "--target", state_linked.to_str().unwrap()]);
    assert!(out.ends_with("[exit status: 2]\n") && out.contains("link"), "status does not read through it: {out}");

    // The control: a plain target imports.
    let plain = env.path("plain");
    let out = import(&plain);
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
}

/// Issue 12, item 5: `-o -` is standard output; a link or a FIFO is written through, never
/// replaced by a regular file.
#[test]
fn outputs_to_stdout_links_and_fifos_are_written_through() {
    let env = TestEnv::new();
    let repo = project(&env);
    let file = env.path("file.tar");
    env.export(&repo.dir, &file, &["--head", "main"]);
    let expected = std::fs::read(&file).unwrap();

    let out = env.command(&repo.dir, &["export", "--head", "main", "-o", "-"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, expected, "the bundle on stdout, and nothing else");
    assert!(!repo.dir.join("-").exists(), "no file named `-`");

    let real = env.path("real.tar");
    std::fs::write(&real, "old").unwrap();
    let link = env.path("link.tar");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    env.export(&repo.dir, &link, &["--head", "main"]);
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink(), "the link stays a link");
    assert_eq!(std::fs::read(&real).unwrap(), expected);

    let fifo = env.path("fifo.tar");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    env.export(&repo.dir, &fifo, &["--head", "main"]);
    assert_eq!(reader.join().unwrap(), expected);
    assert!(fifo.symlink_metadata().unwrap().file_type().is_fifo(), "the FIFO stays a FIFO");
}
