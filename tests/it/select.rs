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
    let imported = env.import_for(bundle, target, "prod", &receipt);
    ok(&env.run(&repo.dir, &["env", "record", receipt.to_str().unwrap()]));
    let record = std::fs::read(repo.dir.join("environments/prod.json")).unwrap();
    repo.write("environments/prod.json", record);
    repo.commit("record prod");
    imported
}

/// A project with `config`, one migration and `assets`, committed, checked out and shipped to
/// `prod` as a full bundle; returns the repository and the target.
fn shipped_project(env: &TestEnv, config: &str, assets: &[(&str, &str)]) -> (RepoBuilder, PathBuf) {
    let mut repo = RepoBuilder::init(&env.path("work"), false);
    repo.write("migrate.yaml", config).write("migrations/0001_a.sql", "CREATE TABLE a (id INTEGER);\n");
    for (id, text) in assets {
        repo.write(&format!("assets/{id}.yaml"), text);
    }
    repo.commit("one");
    repo.checkout();
    let target = env.path("target");
    let one = env.path("one.tar");
    env.export(&repo.dir, &one, &["--env", "prod"]);
    ship(env, &mut repo, &one, &target);
    (repo, target)
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

/// Issue 11, item 5: an environment's `skip_always` is never shipped there and never deleted
/// there, and plan says so; `ignore` deletes where an import put it, and plan now shows it.
#[test]
fn skip_always_keeps_the_target_copy_and_ignore_deletes_are_planned() {
    let env = TestEnv::new();
    let config = "version: 1\nproject: p\ndialects: [sqlite]\nenvironments: [test, prod]\n";
    let assets = [("query/a", V1), ("experimental/x", V1), ("legacy/old", V1)];
    let (mut repo, target) = shipped_project(&env, config, &assets);
    assert!(target.join("assets/experimental/x.yaml").exists());

    // prod now never takes experimental assets; legacy ones are ignored everywhere.
    let config = "version: 1\nproject: p\ndialects: [sqlite]\nignore: [\"assets/legacy/**\"]\nenvironments:\n  test: {}\n  prod: { skip_always: [\"assets/experimental/**\"] }\n";
    repo.write("migrate.yaml", config).write("assets/experimental/y.yaml", V1).remove("assets/experimental/x.yaml");
    repo.commit("two");
    repo.checkout();
    let plan = env.stdout(&repo.dir, &["plan", "--env", "prod", "--format", "json"], 0);
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    let by_id = |id: &str| plan["assets"].as_array().unwrap().iter().find(|a| a["id"] == id).cloned();
    let x = by_id("experimental/x").expect("the removal is listed");
    assert_eq!((&x["change"], &x["action"]), (&"removed".into(), &"skip_always".into()), "{plan:#}");
    let y = by_id("experimental/y").expect("the addition is listed");
    assert_eq!((&y["change"], &y["action"]), (&"added".into(), &"skip_always".into()), "{plan:#}");
    let old = by_id("legacy/old").expect("an ignore delete is shown");
    assert_eq!((&old["change"], &old["ignored"], old.get("action")), (&"removed".into(), &true.into(), None));
    let text = env.stdout(&repo.dir, &["plan", "--env", "prod"], 0);
    assert!(text.contains("removed   experimental/x  +0 -1  (skip always"), "{text}");
    assert!(text.contains("removed   legacy/old  +0 -1  (ignored now: deleted where an import put it)"), "{text}");
    // For `test`, nothing is skipped.
    let plan = env.stdout(&repo.dir, &["plan", "--base", "HEAD~1", "--format", "json"], 0);
    assert!(!plan.contains("skip_always"), "{plan}");

    let two = env.path("two.tar");
    env.export(&repo.dir, &two, &["--env", "prod"]);
    let bundle = manifest(&two);
    let skipped: Vec<&str> = bundle["skipped"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(skipped, ["experimental/x", "experimental/y"]);
    assert!(bundle["skipped"].as_array().unwrap().iter().all(|s| s["always"] == true));
    let receipt = ship(&env, &mut repo, &two, &target);
    assert!(target.join("assets/experimental/x.yaml").exists(), "never deleted there");
    assert!(!target.join("assets/experimental/y.yaml").exists(), "never shipped there");
    assert!(!target.join("assets/legacy/old.yaml").exists(), "an ignored asset an import put there is deleted");
    assert!(target.join("assets/query/a.yaml").exists());
    let held: Vec<(&str, bool)> = receipt["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s.get("sha256").is_some()))
        .collect();
    assert_eq!(held, [("experimental/x", true), ("experimental/y", false)]);
    // Nothing is pending for prod afterwards but what it always skips.
    let plan = env.stdout(&repo.dir, &["plan", "--env", "prod", "--format", "json"], 0);
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    assert!(plan["assets"].as_array().unwrap().iter().all(|a| a["action"] == "skip_always"), "{plan:#}");
    assert_eq!(plan["release"]["kind"], "none");
}

/// Issue 11, item 6: `--only`, `--skip` and `skip_always` are checked against `depends_on` and
/// what the target holds; `depends_on` is in plan JSON and in the manifest.
#[test]
fn a_dependency_the_target_would_not_have_is_an_error_naming_both() {
    let env = TestEnv::new();
    let (mut repo, target) = project(&env);
    let one = env.path("one.tar");
    env.export(&repo.dir, &one, &["--head", "main"]);
    ok(&env.run(env.root.path(), &["import", one.to_str().unwrap(), "--target", target.to_str().unwrap()]));
    repo.write("assets/model/m.yaml", V1).write("assets/workflow/w.yaml", "depends_on: [model/m]\nspec: {}\n");
    repo.commit("two");
    repo.checkout();
    for command in ["plan", "export"] {
        let out = env.run(
            &repo.dir,
            &[command, "--base", "HEAD~1", "--only", "workflow/w", "-o", env.path("x.tar").to_str().unwrap()]
                [..if command == "plan" { 5 } else { 7 }],
        );
        assert!(
            out.contains("migrate::dependency_not_shipped")
                && out.contains("`workflow/w` ships without `model/m`")
                && out.ends_with("[exit status: 1]\n"),
            "{out}"
        );
    }
    assert!(!env.path("x.tar").exists(), "no bundle");
    // A full bundle cannot know what a target holds: the same refusal.
    let out = env.run(&repo.dir, &["export", "--only", "workflow/w", "-o", env.path("x.tar").to_str().unwrap()]);
    assert!(out.contains("dependency_not_shipped") && out.ends_with("[exit status: 1]\n"), "{out}");
    // With the dependency selected too, it ships, and the manifest names the dependency.
    let plan = env.stdout(
        &repo.dir,
        &["plan", "--base", "HEAD~1", "--only", "workflow/w", "--only", "model/m", "--format", "json"],
        0,
    );
    assert!(plan.contains("\"depends_on\": [\n        \"model/m\"\n      ]"), "{plan}");
    let two = env.path("two.tar");
    env.export(&repo.dir, &two, &["--base", "HEAD~1", "--only", "workflow/w", "--only", "model/m"]);
    let bundle = manifest(&two);
    let w = bundle["items"].as_array().unwrap().iter().find(|i| i["identity"] == "workflow/w").unwrap();
    assert_eq!(w["depends_on"], serde_json::json!(["model/m"]));
    ok(&env.run(env.root.path(), &["import", two.to_str().unwrap(), "--target", target.to_str().unwrap()]));

    // The target holds `model/m`: shipping `workflow/w` alone keeps its older copy, a warning.
    repo.write("assets/model/m.yaml", V2).write("assets/workflow/w.yaml", "depends_on: [model/m]\nspec: {v: 2}\n");
    repo.commit("three");
    let out = env.run(&repo.dir, &["plan", "--base", "HEAD~1", "--skip", "model/m"]);
    assert!(
        out.contains("migrate::dependency_held_back") && out.ends_with("[exit status: 0]\n"),
        "a kept copy is a warning: {out}"
    );
}

/// Issue 11, item 7: `policy: version_bump: error` makes a too-small `--release-version` an error
/// in plan and export; a patch release is a deployment, so SQL in one is flagged.
#[test]
fn a_version_too_small_for_the_change_is_an_error_when_the_policy_says_so() {
    let env = TestEnv::new();
    let (mut repo, _) = project(&env);
    let one = repo.commit("tagged");
    repo.tag("v1.2.3", one);
    repo.write("migrations/0002_drop.sql", "ALTER TABLE a ADD COLUMN b INTEGER;\n");
    repo.commit("two");
    repo.checkout();
    let args = ["--base", "v1.2.3", "--release-version", "1.2.4"];
    let out = env.run(&repo.dir, &[&["plan"][..], &args].concat());
    assert!(
        out.contains("migrate::release_version_bump")
            && out.contains("this is a migration, not a deployment")
            && out.ends_with("[exit status: 0]\n"),
        "a warning by default: {out}"
    );
    let config = "version: 1\nproject: p\ndialects: [sqlite]\nenvironments: [prod]\npolicy: { version_bump: error }\n";
    repo.write("migrate.yaml", config);
    repo.commit("policy");
    repo.checkout();
    let out = env.run(&repo.dir, &[&["plan"][..], &args].concat());
    assert!(out.contains("migrate::release_version_bump") && out.ends_with("[exit status: 1]\n"), "{out}");
    let bundle = env.path("two.tar");
    let out = env.run(&repo.dir, &[&["export", "-o", bundle.to_str().unwrap()][..], &args].concat());
    assert!(out.contains("migrate::release_version_bump") && out.ends_with("[exit status: 1]\n"), "{out}");
    assert!(!bundle.exists());
    // The control: a minor release ships, and its manifest says what it needs.
    env.export(&repo.dir, &bundle, &["--base", "v1.2.3", "--release-version", "1.3.0"]);
    assert_eq!(manifest(&bundle)["release"]["bump"], "minor");
}

/// Issue 11, item 7: `policy: promotion: enforce` refuses a release for an environment that the
/// one before it has not taken, unless `--skip-promotion REASON` (recorded in the manifest).
#[test]
fn promotion_is_enforced_in_environment_order() {
    let env = TestEnv::new();
    let mut repo = RepoBuilder::init(&env.path("work"), false);
    repo.write(
        "migrate.yaml",
        "version: 1\nproject: p\ndialects: [sqlite]\nenvironments: [test, prod]\npolicy: { promotion: enforce }\n",
    )
    .write("migrations/0001_a.sql", "CREATE TABLE a (id INTEGER);\n");
    repo.commit("one");
    repo.checkout();
    let bundle = env.path("prod.tar");
    let out = env.run(&repo.dir, &["export", "--env", "prod", "-o", bundle.to_str().unwrap()]);
    assert!(
        out.contains("migrate::promotion_required")
            && out.contains("has not passed `test`")
            && out.ends_with("[exit status: 1]\n"),
        "{out}"
    );
    assert!(!bundle.exists());
    let out = env.run(&repo.dir, &["plan", "--env", "prod"]);
    assert!(out.contains("migrate::promotion_required") && out.ends_with("[exit status: 1]\n"), "{out}");
    // Skipped with a reason: exported, and the manifest says why.
    env.export(&repo.dir, &bundle, &["--env", "prod", "--skip-promotion", "hotfix INC-42"]);
    assert_eq!(manifest(&bundle)["promotion_skipped"], "hotfix INC-42");
    // Once `test` holds the release, prod may take it.
    let test_bundle = env.path("test.tar");
    env.export(&repo.dir, &test_bundle, &["--env", "test"]);
    let receipt = env.path("test-receipt.json");
    ok(&env.run(
        env.root.path(),
        &[
            "import",
            test_bundle.to_str().unwrap(),
            "--target",
            env.path("test-target").to_str().unwrap(),
            "--env",
            "test",
            "--receipt",
            receipt.to_str().unwrap(),
        ],
    ));
    ok(&env.run(&repo.dir, &["env", "record", receipt.to_str().unwrap()]));
    let record = std::fs::read(repo.dir.join("environments/test.json")).unwrap();
    repo.write("environments/test.json", record);
    repo.commit("record test");
    std::fs::remove_file(&bundle).unwrap();
    env.export(&repo.dir, &bundle, &["--env", "prod"]);
    assert!(manifest(&bundle).get("promotion_skipped").is_none());
}

/// Issue 11, item 2: when an environment's targets disagree, plan and export say so and name them.
#[test]
fn targets_that_disagree_are_named() {
    let env = TestEnv::new();
    let (mut repo, first) = project(&env);
    let one = env.path("one.tar");
    env.export(&repo.dir, &one, &["--head", "main"]);
    ship(&env, &mut repo, &one, &first);
    repo.write("assets/query/a.yaml", V2);
    repo.commit("two");
    let second = env.path("second");
    let two = env.path("two.tar");
    env.export(&repo.dir, &two, &["--head", "main"]);
    let receipt = ship(&env, &mut repo, &two, &second);
    let ids: Vec<String> =
        json(&repo.dir.join("environments/prod.json"))["targets"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(ids.len(), 2);
    let behind = ids.iter().find(|id| **id != receipt["target_id"]).unwrap();
    repo.checkout();
    let text = env.stdout(&repo.dir, &["plan", "--env", "prod"], 0);
    assert!(text.contains("note: the targets of `prod` hold different releases: "), "{text}");
    assert!(text.contains(&format!("{behind} at release ")) && text.contains(receipt["target_id"].as_str().unwrap()));
    let json_plan = env.stdout(&repo.dir, &["plan", "--env", "prod", "--format", "json"], 0);
    let plan: serde_json::Value = serde_json::from_str(&json_plan).unwrap();
    assert_eq!(plan["environment"]["holdings"][0]["target_id"], behind.as_str());
    let out = env.run(&repo.dir, &["export", "--env", "prod", "-o", env.path("x.tar").to_str().unwrap()]);
    assert!(out.contains("hold different releases") && out.contains(behind.as_str()), "{out}");
    ok(&out);
}

/// A `migrate select` session in tmux: a real pseudo-terminal driven by keys.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn start(env: &TestEnv, dir: &Path, args: &str) -> Option<Tmux> {
        if std::process::Command::new("tmux").arg("-V").output().is_err() {
            assert!(std::env::var_os("CI").is_none(), "tmux is needed in CI (.ci/run installs it)");
            #[allow(clippy::print_stderr)] // a skipped test says so
            {
                eprintln!("tmux is not installed: the select screen test is skipped");
            }
            return None;
        }
        // A socket of its own per session: a server that is still shutting down never answers
        // the next one.
        static SESSIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SESSIONS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let socket = env.path(&format!("tmux-{n}.sock"));
        let command =
            format!("cd '{}' && '{}' {args}; echo EXIT=$?; sleep 60", dir.display(), env!("CARGO_BIN_EXE_migrate"));
        let started = std::process::Command::new("tmux")
            .arg("-S")
            .arg(&socket)
            .args(["-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "40", &command])
            .env("HOME", env.root.path())
            .env("TERM", "xterm-256color")
            .env("NO_COLOR", "1")
            .env_remove("TMUX")
            .output()
            .unwrap();
        assert!(started.status.success(), "tmux: {}", String::from_utf8_lossy(&started.stderr));
        Some(Tmux { socket })
    }

    fn screen(&self) -> String {
        let out = std::process::Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["capture-pane", "-p", "-J"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Waits (up to 20 s) until the screen shows `text`, and returns the screen.
    fn wait_for(&self, text: &str) -> String {
        for _ in 0..200 {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the screen never showed {text:?}:\n{}", self.screen());
    }

    fn keys(&self, keys: &[&str]) {
        for key in keys {
            let status = std::process::Command::new("tmux")
                .arg("-S")
                .arg(&self.socket)
                .args(["send-keys", key])
                .status()
                .unwrap();
            assert!(status.success());
            std::thread::sleep(std::time::Duration::from_millis(150));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux").arg("-S").arg(&self.socket).arg("kill-server").status();
    }
}

/// Issue 11, item 9: `migrate select` on a terminal lists what is pending for the environment,
/// toggles selected / skip this / skip always, shows diffs and missing dependencies, and on
/// confirm prints the export command, writes the bundle and records skip-always in migrate.yaml.
#[test]
fn the_select_screen_is_driven_by_keys_on_a_terminal() {
    let env = TestEnv::new();
    let (mut repo, target) = project(&env);
    let one = env.path("one.tar");
    env.export(&repo.dir, &one, &["--head", "main"]);
    ship(&env, &mut repo, &one, &target);
    repo.write("assets/query/a.yaml", V2)
        .write("assets/model/m.yaml", V1)
        .write("assets/workflow/w.yaml", "depends_on: [model/m]\nspec: {}\n")
        .write("assets/experimental/x.yaml", V1);
    repo.commit("two");
    repo.checkout();
    // Not on a terminal: a usage error that says what to use instead.
    let out = env.run(&repo.dir, &["select", "--env", "prod"]);
    assert!(out.contains("migrate::not_a_terminal") && out.ends_with("[exit status: 2]\n"), "{out}");

    let bundle = env.path("selected.tar");
    let Some(tmux) = Tmux::start(&env, &repo.dir, &format!("select --env prod -o '{}'", bundle.display())) else {
        return;
    };
    let screen = tmux.wait_for("4 pending for `prod`");
    for row in
        ["[x] experimental/x (added; selected)", "[x] model/m (added; selected)", "[x] query/a (modified; selected)"]
    {
        assert!(screen.contains(row), "{row}:\n{screen}");
    }
    assert!(screen.contains("workflow/w (added; selected) needs model/m"), "{screen}");
    assert!(screen.contains("+spec: {version: 1}"), "the highlighted asset's diff:\n{screen}");
    tmux.keys(&["a", "Down", "Space"]);
    let screen = tmux.wait_for("! without model/m");
    assert!(screen.contains("[-] experimental/x (added; skip always)"), "{screen}");
    assert!(screen.contains("[ ] model/m (added; skip this)"), "{screen}");
    tmux.keys(&["Space", "Down", "Space"]);
    let screen = tmux.wait_for("[ ] query/a (modified; skip this)");
    assert!(!screen.contains("! without"), "{screen}");
    assert!(screen.contains("-spec: {version: 1}") && screen.contains("+spec: {version: 2}"), "{screen}");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("EXIT=");
    let command = format!("migrate export --env prod --skip experimental/x --skip query/a -o {}", bundle.display());
    assert!(screen.contains(&command), "{screen}");
    assert!(screen.contains("EXIT=0"), "{screen}");
    let skipped: Vec<String> = manifest(&bundle)["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(skipped, ["experimental/x", "query/a"]);
    let config = std::fs::read_to_string(repo.dir.join("migrate.yaml")).unwrap();
    assert!(config.contains("prod: { skip_always: [\"assets/experimental/x.yaml\"] }"), "{config}");
    drop(tmux);

    // Quitting writes nothing.
    std::fs::remove_file(&bundle).unwrap();
    let tmux = Tmux::start(&env, &repo.dir, &format!("select --env prod -o '{}'", bundle.display())).unwrap();
    tmux.wait_for("pending for `prod`");
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("EXIT=");
    assert!(screen.contains("nothing selected, nothing written") && screen.contains("EXIT=0"), "{screen}");
    assert!(!bundle.exists());
}

/// Issue 11, item 5: a full bundle for an environment never deletes what its `skip_always`
/// names, and the target's release id counts the copy it keeps.
#[test]
fn a_full_bundle_for_an_environment_keeps_its_skip_always_assets() {
    let env = TestEnv::new();
    let mut repo = RepoBuilder::init(&env.path("work"), false);
    repo.write("migrate.yaml", "version: 1\nproject: p\ndialects: [sqlite]\nenvironments: [prod]\n")
        .write("migrations/0001_a.sql", "CREATE TABLE a (id INTEGER);\n")
        .write("assets/query/a.yaml", V1)
        .write("assets/experimental/x.yaml", V1);
    repo.commit("one");
    let target = env.path("target");
    let one = env.path("one.tar");
    env.export(&repo.dir, &one, &["--head", "main", "--env", "prod"]);
    let import = |bundle: &Path| env.import_for(bundle, &target, "prod", &env.path("receipt.json"));
    import(&one);
    let config = "version: 1\nproject: p\ndialects: [sqlite]\nenvironments:\n  prod: { skip_always: [\"assets/experimental/**\"] }\n";
    repo.write("migrate.yaml", config).remove("assets/experimental/x.yaml").write("assets/query/b.yaml", V1);
    repo.commit("two");
    // No record is committed: `--env prod` makes a full bundle for prod.
    let two = env.path("two.tar");
    env.export(&repo.dir, &two, &["--head", "main", "--env", "prod"]);
    assert_eq!(manifest(&two)["keep_always"], serde_json::json!(["experimental/**"]));
    let receipt = import(&two);
    assert!(target.join("assets/experimental/x.yaml").exists(), "never deleted there");
    assert!(target.join("assets/query/b.yaml").exists());
    assert_eq!(receipt["skipped"][0]["id"], "experimental/x");
    assert_eq!(receipt["skipped"][0]["always"], true);
    let holds = release_id_of(&env, "holds", &[("query/a", V1), ("query/b", V1), ("experimental/x", V1)]);
    assert_eq!(receipt["release"]["id"], holds, "the release id counts the copy the target keeps");
    // The same bundle again is nothing to do.
    let out = env.run(env.root.path(), &["import", two.to_str().unwrap(), "--target", target.to_str().unwrap()]);
    assert!(out.contains("nothing to do"), "{out}");
}

/// Issue 11, item 11: the new plan shapes pinned in every format — skipped earlier, skip always,
/// an ignore delete, a dependency, a skip for this release.
#[test]
fn plan_shapes_of_an_environment_in_three_formats() {
    let env = TestEnv::new();
    let config = "version: 1\nproject: p\ndialects: [sqlite]\nenvironments: [prod]\n";
    let assets = [("query/a", V1), ("legacy/old", V1), ("experimental/x", V1)];
    let (mut repo, target) = shipped_project(&env, config, &assets);
    repo.write("assets/query/a.yaml", V2).write("assets/model/m.yaml", V1);
    repo.commit("two");
    repo.checkout();
    let two = env.path("two.tar");
    env.export(&repo.dir, &two, &["--env", "prod", "--skip", "query/a"]);
    ship(&env, &mut repo, &two, &target);
    let config = "version: 1\nproject: p\ndialects: [sqlite]\nignore: [\"assets/legacy/**\"]\nenvironments:\n  prod: { skip_always: [\"assets/experimental/**\"] }\n";
    repo.write("migrate.yaml", config)
        .write("assets/experimental/x.yaml", V2)
        .write("assets/workflow/w.yaml", "depends_on: [model/m]\nspec: {}\n")
        .write("assets/query/b.yaml", V1);
    repo.commit("three");
    repo.checkout();
    let plan =
        |format: &str| env.stdout(&repo.dir, &["plan", "--env", "prod", "--skip", "query/b", "--format", format], 0);
    insta::with_settings!({filters => vec![
        (r#""commit": "[0-9a-f]{40}""#, r#""commit": "[COMMIT]""#),
        (r"\([0-9a-f]{12}\)", "([COMMIT])"),
        (r"`[0-9a-f]{12}`", "`[COMMIT]`"),
        (r"t-[0-9a-f]{16}", "t-[TARGET]"),
    ]}, {
        insta::assert_snapshot!("environment_plan_text", plan("text"));
        insta::assert_snapshot!("environment_plan_markdown", plan("markdown"));
        insta::assert_snapshot!("environment_plan_json", plan("json"));
    });
}
