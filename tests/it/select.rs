//! What a release ships to an environment, and what its targets keep: `--skip`/`--only` remembered
//! by targets and offered again, an environment's `skip_always`, `ignore` deletes, `depends_on`
//! (issue 11, items 3 to 7).

use std::path::{Path, PathBuf};

use crate::common::{RepoBuilder, TestEnv};

const V1: &str = "spec: {version: 1}\n";
const V2: &str = "spec: {version: 2}\n";

fn ok(out: &str) {
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Imports `bundle` into `target` for environment `prod`, records the receipt in the repository
/// and commits the record; returns the receipt.
fn ship(env: &TestEnv, repo: &mut RepoBuilder, bundle: &Path, target: &Path) -> serde_json::Value {
    let receipt = env.path("receipt.json");
    let (bundle, target_arg, receipt_arg) =
        (bundle.to_str().unwrap(), target.to_str().unwrap(), receipt.to_str().unwrap());
    ok(&env
        .run(env.root.path(), &["import", bundle, "--target", target_arg, "--env", "prod", "--receipt", receipt_arg]));
    ok(&env.run(&repo.dir, &["env", "record", receipt_arg]));
    let record = std::fs::read(repo.dir.join("environments/prod.json")).unwrap();
    repo.write("environments/prod.json", record);
    repo.commit("record prod");
    json(&receipt)
}

/// The release id of a full bundle of a project holding exactly `assets` (and the migration).
fn release_id_of(env: &TestEnv, name: &str, assets: &[(&str, &str)]) -> serde_json::Value {
    let mut repo = RepoBuilder::init(&env.path(name), true);
    repo.write("migrate.yaml", "version: 1\nproject: p\ndialects: [sqlite]\nenvironments: [prod]\n")
        .write("migrations/0001_a.sql", "CREATE TABLE a (id INTEGER);\n");
    for (id, text) in assets {
        repo.write(&format!("assets/{id}.yaml"), text);
    }
    repo.commit("state");
    let bundle = env.path(&format!("{name}.tar"));
    env.export(&repo.dir, &bundle, &["--head", "main"]);
    manifest(&bundle)["release"]["id"].clone()
}

fn manifest(bundle: &Path) -> serde_json::Value {
    let out = std::process::Command::new("tar").arg("-xOf").arg(bundle).arg("manifest.json").output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

fn project(env: &TestEnv) -> (RepoBuilder, PathBuf) {
    let mut repo = RepoBuilder::init(&env.path("work"), false);
    repo.write("migrate.yaml", "version: 1\nproject: p\ndialects: [sqlite]\nenvironments: [prod]\n")
        .write("migrations/0001_a.sql", "CREATE TABLE a (id INTEGER);\n")
        .write("assets/query/a.yaml", V1);
    repo.commit("one");
    repo.checkout();
    (repo, env.path("target"))
}

/// Issue 11, items 3 and 4: an asset skipped for one release is recorded with the copy the
/// target keeps, the release id counts that copy, and the next release offers it again.
#[test]
fn a_skipped_asset_is_remembered_and_offered_again() {
    let env = TestEnv::new();
    let (mut repo, target) = project(&env);
    let one = env.path("one.tar");
    env.export(&repo.dir, &one, &["--head", "main"]);
    ship(&env, &mut repo, &one, &target);

    repo.write("assets/query/a.yaml", V2).write("assets/query/b.yaml", V1);
    repo.commit("two");
    repo.checkout();
    let plan = env.stdout(&repo.dir, &["plan", "--env", "prod", "--skip", "query/a", "--format", "json"], 0);
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    let assets = plan["assets"].as_array().unwrap();
    assert_eq!(assets.len(), 2, "{plan:#}");
    assert_eq!((&assets[0]["id"], &assets[0]["action"]), (&"query/a".into(), &"skip".into()));
    assert_eq!((&assets[1]["id"], assets[1].get("action")), (&"query/b".into(), None));
    let text = env.stdout(&repo.dir, &["plan", "--env", "prod", "--skip", "query/a"], 0);
    assert!(text.contains("modified  query/a  +1 -1  (skipped, target holds sha256:"), "{text}");

    let two = env.path("two.tar");
    env.export(&repo.dir, &two, &["--env", "prod", "--skip", "query/a"]);
    let bundle = manifest(&two);
    assert_eq!(bundle["skipped"][0]["id"], "query/a");
    let receipt = ship(&env, &mut repo, &two, &target);
    assert_eq!(std::fs::read_to_string(target.join("assets/query/a.yaml")).unwrap(), V1, "the target keeps its copy");
    // The recorded id is the state of what the target holds: the head with `query/a` at v1.
    let holds = release_id_of(&env, "holds", &[("query/a", V1), ("query/b", V1)]);
    assert_eq!(receipt["release"]["id"], holds);
    assert_eq!(bundle["release"]["id"], holds, "an incremental bundle knows the copy a target at its base keeps");
    assert_eq!(receipt["skipped"][0]["id"], "query/a");
    assert!(receipt["skipped"][0]["sha256"].is_string(), "{receipt:#}");
    let status = env.stdout(env.root.path(), &["status", "--target", target.to_str().unwrap()], 0);
    assert!(status.contains("skipped") && status.contains("query/a"), "{status}");

    // A full bundle of the same head is not "nothing to do": the target lacks the head's `query/a`.
    let copy = env.path("copy");
    crate::common::copy_dir(&target, &copy);
    let full = env.path("full.tar");
    env.export(&repo.dir, &full, &["--head", "HEAD~1"]);
    let out = env.run(env.root.path(), &["import", full.to_str().unwrap(), "--target", copy.to_str().unwrap()]);
    assert!(!out.contains("nothing to do"), "{out}");
    ok(&out);
    assert_eq!(std::fs::read_to_string(copy.join("assets/query/a.yaml")).unwrap(), V2);

    // The next release to prod offers it again, counted from the copy the target kept.
    repo.write("assets/query/c.yaml", V1);
    repo.commit("three");
    repo.checkout();
    let plan = env.stdout(&repo.dir, &["plan", "--env", "prod", "--format", "json"], 0);
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    let a = &plan["assets"][0];
    assert_eq!((&a["id"], &a["change"], &a["skipped_earlier"]), (&"query/a".into(), &"modified".into(), &true.into()));
    assert!(a["diff"].as_str().unwrap().contains("-spec: {version: 1}\n+spec: {version: 2}"), "{a:#}");
    assert_eq!(a["sha256_before"], receipt["skipped"][0]["sha256"]);
    let text = env.stdout(&repo.dir, &["plan", "--env", "prod"], 0);
    assert!(text.contains("(skipped earlier, target holds sha256:"), "{text}");
    let three = env.path("three.tar");
    env.export(&repo.dir, &three, &["--env", "prod"]);
    let receipt = ship(&env, &mut repo, &three, &target);
    assert_eq!(std::fs::read_to_string(target.join("assets/query/a.yaml")).unwrap(), V2);
    assert_eq!(receipt["skipped"], serde_json::json!([]));
    let head = release_id_of(&env, "head", &[("query/a", V2), ("query/b", V1), ("query/c", V1)]);
    assert_eq!(receipt["release"]["id"], head);
}
