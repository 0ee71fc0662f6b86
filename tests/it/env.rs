//! `migrate env record` and `migrate env retire`: the environment records of the source
//! repository, written to the work tree for a pull request.

use crate::common::{RepoBuilder, TestEnv};

/// Issue 11, item 8: a temporary environment (`testnew`) or one of its targets leaves the
/// records; what only it held no longer counts as shipped.
#[test]
fn retire_removes_a_target_then_the_environment() {
    let env = TestEnv::new();
    let mut repo = RepoBuilder::init(&env.path("work"), false);
    repo.write("migrate.yaml", "version: 1\nproject: p\ndialects: [sqlite]\nenvironments: [testnew, prod]\n")
        .write("migrations/0001_a.sql", "CREATE TABLE a (id INTEGER);\n");
    repo.commit("one");
    repo.checkout();
    let bundle = env.path("one.tar");
    env.export(&repo.dir, &bundle, &["--head", "main"]);
    let mut ids = Vec::new();
    for site in ["site-1", "site-2"] {
        let receipt = env.path(&format!("{site}.json"));
        let target = env.path(site);
        let imported = env.import_for(&bundle, &target, "testnew", &receipt);
        let out = env.run(&repo.dir, &["env", "record", receipt.to_str().unwrap()]);
        assert!(out.ends_with("[exit status: 0]\n"), "{out}");
        ids.push(imported["target_id"].as_str().unwrap().to_string());
    }
    let record = repo.dir.join("environments/testnew.json");
    // An edit of a migration a record holds is refused while the record is there.
    std::fs::write(repo.dir.join("migrations/0001_a.sql"), "CREATE TABLE a (id BIGINT);\n").unwrap();
    let out = env.run(&repo.dir, &["check"]);
    assert!(out.contains("shipped_migration_edited") && out.ends_with("[exit status: 1]\n"), "{out}");

    let out = env.run(&repo.dir, &["env", "retire", "testnew", "--target", "t-nope"]);
    assert!(
        out.contains("migrate::unknown_target") && out.contains(&ids[0]) && out.ends_with("[exit status: 2]\n"),
        "{out}"
    );
    let out = env.run(&repo.dir, &["env", "retire", "testnew", "--target", &ids[0]]);
    assert!(out.contains(&format!("retired target `{}`", ids[0])) && out.ends_with("[exit status: 0]\n"), "{out}");
    let left: serde_json::Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    assert_eq!(left["targets"].as_object().unwrap().keys().collect::<Vec<_>>(), [&ids[1]]);
    let out = env.run(&repo.dir, &["env", "retire", "testnew"]);
    assert!(
        out.contains("retired environment `testnew` (1 target): removed `environments/testnew.json`")
            && out.ends_with("[exit status: 0]\n"),
        "{out}"
    );
    assert!(!record.exists());
    let out = env.run(&repo.dir, &["env", "retire", "testnew"]);
    assert!(out.contains("migrate::no_record") && out.ends_with("[exit status: 2]\n"), "{out}");
    // With no record left, the migration never shipped: it may change.
    let out = env.run(&repo.dir, &["check"]);
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
}
