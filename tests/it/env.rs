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

/// Issue 13, item 6: receipts from the shards of a rollout merge with `env record` in any order
/// and any grouping: one call with all of them, or one per receipt in either order, give the
/// same record byte for byte; an older receipt of a target is left out with a note (exit 0),
/// and a receipt of another project stops the whole call before anything is written.
#[test]
fn receipts_merge_into_the_same_record_in_any_order() {
    let env = TestEnv::new();
    let (repo, one, two) = two_releases(&env);
    // Three sites; site-1 takes both releases, so it has an older and a newer receipt.
    let receipt = |name: &str| env.path(&format!("{name}.json")).to_str().unwrap().to_string();
    // Receipts are ordered by their time, to the second: each import a second of its own.
    let import = |bundle: &std::path::Path, site: &str, name: &str, now: &str| {
        let target = env.path(site);
        let args = ["import", bundle.to_str().unwrap(), "--target", target.to_str().unwrap(), "--env", "prod"];
        let mut command = env.command(env.root.path(), &args);
        let output = command.args(["--receipt", &receipt(name)]).env("MIGRATE_NOW", now).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    };
    import(&one, "site-1", "site-1-old", "1700000000");
    import(&two, "site-1", "site-1-new", "1700000100");
    import(&two, "site-2", "site-2", "1700000050");
    import(&one, "site-3", "site-3", "1700000050");
    let all = ["site-1-old", "site-1-new", "site-2", "site-3"].map(receipt);
    let record = repo.dir.join("environments/prod.json");
    let mut results = Vec::new();
    let orders: [Vec<&[String]>; 3] = [
        vec![&all[..]],
        all.iter().map(std::slice::from_ref).collect(),
        all.iter().rev().map(std::slice::from_ref).collect(),
    ];
    for calls in orders {
        let _ = std::fs::remove_file(&record);
        let mut notes = String::new();
        for receipts in calls {
            let mut args = vec!["env", "record"];
            args.extend(receipts.iter().map(String::as_str));
            let out = env.run(&repo.dir, &args);
            assert!(out.ends_with("[exit status: 0]\n"), "{out}");
            notes.push_str(&out);
        }
        results.push(std::fs::read(&record).unwrap());
        // site-1's older receipt is left out exactly when its newer one was recorded first.
        assert!(notes.matches("is left out").count() <= 1, "{notes}");
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]), "the record depends on the order");
    let merged: serde_json::Value = serde_json::from_slice(&results[0]).unwrap();
    let targets = merged["targets"].as_object().unwrap();
    assert_eq!(targets.len(), 3);
    let held: Vec<usize> = targets.values().map(|r| r["migrations"]["sqlite"].as_array().map_or(0, Vec::len)).collect();
    let mut held_sorted = held.clone();
    held_sorted.sort();
    assert_eq!(held_sorted, [1, 2, 2], "site-1 holds its newer release: {merged}");
    // In the reverse order the newer receipt of site-1 comes first: the older one is left out.
    let _ = std::fs::remove_file(&record);
    let out = env.run(&repo.dir, &["env", "record", &all[1], &all[0]]);
    assert!(out.contains("is left out") && out.ends_with("[exit status: 0]\n"), "{out}");
    // A receipt of another project: nothing of the call is written.
    let _ = std::fs::remove_file(&record);
    let other = env.path("other.json");
    let mut foreign: serde_json::Value = serde_json::from_slice(&std::fs::read(&all[2]).unwrap()).unwrap();
    foreign["project"] = serde_json::json!("someone-else");
    std::fs::write(&other, serde_json::to_vec(&foreign).unwrap()).unwrap();
    let out = env.run(&repo.dir, &["env", "record", &all[3], other.to_str().unwrap()]);
    assert!(out.contains("migrate::other_project") && out.ends_with("[exit status: 1]\n"), "{out}");
    assert!(!record.exists(), "nothing is recorded when one receipt is refused");
}

/// Issue 13, item 4: `env show` lists every target of an environment with its release and, per
/// dialect, the migrations applied, pending (the project has them, the target not yet), partial
/// and differing, in text and in JSON that its published schema accepts; exit 1 when a target
/// has a partial migration or differs from the project, 0 when they are only behind.
#[test]
fn env_show_lists_every_target_against_the_project() {
    let env = TestEnv::new();
    let (repo, one, two) = two_releases(&env);
    for (bundle, site) in [(&two, "site-new"), (&one, "site-old")] {
        let receipt = env.path(&format!("{site}.json"));
        env.import_for(bundle, &env.path(site), "prod", &receipt);
        let out = env.run(&repo.dir, &["env", "record", receipt.to_str().unwrap()]);
        assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    }
    let out = env.run(&repo.dir, &["env", "show", "prod"]);
    assert!(
        out.contains("`prod`: 2 target(s), compared with WORKTREE") && out.ends_with("[exit status: 0]\n"),
        "{out}"
    );
    assert!(out.contains("sqlite: 2 applied\n") && out.contains("sqlite: 1 applied, 1 pending (2)\n"), "{out}");
    let json = env.stdout(&repo.dir, &["env", "show", "prod", "--format", "json"], 0);
    let view: serde_json::Value = serde_json::from_str(&json).unwrap();
    let schema = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/env-show-output.schema.json"),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&serde_json::from_str(&schema).unwrap()).unwrap();
    assert!(validator.is_valid(&view), "{json}");
    let pending: Vec<usize> = view["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["migrations"]["sqlite"]["pending"].as_array().unwrap().len())
        .collect();
    assert_eq!(pending.iter().sum::<usize>(), 1, "{json}");
    // A shipped migration edited in the work tree: both targets differ from the project.
    std::fs::write(repo.dir.join("migrations/0001_a.sql"), "CREATE TABLE a (id BIGINT);\n").unwrap();
    let out = env.run(&repo.dir, &["env", "show", "prod"]);
    assert!(out.matches("differ from the project: 1").count() == 2 && out.ends_with("[exit status: 1]\n"), "{out}");
    // At a revision, and for an environment without a record.
    let out = env.run(&repo.dir, &["env", "show", "prod", "--rev", "main~1"]);
    assert!(out.contains("migrate::no_record") && out.ends_with("[exit status: 2]\n"), "{out}");
}

/// A work tree of a project for `prod` with two commits (one migration, then two), and a full
/// bundle of each.
fn two_releases(env: &TestEnv) -> (RepoBuilder, std::path::PathBuf, std::path::PathBuf) {
    let mut repo = RepoBuilder::init(&env.path("work"), false);
    repo.write("migrate.yaml", "version: 1\nproject: p\ndialects: [sqlite]\nenvironments: [prod]\n")
        .write("migrations/0001_a.sql", "CREATE TABLE a (id INTEGER);\n");
    repo.commit("one");
    repo.write("migrations/0002_b.sql", "CREATE TABLE b (id INTEGER);\n");
    repo.commit("two");
    repo.checkout();
    let (one, two) = (env.path("one.tar"), env.path("two.tar"));
    env.export(&repo.dir, &one, &["--head", "main~1"]);
    env.export(&repo.dir, &two, &["--head", "main"]);
    (repo, one, two)
}
