//! `migrate import` on the embedded SQLite default: first install, upgrade, nothing to do,
//! refusals before any change, a failure rolled back, the offline script adopted, dry-run purity.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{RepoBuilder, TestEnv};

/// Exports bundles of the `scripts` fixture: the full base, the incremental change, the full
/// change, and the downgrade back to the base.
struct Bundles {
    full_base: PathBuf,
    incremental: PathBuf,
    full_change: PathBuf,
    downgrade: PathBuf,
}

fn bundles(env: &TestEnv) -> Bundles {
    let repo = env.scripts("repo.git");
    let make = |name: &str, args: &[&str]| {
        let path = env.path(name);
        env.export(&repo.dir, &path, args);
        path
    };
    Bundles {
        full_base: make("full_base.tar", &["--head", "base"]),
        incremental: make("incremental.tar", &["--base", "base", "--head", "change"]),
        full_change: make("full_change.tar", &["--head", "change"]),
        downgrade: make("downgrade.tar", &["--base", "change", "--head", "base"]),
    }
}

fn import(env: &TestEnv, bundle: &Path, target: &Path, extra: &[&str]) -> String {
    let mut args = vec!["import", bundle.to_str().unwrap(), "--target", target.to_str().unwrap()];
    args.extend_from_slice(extra);
    let mut command = env.command(env.root.path(), &args);
    command.env("MIGRATE_NOW", "1790000000");
    let output = command.output().unwrap();
    let root = env.root.path().to_str().unwrap();
    format!(
        "{}----- stderr -----\n{}[exit status: {}]\n",
        String::from_utf8_lossy(&output.stdout).replace(root, "[ROOT]"),
        String::from_utf8_lossy(&output.stderr).replace(root, "[ROOT]"),
        output.status.code().unwrap_or(-1)
    )
}

fn history(target: &Path) -> String {
    let output = Command::new("sqlite3")
        .arg(target.join("db.sqlite3"))
        .arg("SELECT version, statements_done, statements_total, applied_by FROM migrate_history ORDER BY length(version), version")
        .output()
        .expect("sqlite3 runs (apt-get install sqlite3)");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn dump(target: &Path) -> String {
    let output = Command::new("sqlite3").arg(target.join("db.sqlite3")).arg(".dump").output().unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn files(target: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![target.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path.strip_prefix(target).unwrap().to_str().unwrap().to_string());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn first_install_upgrade_and_nothing_to_do() {
    let env = TestEnv::new();
    let b = bundles(&env);
    let target = env.path("site");
    insta::assert_snapshot!(
        "first_install",
        import(
            &env,
            &b.full_base,
            &target,
            &["--env", "prod", "--receipt", env.path("receipt.json").to_str().unwrap()]
        )
    );
    assert_eq!(history(&target), "1|2|2|import\n2|0|0|import\n");
    insta::assert_snapshot!("again", import(&env, &b.full_base, &target, &[]));
    insta::assert_snapshot!("upgrade", import(&env, &b.incremental, &target, &[]));
    assert_eq!(history(&target), "1|2|2|import\n2|0|0|import\n3|2|2|import\n4|1|1|import\n5|2|2|import\n");
    // The full bundle of the same head is the same release: nothing to do.
    let out = import(&env, &b.full_change, &target, &[]);
    assert!(out.starts_with("nothing to do"), "{out}");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(target.join(".migrate/state.json")).unwrap()).unwrap();
    assert_eq!(state["environment"], "prod");
    assert_eq!(state["database"], "sqlite:db.sqlite3");
    assert_eq!(state["imports"].as_array().unwrap().len(), 2);
    let receipt: serde_json::Value = serde_json::from_slice(&std::fs::read(env.path("receipt.json")).unwrap()).unwrap();
    assert_eq!(receipt["environment"], "prod");
    assert_eq!(receipt["applied_at"], "2026-09-21T14:13:20Z");
    assert_eq!(receipt["migrations"]["sqlite"].as_array().unwrap().len(), 2);
    // The receipt is a valid record entry.
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/receipt.schema.json")).unwrap(),
    )
    .unwrap();
    assert!(jsonschema::validator_for(&schema).unwrap().is_valid(&receipt));
}

#[test]
fn a_full_bundle_brings_any_older_target_up() {
    let env = TestEnv::new();
    let b = bundles(&env);
    let target = env.path("site");
    import(&env, &b.full_base, &target, &[]);
    let out = import(&env, &b.full_change, &target, &[]);
    assert!(out.starts_with("upgrade:") && out.ends_with("[exit status: 0]\n"), "{out}");
    assert_eq!(history(&target).lines().count(), 5);
    // And a target that is ahead refuses the older full bundle.
    let out = import(&env, &b.full_base, &target, &[]);
    assert!(out.contains("migrate::target_ahead") && out.ends_with("[exit status: 1]\n"), "{out}");
}

#[test]
fn refusals_change_nothing() {
    let env = TestEnv::new();
    let b = bundles(&env);
    let target = env.path("site");
    // An incremental bundle needs its base.
    let out = import(&env, &b.incremental, &target, &[]);
    assert!(out.contains("migrate::unexpected_base") && out.ends_with("[exit status: 1]\n"), "{out}");
    assert!(!target.join("db.sqlite3").exists(), "a refused import creates no database");
    import(&env, &b.full_base, &target, &["--env", "prod"]);
    let before = (dump(&target), files(&target));
    let out = import(&env, &b.full_base, &target, &["--env", "test"]);
    assert!(out.contains("migrate::other_environment") && out.ends_with("[exit status: 1]\n"), "{out}");
    // A tampered bundle is refused before the target is touched.
    let mut members = crate::common::members(&b.incremental);
    let index = members.iter().position(|(p, _)| p.starts_with("migrations/0003")).unwrap();
    members[index].1 = b"DROP TABLE note; ".repeat(10);
    let tampered = env.path("tampered.tar");
    let rest: Vec<(&str, &[u8])> = members.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    migrate::archive::write(
        &tampered,
        migrate::archive::Members { first: vec![], rest: &rest, generated: &[] },
        0,
        &mut |_| {},
    )
    .unwrap();
    let out = import(&env, &tampered, &target, &[]);
    assert!(out.ends_with("[exit status: 1]\n") && out.contains("migrate::member_"), "{out}");
    assert_eq!((dump(&target), files(&target)), before);
}

#[test]
fn a_failing_migration_is_rolled_back_whole() {
    let env = TestEnv::new();
    let mut repo = RepoBuilder::init(&env.path("repo.git"), true);
    repo.write("migrate.yaml", "version: 1\nproject: p\ndialects: [sqlite]\n")
        .write("migrations/0001_a.sql", "CREATE TABLE a (id INTEGER);\n")
        .write("assets/query/x.yaml", "spec: {sql: SELECT 1}\n");
    let first = repo.commit("one");
    repo.write("migrations/0002_b.sql", "CREATE TABLE b (id INTEGER);\n")
        .write("migrations/0003_c.sql", "INSERT INTO a VALUES (1);\nINSERT INTO missing VALUES (1);\n")
        .write("assets/query/x.yaml", "spec: {sql: SELECT 2}\n");
    let second = repo.commit("two");
    let base = env.path("base.tar");
    let change = env.path("change.tar");
    env.export(&repo.dir, &base, &["--head", &first.to_string()]);
    env.export(&repo.dir, &change, &["--base", &first.to_string(), "--head", &second.to_string()]);
    let target = env.path("site");
    import(&env, &base, &target, &[]);
    let before = (dump(&target), files(&target), std::fs::read(target.join(".migrate/state.json")).unwrap());
    let out = import(&env, &change, &target, &[]);
    insta::assert_snapshot!("rolled_back", out);
    assert_eq!((dump(&target), files(&target), std::fs::read(target.join(".migrate/state.json")).unwrap()), before);
}

#[test]
fn the_offline_script_then_import_adopts_its_rows() {
    let env = TestEnv::new();
    let b = bundles(&env);
    let target = env.path("site");
    std::fs::create_dir_all(&target).unwrap();
    let script = crate::common::members(&b.full_base).into_iter().find(|(p, _)| p == "sql/sqlite.sql").unwrap().1;
    let applied = Command::new("sqlite3")
        .arg(target.join("db.sqlite3"))
        .arg(".read /dev/stdin")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(&script)?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    assert_eq!(history(&target), "1|2|2|script\n2|0|0|script\n");
    let out = import(&env, &b.full_base, &target, &["--dry-run"]);
    assert!(out.contains("adopt migration 1") && !out.contains("CREATE TABLE"), "{out}");
    let out = import(&env, &b.full_base, &target, &[]);
    assert!(out.starts_with("upgrade:") && out.contains("(0 migrations"), "{out}");
    assert_eq!(history(&target), "1|2|2|script\n2|0|0|script\n", "the rows stay as the script wrote them");
    let out = import(&env, &b.incremental, &target, &[]);
    assert!(out.starts_with("upgrade:"), "{out}");
}

#[test]
fn a_dry_run_changes_nothing_outside_the_tool_folder() {
    let env = TestEnv::new();
    let b = bundles(&env);
    let target = env.path("site");
    let out = import(&env, &b.full_base, &target, &["--dry-run"]);
    insta::assert_snapshot!("dry_run", out);
    assert!(files(&target).iter().all(|f| f.starts_with(".migrate/")), "{:?}", files(&target));
    assert!(!target.join("db.sqlite3").exists());
    import(&env, &b.full_base, &target, &[]);
    let before =
        (dump(&target), files(&target).into_iter().filter(|f| !f.starts_with(".migrate/")).collect::<Vec<_>>());
    let out = import(&env, &b.incremental, &target, &["--dry-run", "--format", "json"]);
    let plan: serde_json::Value = serde_json::from_str(out.split("----- stderr -----").next().unwrap()).unwrap();
    assert_eq!(plan["decision"], "upgrade");
    assert_eq!(plan["migrations"].as_array().unwrap().len(), 3);
    assert_eq!(
        (dump(&target), files(&target).into_iter().filter(|f| !f.starts_with(".migrate/")).collect::<Vec<_>>()),
        before
    );
}

#[test]
fn downgrades_run_the_down_sections_with_the_flag() {
    let env = TestEnv::new();
    let b = bundles(&env);
    let target = env.path("site");
    import(&env, &b.full_change, &target, &[]);
    let before = dump(&target);
    let out = import(&env, &b.downgrade, &target, &[]);
    assert!(out.contains("migrate::downgrade_refused") && out.ends_with("[exit status: 1]\n"), "{out}");
    assert_eq!(dump(&target), before);
    let out = import(&env, &b.downgrade, &target, &["--allow-downgrade"]);
    assert!(out.starts_with("downgrade:") && out.ends_with("[exit status: 0]\n"), "{out}");
    assert_eq!(history(&target), "1|2|2|import\n2|0|0|import\n");
    assert!(!dump(&target).contains("note_log"), "the down sections ran");
    let out = import(&env, &b.full_base, &target, &[]);
    assert!(out.starts_with("nothing to do"), "the target holds the base's release: {out}");
}

#[cfg(unix)]
#[test]
fn assets_never_land_outside_the_target() {
    let env = TestEnv::new();
    let b = bundles(&env);
    let repo = env.inventory("inv.git", true);
    let bundle = env.path("inv.tar");
    env.export(&repo.dir, &bundle, &["--head", "feature"]);
    let _ = b;
    let target = env.path("site");
    let outside = env.path("outside");
    std::fs::create_dir_all(target.join("assets")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, target.join("assets/query")).unwrap();
    let out = import(&env, &bundle, &target, &[]);
    assert!(out.contains("migrate::path_escape") && out.ends_with("[exit status: 1]\n"), "{out}");
    assert!(!target.join("db.sqlite3").exists(), "refused before anything changed");
    assert!(std::fs::read_dir(&outside).unwrap().next().is_none(), "nothing was written through the link");
}

#[test]
fn assets_are_written_in_dependency_order() {
    let env = TestEnv::new();
    let repo = env.inventory("inv.git", true);
    let bundle = env.path("inv.tar");
    env.export(&repo.dir, &bundle, &["--head", "main"]);
    let out = import(&env, &bundle, &env.path("site"), &["--dry-run"]);
    let writes: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix("write  assets/")).collect();
    let position =
        |name: &str| writes.iter().position(|w| *w == name).unwrap_or_else(|| panic!("{name} in {writes:?}"));
    // dashboard/ops/latency → query/active-hosts → datasource/main
    assert!(position("datasource/main.yaml") < position("query/active-hosts.yaml"), "{writes:?}");
    assert!(position("query/active-hosts.yaml") < position("dashboard/ops/latency.yaml"), "{writes:?}");
}

#[test]
fn status_reports_drift() {
    let env = TestEnv::new();
    let repo = env.inventory("inv.git", true);
    let bundle = env.path("inv.tar");
    env.export(&repo.dir, &bundle, &["--head", "main"]);
    let target = env.path("site");
    let status =
        |format: &str| env.run(env.root.path(), &["status", "--target", target.to_str().unwrap(), "--format", format]);
    assert!(status("text").contains("is not a target yet"));
    import(&env, &bundle, &target, &["--env", "prod"]);
    let clean = status("text");
    assert!(clean.contains("no drift") && clean.ends_with("[exit status: 0]\n"), "{clean}");
    std::fs::write(target.join("assets/query/active-hosts.yaml"), "spec: {sql: DROP TABLE hosts}\n").unwrap();
    std::fs::remove_file(target.join("assets/datasource/main.yaml")).unwrap();
    let sql = "INSERT INTO migrate_history VALUES ('9', 'hand_made', 'sha256:0000000000000000000000000000000000000000000000000000000000000000', 1, 1, NULL, 'import', 'now', 0)";
    assert!(Command::new("sqlite3").arg(target.join("db.sqlite3")).arg(sql).status().unwrap().success());
    let text = status("text");
    // The target id is random by design (made at the first import): the one unstable value.
    let id_at = text.find("target t-").unwrap() + "target ".len();
    let text = format!("{}[TARGET_ID]{}", &text[..id_at], &text[id_at + 18..]);
    insta::assert_snapshot!("status_drift", text);
    let json: serde_json::Value =
        serde_json::from_str(status("json").split("----- stderr -----").next().unwrap()).unwrap();
    let kinds: Vec<&str> = json["drift"].as_array().unwrap().iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["asset_missing", "asset_changed", "unknown_history_row"]);
}

#[test]
fn receipts_recorded_in_the_repository_feed_plan_env() {
    let env = TestEnv::new();
    let repo = env.inventory("work", false);
    let bundle = env.path("base.tar");
    env.export(&repo.dir, &bundle, &["--head", "main"]);
    let receipt = env.path("receipt.json");
    let target = env.path("site");
    let out = import(&env, &bundle, &target, &["--env", "prod", "--receipt", receipt.to_str().unwrap()]);
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    let out = env.run(&repo.dir, &["env", "record", receipt.to_str().unwrap()]);
    assert!(out.contains("recorded target") && out.ends_with("[exit status: 0]\n"), "{out}");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo.dir.join("environments/prod.json")).unwrap()).unwrap();
    assert_eq!(record["targets"].as_object().unwrap().len(), 1);
    // `plan --env` reads the work tree's record when the head is WORKTREE.
    let plan = env.stdout(&repo.dir, &["plan", "--env", "prod", "--head", "WORKTREE", "--format", "json"], 0);
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    assert_eq!(plan["environment"]["name"], "prod");
    assert_eq!(plan["base"]["commit"], crate::common::git(&repo.dir, &["rev-parse", "main"]).trim());
    assert_eq!(plan["summary"]["migrations_added"], 2, "0003 for sqlite and postgres");
}

#[test]
fn postgres_first_install_upgrade_no_transaction_and_rollback() {
    use crate::common::db::{Server, TestDb};
    let env = TestEnv::new();
    let b = bundles(&env);
    let Some(db) = TestDb::create(Server::Postgres) else { return };
    let url = format!("postgres://postgres@127.0.0.1:5432/{}", db.name);
    let target = env.path("site");
    let out = import(&env, &b.full_base, &target, &["--db", &url, "--env", "prod"]);
    assert!(out.starts_with("initialise:") && out.ends_with("[exit status: 0]\n"), "{out}");
    let out = import(&env, &b.incremental, &target, &["--db", &url]);
    assert!(out.starts_with("upgrade:") && out.ends_with("[exit status: 0]\n"), "{out}");
    let rows = db.query("SELECT version, statements_done, statements_total, applied_by FROM migrate_history ORDER BY length(version), version");
    assert_eq!(rows.replace('\t', "|"), "1|2|2|import\n2|0|0|import\n3|2|2|import\n4|1|1|import\n5|1|1|import\n");
    // The $$ body arrived whole, and the concurrent index exists.
    assert_eq!(db.query("SELECT note_label(1)").trim(), "#1: hello; world -- not a comment; it's ok");
    assert_eq!(db.query("SELECT count(*) FROM pg_indexes WHERE indexname = 'note_owner'").trim(), "1");
    let out = import(&env, &b.incremental, &target, &["--db", &url]);
    assert!(out.starts_with("nothing to do"), "{out}");
    let status = env.run(env.root.path(), &["status", "--target", target.to_str().unwrap(), "--db", &url]);
    assert!(status.contains("no drift") && status.ends_with("[exit status: 0]\n"), "{status}");
    // Another database for the same target is refused.
    let out = import(&env, &b.incremental, &target, &["--db", &format!("{url}_other")]);
    assert!(out.contains("migrate::other_database") && out.ends_with("[exit status: 1]\n"), "{out}");

    // A failure in the third of five migrations rolls the whole release back.
    let mut repo = RepoBuilder::init(&env.path("fail.git"), true);
    repo.write("migrate.yaml", "version: 1\nproject: p\ndialects: [postgres]\n")
        .write("migrations/0001_a.sql", "CREATE TABLE a (id integer);\n");
    let first = repo.commit("one");
    repo.write("migrations/0002_b.sql", "CREATE TABLE b (id integer);\n")
        .write("migrations/0003_c.sql", "INSERT INTO a VALUES (1);\n")
        .write("migrations/0004_d.sql", "INSERT INTO a VALUES (2);\nINSERT INTO missing VALUES (1);\n")
        .write("migrations/0005_e.sql", "CREATE TABLE e (id integer);\n")
        .write("migrations/0006_f.sql", "INSERT INTO a VALUES (6);\n");
    let second = repo.commit("two");
    let (base, change) = (env.path("fail-base.tar"), env.path("fail-change.tar"));
    env.export(&repo.dir, &base, &["--head", &first.to_string()]);
    env.export(&repo.dir, &change, &["--base", &first.to_string(), "--head", &second.to_string()]);
    let Some(db2) = TestDb::create(Server::Postgres) else { return };
    let url2 = format!("postgres://postgres@127.0.0.1:5432/{}", db2.name);
    let target2 = env.path("site2");
    assert!(import(&env, &base, &target2, &["--db", &url2]).ends_with("[exit status: 0]\n"));
    let before = db2.dump();
    let out = import(&env, &change, &target2, &["--db", &url2]);
    assert!(
        out.contains("migration 4 `0004_d` (migrations/0004_d.sql:2) failed") && out.ends_with("[exit status: 3]\n"),
        "{out}"
    );
    assert_eq!(db2.dump(), before, "rolled back whole");
}

#[test]
fn mariadb_records_progress_statement_by_statement() {
    use crate::common::db::{Server, TestDb};
    let env = TestEnv::new();
    let b = bundles(&env);
    let Some(db) = TestDb::create(Server::Mariadb) else { return };
    let url = format!("mysql://root@127.0.0.1:3306/{}", db.name);
    let target = env.path("site");
    let out = import(&env, &b.full_base, &target, &["--db", &url, "--env", "prod"]);
    assert!(out.starts_with("initialise:") && out.ends_with("[exit status: 0]\n"), "{out}");
    let out = import(&env, &b.incremental, &target, &["--db", &url]);
    assert!(out.starts_with("upgrade:") && out.ends_with("[exit status: 0]\n"), "{out}");
    let rows = db.query("SELECT version, statements_done, statements_total, applied_by FROM migrate_history ORDER BY LENGTH(version), version");
    assert_eq!(rows.replace('\t', "|"), "1|2|2|import\n2|0|0|import\n3|2|2|import\n4|1|1|import\n5|1|1|import\n");
    assert_eq!(db.query("SELECT note_label(1)").trim(), "#1: hello; world -- not a comment; it's ok");
    assert!(import(&env, &b.incremental, &target, &["--db", &url]).starts_with("nothing to do"));

    // A failure after DDL committed: exit 4, and the history says exactly what ran.
    let mut repo = RepoBuilder::init(&env.path("fail.git"), true);
    repo.write("migrate.yaml", "version: 1\nproject: p\ndialects: [mysql]\n")
        .write("migrations/0001_a.sql", "CREATE TABLE a (id INT);\n");
    let first = repo.commit("one");
    repo.write(
        "migrations/0002_b.sql",
        "CREATE TABLE b (id INT);\nINSERT INTO missing VALUES (1);\nCREATE TABLE c (id INT);\n",
    );
    let second = repo.commit("two");
    let (base, change) = (env.path("fail-base.tar"), env.path("fail-change.tar"));
    env.export(&repo.dir, &base, &["--head", &first.to_string()]);
    env.export(&repo.dir, &change, &["--base", &first.to_string(), "--head", &second.to_string()]);
    let Some(db2) = TestDb::create(Server::Mariadb) else { return };
    let url2 = format!("mysql://root@127.0.0.1:3306/{}", db2.name);
    let target2 = env.path("site2");
    assert!(import(&env, &base, &target2, &["--db", &url2, "--env", "prod"]).ends_with("[exit status: 0]\n"));
    let receipt = env.path("partial-receipt.json");
    let out = import(&env, &change, &target2, &["--db", &url2, "--receipt", receipt.to_str().unwrap()]);
    assert!(out.contains("migrate::apply_partial") && out.ends_with("[exit status: 4]\n"), "{out}");
    // The receipt carries the partial migration back to the source repository.
    let receipt: serde_json::Value = serde_json::from_slice(&std::fs::read(&receipt).unwrap()).unwrap();
    let partial = &receipt["migrations"]["mysql"][1];
    assert_eq!((&partial["version"], &partial["status"]), (&"2".into(), &"partial".into()), "{receipt:#}");
    assert_eq!(partial["statements"], serde_json::json!({"done": 1, "total": 3}), "{receipt:#}");
    let rows = db2.query("SELECT version, statements_done, statements_total FROM migrate_history ORDER BY version");
    assert_eq!(rows.replace('\t', "|"), "1|1|1\n2|1|3\n", "statement 1 of 3 is committed and recorded");
    let status = env.run(env.root.path(), &["status", "--target", target2.to_str().unwrap(), "--db", &url2]);
    assert!(status.contains("partially applied (1/3") && status.ends_with("[exit status: 1]\n"), "{status}");

    // A bundle that changes a statement that already ran is refused...
    repo.write(
        "migrations/0002_b.sql",
        "CREATE TABLE b (id BIGINT);\nINSERT INTO b VALUES (1);\nCREATE TABLE c (id INT);\n",
    );
    let changed = repo.commit("changes what ran");
    let bad = env.path("changed.tar");
    env.export(&repo.dir, &bad, &["--base", &first.to_string(), "--head", &changed.to_string()]);
    let out = import(&env, &bad, &target2, &["--db", &url2]);
    assert!(out.contains("migrate::resume_changed") && out.ends_with("[exit status: 1]\n"), "{out}");
    // ...and one that fixes only the tail resumes at the failed statement.
    repo.write(
        "migrations/0002_b.sql",
        "CREATE TABLE b (id INT);\nINSERT INTO b VALUES (1);\nCREATE TABLE c (id INT);\n",
    );
    let fixed = repo.commit("fixes the tail");
    let good = env.path("fixed.tar");
    env.export(&repo.dir, &good, &["--base", &first.to_string(), "--head", &fixed.to_string()]);
    let out = import(&env, &good, &target2, &["--db", &url2, "--dry-run"]);
    assert!(out.contains("resume") && !out.contains("CREATE TABLE b"), "statement 1 does not run again: {out}");
    let out = import(&env, &good, &target2, &["--db", &url2]);
    assert!(out.starts_with("resume:") && out.ends_with("[exit status: 0]\n"), "{out}");
    let rows = db2.query("SELECT version, statements_done, statements_total FROM migrate_history ORDER BY version");
    assert_eq!(rows.replace('\t', "|"), "1|1|1\n2|3|3\n");
    assert_eq!(db2.query("SELECT COUNT(*) FROM b").trim(), "1");
    let status = env.run(env.root.path(), &["status", "--target", target2.to_str().unwrap(), "--db", &url2]);
    assert!(status.contains("no drift"), "{status}");
}

#[test]
fn concurrent_imports_apply_once() {
    let env = TestEnv::new();
    let b = bundles(&env);
    let target = env.path("site");
    let spawn = || {
        let mut command = env.command(
            env.root.path(),
            &["import", b.full_change.to_str().unwrap(), "--target", target.to_str().unwrap()],
        );
        command
            .env("MIGRATE_NOW", "1790000000")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        command.spawn().unwrap()
    };
    let (one, two) = (spawn(), spawn());
    let outputs = [one.wait_with_output().unwrap(), two.wait_with_output().unwrap()];
    let texts: Vec<String> = outputs.iter().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).collect();
    assert!(outputs.iter().all(|o| o.status.success()), "{texts:?}");
    assert_eq!(texts.iter().filter(|t| t.starts_with("initialise:")).count(), 1, "{texts:?}");
    assert_eq!(texts.iter().filter(|t| t.starts_with("nothing to do")).count(), 1, "{texts:?}");
    assert_eq!(history(&target).lines().count(), 5, "no duplicate rows");
}

#[test]
fn a_held_lock_makes_the_target_busy() {
    let env = TestEnv::new();
    let b = bundles(&env);
    let target = env.path("site");
    std::fs::create_dir_all(target.join(".migrate")).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(target.join(".migrate/lock"))
        .unwrap();
    std::fs::write(target.join(".migrate/lock"), "host test, pid 1, since then").unwrap();
    lock.lock().unwrap();
    let out = import(&env, &b.full_base, &target, &["--lock-timeout", "1"]);
    assert!(
        out.contains("migrate::target_busy") && out.contains("pid 1") && out.ends_with("[exit status: 5]\n"),
        "{out}"
    );
    drop(lock); // a holder that goes away releases the lock with it
    let out = import(&env, &b.full_base, &target, &["--lock-timeout", "1"]);
    assert!(out.starts_with("initialise:"), "{out}");
}

#[test]
fn trusted_keys_in_the_target_require_a_signature() {
    let env = TestEnv::new();
    let repo = env.scripts("repo.git");
    let key = env.path("release.key");
    assert!(env.run(env.root.path(), &["keygen", "-o", key.to_str().unwrap()]).ends_with("[exit status: 0]\n"));
    let (signed, unsigned) = (env.path("signed.tar"), env.path("unsigned.tar"));
    env.export(&repo.dir, &signed, &["--head", "base", "--sign", key.to_str().unwrap()]);
    env.export(&repo.dir, &unsigned, &["--head", "base"]);
    let target = env.path("site");
    std::fs::create_dir_all(target.join(".migrate/trusted")).unwrap();
    std::fs::copy(env.path("release.key.pub"), target.join(".migrate/trusted/release.pub")).unwrap();
    let out = import(&env, &unsigned, &target, &[]);
    assert!(out.contains("migrate::bundle_unsigned") && out.ends_with("[exit status: 1]\n"), "{out}");
    assert!(!target.join("db.sqlite3").exists());
    let out = import(&env, &signed, &target, &[]);
    assert!(out.starts_with("initialise:"), "{out}");
}

#[test]
fn baseline_adopts_a_database_migrated_by_other_means() {
    let env = TestEnv::new();
    let b = bundles(&env);
    let target = env.path("site");
    std::fs::create_dir_all(&target).unwrap();
    let db = target.join("db.sqlite3");
    let made = Command::new("sqlite3")
        .arg(&db)
        .arg("CREATE TABLE note (id INTEGER PRIMARY KEY, body VARCHAR(500) NOT NULL);")
        .status()
        .unwrap();
    assert!(made.success());
    let out = import(&env, &b.full_change, &target, &[]);
    assert!(out.contains("migrate::database_not_empty") && out.ends_with("[exit status: 1]\n"), "{out}");
    let out = import(&env, &b.full_change, &target, &["--baseline", "2"]);
    assert!(out.starts_with("initialise:"), "{out}");
    assert_eq!(history(&target), "1|2|2|import\n2|0|0|import\n3|2|2|import\n4|1|1|import\n5|2|2|import\n");
    assert!(!dump(&target).contains("hello; world"), "the adopted migrations did not run");
}

#[test]
fn postgres_failure_at_commit_rolls_back() {
    use crate::common::db::{Server, TestDb};
    let env = TestEnv::new();
    let mut repo = RepoBuilder::init(&env.path("repo.git"), true);
    repo.write("migrate.yaml", "version: 1\nproject: p\ndialects: [postgres]\n").write(
        "migrations/0001_a.sql",
        "CREATE TABLE parent (id integer PRIMARY KEY);\nCREATE TABLE child (parent_id integer REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);\nINSERT INTO child VALUES (42);\n",
    );
    repo.commit("deferred violation");
    let bundle = env.path("b.tar");
    env.export(&repo.dir, &bundle, &[]);
    let Some(db) = TestDb::create(Server::Postgres) else { return };
    let url = format!("postgres://postgres@127.0.0.1:5432/{}", db.name);
    let target = env.path("site");
    let out = import(&env, &bundle, &target, &["--db", &url]);
    assert!(out.contains("COMMIT failed") && out.ends_with("[exit status: 3]\n"), "{out}");
    assert!(!db.dump().contains("CREATE TABLE public.parent"), "nothing stayed");
    assert!(!target.join(".migrate/state.json").exists(), "no state for a target that got nothing");
}

/// What a finished target holds, without what differs from run to run (times, durations, the
/// import log): the database's history and contents, and the asset files.
fn finished_state(target: &Path, db: Option<&crate::common::db::TestDb>) -> String {
    let mut files: Vec<String> = files(target).into_iter().filter(|f| !f.starts_with(".migrate/")).collect();
    files.sort();
    match db {
        None => format!(
            "{}\n{}\n{:?}",
            history(target),
            dump(target).lines().filter(|l| !l.contains("migrate_history")).collect::<Vec<_>>().join("\n"),
            files
        ),
        Some(db) => {
            let rows = db.query("SELECT version, statements_done, statements_total, applied_by FROM migrate_history ORDER BY LENGTH(version), version");
            // Tables and indexes, on either server (`current_schema()` is PostgreSQL's `DATABASE()`).
            let schema =
                if db.query("SELECT version()").contains("PostgreSQL") { "current_schema()" } else { "DATABASE()" };
            let tables = db.query(&format!(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = {schema} ORDER BY table_name"
            ));
            format!("{rows}\n{tables}\n{:?}", files)
        }
    }
}

fn crash_and_recover(db_server: Option<crate::common::db::Server>) {
    use crate::common::db::TestDb;
    let env = TestEnv::new();
    let b = bundles(&env);
    let run = |target: &Path, db: &Option<TestDb>, bundle: &Path, crash: Option<usize>| {
        let mut args = vec![
            "import".to_string(),
            bundle.to_str().unwrap().to_string(),
            "--target".into(),
            target.to_str().unwrap().into(),
        ];
        if let Some(db) = db {
            args.push("--db".into());
            args.push(match db_server {
                Some(crate::common::db::Server::Postgres) => format!("postgres://postgres@127.0.0.1:5432/{}", db.name),
                _ => format!("mysql://root@127.0.0.1:3306/{}", db.name),
            });
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut command = env.command(env.root.path(), &refs);
        if let Some(n) = crash {
            command.env("MIGRATE_TEST_CRASH_AFTER", n.to_string());
        }
        command.output().unwrap()
    };
    let fresh_db = || db_server.and_then(TestDb::create);
    if db_server.is_some() && fresh_db().is_none() {
        return; // skipped loudly by TestDb
    }
    // The reference: an uninterrupted upgrade.
    let reference_target = env.path("reference");
    let reference_db = fresh_db();
    assert!(run(&reference_target, &reference_db, &b.full_base, None).status.success());
    assert!(run(&reference_target, &reference_db, &b.incremental, None).status.success());
    let reference = finished_state(&reference_target, reference_db.as_ref());
    let mut crashed = 0;
    let mut uncertain = 0;
    for n in 1.. {
        let target = env.path(&format!("crash-{n}"));
        let db = fresh_db();
        assert!(run(&target, &db, &b.full_base, None).status.success());
        let first = run(&target, &db, &b.incremental, Some(n));
        if first.status.success() {
            break; // n is past the last side effect: every point has been tried
        }
        assert_eq!(
            first.status.code(),
            None,
            "crash {n}: the process died ({})",
            String::from_utf8_lossy(&first.stderr)
        );
        crashed += 1;
        let again = run(&target, &db, &b.incremental, None);
        let stderr = String::from_utf8_lossy(&again.stderr);
        if stderr.contains("migrate::statement_uncertain") {
            // MySQL DDL, and a PostgreSQL statement outside a transaction, commit by themselves:
            // a crash between a statement and its progress row cannot be told apart from a
            // crash before it. The re-run refuses rather than run
            // the statement twice, and changes nothing.
            assert_eq!(again.status.code(), Some(1), "crash {n}: {stderr}");
            uncertain += 1;
            continue;
        }
        assert!(again.status.success(), "crash {n}: the re-run failed: {stderr}");
        assert_eq!(
            finished_state(&target, db.as_ref()),
            reference,
            "crash {n}: the re-run did not reach the same state"
        );
        assert!(run(&target, &db, &b.incremental, None).status.success());
    }
    assert!(crashed >= 5, "only {crashed} crash points");
    match db_server {
        None => assert_eq!(uncertain, 0, "SQLite runs this release in one transaction: every crash is recoverable"),
        // Only the crash points around the one statement outside a transaction, `CREATE INDEX
        // CONCURRENTLY` (after its journal entry, after the statement), are uncertain.
        Some(crate::common::db::Server::Postgres) => assert_eq!(uncertain, 2, "{crashed} crash points"),
        Some(crate::common::db::Server::Mariadb) => {
            assert!(uncertain < crashed, "most crash points are recoverable on MySQL too")
        }
    }
}

#[cfg(unix)]
#[test]
fn a_crash_at_any_point_is_finished_by_the_next_import_sqlite() {
    crash_and_recover(None);
}

#[cfg(unix)]
#[test]
fn a_crash_at_any_point_is_finished_by_the_next_import_postgres() {
    crash_and_recover(Some(crate::common::db::Server::Postgres));
}

#[cfg(unix)]
#[test]
fn a_crash_at_any_point_is_finished_by_the_next_import_mariadb() {
    crash_and_recover(Some(crate::common::db::Server::Mariadb));
}

#[test]
fn postgres_tls_when_the_url_asks_and_no_password_anywhere() {
    use crate::common::db::{Server, TestDb};
    let env = TestEnv::new();
    let mut repo = RepoBuilder::init(&env.path("repo.git"), true);
    // This migration fails unless its own session is encrypted.
    repo.write("migrate.yaml", "version: 1\nproject: p\ndialects: [postgres]\n").write(
        "migrations/0001_require_tls.sql",
        "DO $$ BEGIN\n  IF NOT (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) THEN\n    RAISE EXCEPTION 'the session is not encrypted';\n  END IF;\nEND $$;\n",
    );
    repo.commit("tls");
    let bundle = env.path("b.tar");
    env.export(&repo.dir, &bundle, &[]);
    let Some(db) = TestDb::create(Server::Postgres) else { return };
    let target = env.path("site");
    let receipt = env.path("receipt.json");
    let url = format!("postgres://postgres:s3cret-pw@127.0.0.1:5432/{}?sslmode=require", db.name);
    let out = import(&env, &bundle, &target, &["--db", &url, "--env", "prod", "--receipt", receipt.to_str().unwrap()]);
    assert!(out.starts_with("initialise:") && out.ends_with("[exit status: 0]\n"), "{out}");
    let state = std::fs::read_to_string(target.join(".migrate/state.json")).unwrap();
    let receipt = std::fs::read_to_string(&receipt).unwrap();
    for text in [&out, &state, &receipt] {
        assert!(!text.contains("s3cret-pw"), "a password leaked: {text}");
    }
    // The effective URL, without its password (issue 13, item 2).
    assert!(state.contains(&format!("\"postgres://postgres@127.0.0.1:5432/{}?sslmode=require\"", db.name)), "{state}");
    // Plain connections are refused by the migration itself: the check is real.
    let Some(db2) = TestDb::create(Server::Postgres) else { return };
    let plain = format!("postgres://postgres@127.0.0.1:5432/{}?sslmode=disable", db2.name);
    let out = import(&env, &bundle, &env.path("site2"), &["--db", &plain]);
    assert!(out.contains("the session is not encrypted") && out.ends_with("[exit status: 3]\n"), "{out}");
}

#[test]
fn mariadb_tls_when_the_url_asks_never_in_clear() {
    use crate::common::db::{Server, TestDb};
    let env = TestEnv::new();
    let mut repo = RepoBuilder::init(&env.path("repo.git"), true);
    // The migration records the cipher of its own session ('' when in clear).
    repo.write("migrate.yaml", "version: 1\nproject: p\ndialects: [mysql]\n").write(
        "migrations/0001_cipher.sql",
        "CREATE TABLE session_tls AS SELECT VARIABLE_VALUE AS cipher FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_cipher';\n",
    );
    repo.commit("tls");
    let bundle = env.path("b.tar");
    env.export(&repo.dir, &bundle, &[]);
    let Some(db) = TestDb::create(Server::Mariadb) else { return };
    let server_has_tls = db.query("SELECT @@have_ssl").trim() == "YES";
    let url = format!("mysql://root@127.0.0.1:3306/{}?ssl-mode=REQUIRED", db.name);
    let out = import(&env, &bundle, &env.path("site"), &["--db", &url]);
    if server_has_tls {
        assert!(out.starts_with("initialise:") && out.ends_with("[exit status: 0]\n"), "{out}");
        assert_ne!(db.query("SELECT cipher FROM session_tls").trim(), "", "the session was in clear");
    } else {
        // This machine's MariaDB has no TLS: asking for it is refused, never answered in clear.
        assert!(
            out.contains("Client requires secure connection but server does not have this capability")
                && out.ends_with("[exit status: 1]\n"),
            "{out}"
        );
        assert_eq!(db.query("SHOW TABLES"), "", "nothing was created");
    }
    let bad = format!("mysql://root@127.0.0.1:3306/{}?ssl-mode=SOMETIMES", db.name);
    let out = import(&env, &bundle, &env.path("site2"), &["--db", &bad]);
    assert!(out.contains("ssl-mode `SOMETIMES` is not one of") && out.ends_with("[exit status: 2]\n"), "{out}");
    // A server with TLS, our own: each mode gets what it asks for.
    let Some(tls) = crate::common::db::TlsMariadb::start(&env.path("tls-mariadb")) else { return };
    let cases = [
        (format!("ssl-mode=VERIFY_IDENTITY&root_cert_path={}", tls.ca.display()), true),
        ("ssl-mode=REQUIRED".to_string(), true),
        // The test CA is not among the built-in roots.
        ("ssl-mode=VERIFY_CA".to_string(), false),
    ];
    for (n, (query, connects)) in cases.iter().enumerate() {
        let name = format!("tls{n}");
        tls.query(&format!("CREATE DATABASE {name}")).unwrap();
        let url = format!("mysql://root@localhost:{}/{name}?{query}", tls.port);
        let out = import(&env, &bundle, &env.path(&format!("tls-site{n}")), &["--db", &url]);
        if *connects {
            assert!(out.starts_with("initialise:") && out.ends_with("[exit status: 0]\n"), "{query}: {out}");
            let cipher = tls.query(&format!("SELECT cipher FROM {name}.session_tls")).unwrap();
            assert!(cipher.starts_with("TLS_"), "{query}: the session was in clear ({cipher:?})");
        } else {
            assert!(out.contains("UnknownIssuer") && out.ends_with("[exit status: 1]\n"), "{query}: {out}");
            assert_eq!(tls.query(&format!("SHOW TABLES IN {name}")).unwrap(), "", "nothing was created");
        }
    }

    // In clear when not asked: the recorded cipher is empty.
    let Some(db2) = TestDb::create(Server::Mariadb) else { return };
    let plain = format!("mysql://root@127.0.0.1:3306/{}", db2.name);
    assert!(import(&env, &bundle, &env.path("site3"), &["--db", &plain]).ends_with("[exit status: 0]\n"));
    assert_eq!(db2.query("SELECT cipher FROM session_tls").trim(), "");
}

#[test]
fn a_receipt_without_an_environment_is_refused_before_anything_changes() {
    let env = TestEnv::new();
    let b = bundles(&env);
    let site = env.path("site");
    let receipt = env.path("receipt.json");
    let out = import(&env, &b.full_base, &site, &["--receipt", receipt.to_str().unwrap()]);
    assert!(out.contains("migrate::receipt_needs_env") && out.ends_with("[exit status: 2]\n"), "{out}");
    assert!(!site.join("db.sqlite3").exists() && !site.join(".migrate/state.json").exists(), "nothing applied");
    assert!(!receipt.exists());
}

#[test]
fn progress_shows_each_migration_when_asked_and_nothing_by_default_off_a_terminal() {
    let env = TestEnv::new();
    let b = bundles(&env);
    let out = import(&env, &b.full_change, &env.path("site"), &["--progress", "always"]);
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("migrating [")).collect();
    assert!(lines.len() >= 2 && out.ends_with("[exit status: 0]\n"), "{out}");
    let total = lines.len();
    for (i, line) in lines.iter().enumerate() {
        assert!(line.starts_with(&format!("migrating [{}/{total}]", i + 1)), "{line}");
    }
    assert!(lines[0].contains("1 `0001_"), "{}", lines[0]);
    let out = import(&env, &b.full_change, &env.path("site2"), &[]);
    assert!(!out.contains("migrating ["), "{out}");
}

#[test]
fn postgres_verify_ca_and_verify_full_check_the_certificate() {
    use crate::common::db::{Server, TestDb};
    let env = TestEnv::new();
    let mut repo = RepoBuilder::init(&env.path("repo.git"), true);
    repo.write("migrate.yaml", "version: 1\nproject: p\ndialects: [postgres]\n")
        .write("migrations/0001_a.sql", "CREATE TABLE a (id integer);\n");
    repo.commit("one");
    let bundle = env.path("b.tar");
    env.export(&repo.dir, &bundle, &[]);
    let Some(db) = TestDb::create(Server::Postgres) else { return };
    assert_eq!(db.query("SHOW ssl").trim(), "on", "the test server must offer TLS");
    // The server's own certificate is self-signed: as a CA file it is the one CA that signed it.
    let ca = db.query("SHOW ssl_cert_file").trim().to_string();
    let names = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in", &ca])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    assert!(names.contains("DNS:") || names.contains("IP Address:"), "openssl could not read the names in {ca}");
    let url = |host: &str, query: &str| format!("postgres://postgres@{host}:5432/{}?{query}", db.name);
    let wrong_ca = env.path("other-ca.pem");
    std::fs::write(&wrong_ca, OTHER_CA).unwrap();

    // A CA that did not sign the server's certificate is refused, as is verify-* without a CA.
    let out = import(
        &env,
        &bundle,
        &env.path("s1"),
        &["--db", &url("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={}", wrong_ca.display()))],
    );
    assert!(out.contains("UnknownIssuer") && out.ends_with("[exit status: 1]\n"), "{out}");
    let out = import(&env, &bundle, &env.path("s2"), &["--db", &url("127.0.0.1", "sslmode=verify-full")]);
    assert!(out.contains("needs `sslrootcert=FILE`") && out.ends_with("[exit status: 2]\n"), "{out}");
    assert_eq!(db.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").trim(), "0");
    // verify-full also wants the certificate to name the host: 127.0.0.1 is not in it.
    if !names.contains("IP Address:127.0.0.1") {
        let out = import(
            &env,
            &bundle,
            &env.path("s3"),
            &["--db", &url("127.0.0.1", &format!("sslmode=verify-full&sslrootcert={ca}"))],
        );
        assert!(out.contains("\"127.0.0.1\"") && out.ends_with("[exit status: 1]\n"), "{out}");
    }
    // verify-ca with the right CA connects whatever the name.
    let out = import(
        &env,
        &bundle,
        &env.path("s4"),
        &["--db", &url("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={ca}"))],
    );
    assert!(out.starts_with("initialise:") && out.ends_with("[exit status: 0]\n"), "{out}");
    // verify-full with a name the certificate holds.
    if names.contains("DNS:localhost") {
        let Some(db2) = TestDb::create(Server::Postgres) else { return };
        let full = format!("postgres://postgres@localhost:5432/{}?sslmode=verify-full&sslrootcert={ca}", db2.name);
        let out = import(&env, &bundle, &env.path("s5"), &["--db", &full]);
        assert!(out.starts_with("initialise:") && out.ends_with("[exit status: 0]\n"), "{out}");
    }
}

/// A self-signed CA that signed nothing on this machine.
const OTHER_CA: &str = include_str!("../../fixtures/tls/other-ca.pem");

#[test]
fn assets_are_deleted_last_and_only_when_an_import_put_them_there() {
    let env = TestEnv::new();
    let mut repo = RepoBuilder::init(&env.path("repo.git"), true);
    repo.write("migrate.yaml", "version: 1\nproject: p\ndialects: [sqlite]\n")
        .write("assets/query/keep.yaml", "spec: {sql: SELECT 1}\n")
        .write("assets/query/gone.yaml", "spec: {sql: SELECT 2}\n");
    let first = repo.commit("one");
    repo.remove("assets/query/gone.yaml").write("assets/query/keep.yaml", "spec: {sql: SELECT 3}\n");
    let second = repo.commit("two");
    let (base, change, full) = (env.path("base.tar"), env.path("change.tar"), env.path("full.tar"));
    env.export(&repo.dir, &base, &["--head", &first.to_string()]);
    env.export(&repo.dir, &change, &["--base", &first.to_string(), "--head", &second.to_string()]);
    env.export(&repo.dir, &full, &["--head", &second.to_string()]);
    for (n, bundle) in [&change, &full].into_iter().enumerate() {
        let target = env.path(&format!("site{n}"));
        assert!(import(&env, &base, &target, &[]).ends_with("[exit status: 0]\n"));
        // A file the target's owner put there, that no import wrote.
        std::fs::write(target.join("assets/query/by-hand.yaml"), "spec: {sql: SELECT 9}\n").unwrap();
        let plan = import(&env, bundle, &target, &["--dry-run"]);
        let (upsert, delete) = (plan.find("query/keep").unwrap(), plan.find("query/gone").unwrap());
        assert!(upsert < delete, "deletes come last: {plan}");
        assert!(!plan.contains("by-hand"), "{plan}");
        assert!(import(&env, bundle, &target, &[]).ends_with("[exit status: 0]\n"));
        assert!(!target.join("assets/query/gone.yaml").exists());
        assert_eq!(std::fs::read_to_string(target.join("assets/query/keep.yaml")).unwrap(), "spec: {sql: SELECT 3}\n");
        assert_eq!(
            std::fs::read_to_string(target.join("assets/query/by-hand.yaml")).unwrap(),
            "spec: {sql: SELECT 9}\n"
        );
    }
}

#[test]
fn dry_run_shows_each_migrations_hazards() {
    let env = TestEnv::new();
    let mut repo = RepoBuilder::init(&env.path("repo.git"), true);
    repo.write("migrate.yaml", "version: 1\nproject: p\ndialects: [sqlite]\n").write(
        "migrations/0001_a.sql",
        "CREATE TABLE a (id INTEGER);\nCREATE TABLE b (id INTEGER);\n-- migrate:allow destructive/delete-without-where a fresh start\nDELETE FROM a;\nDROP TABLE b;\n",
    );
    repo.commit("one");
    let bundle = env.path("b.tar");
    env.export(&repo.dir, &bundle, &[]);
    let target = env.path("site");
    let out = import(&env, &bundle, &target, &["--dry-run"]);
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    assert!(
        out.contains("-- migration 1 0001_a (4 statements)\n-- warning destructive/delete-without-where at line 4: DELETE without WHERE (allowed: a fresh start)\n-- warning destructive/drop-table at line 5: DROP TABLE b\nCREATE TABLE a"),
        "{out}"
    );
    let out = import(&env, &bundle, &target, &["--dry-run", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(out.split("----- stderr").next().unwrap()).unwrap();
    let rules: Vec<&str> =
        json["migrations"][0]["hazards"].as_array().unwrap().iter().map(|h| h["rule"].as_str().unwrap()).collect();
    assert_eq!(rules, ["destructive/delete-without-where", "destructive/drop-table"]);
}

#[test]
fn dry_run_hazards_are_those_of_the_targets_dialect() {
    use crate::common::db::{Server, TestDb};
    let env = TestEnv::new();
    let mut repo = RepoBuilder::init(&env.path("repo.git"), true);
    repo.write("migrate.yaml", "version: 1\nproject: p\ndialects: [sqlite, postgres]\n")
        .write("migrations/0001_a.sql", "CREATE TABLE a (id INTEGER);\n");
    let first = repo.commit("one");
    // One file for both dialects; only PostgreSQL's CREATE INDEX without CONCURRENTLY locks.
    repo.write("migrations/0002_b.sql", "CREATE INDEX a_id ON a (id);\n");
    let second = repo.commit("two");
    let (base, change) = (env.path("base.tar"), env.path("change.tar"));
    env.export(&repo.dir, &base, &["--head", &first.to_string()]);
    env.export(&repo.dir, &change, &["--base", &first.to_string(), "--head", &second.to_string()]);
    let lite = env.path("lite");
    assert!(import(&env, &base, &lite, &[]).ends_with("[exit status: 0]\n"));
    let out = import(&env, &change, &lite, &["--dry-run"]);
    assert!(out.contains("CREATE INDEX a_id") && !out.contains("locking/create-index"), "{out}");
    let Some(db) = TestDb::create(Server::Postgres) else { return };
    let url = format!("postgres://postgres@127.0.0.1:5432/{}", db.name);
    let pg = env.path("pg");
    assert!(import(&env, &base, &pg, &["--db", &url]).ends_with("[exit status: 0]\n"));
    let out = import(&env, &change, &pg, &["--db", &url, "--dry-run"]);
    assert!(out.contains("-- warning locking/create-index at line 1: CREATE INDEX on a"), "{out}");
}

#[test]
fn an_incremental_bundle_needs_exactly_its_base_release_not_just_its_migrations() {
    let env = TestEnv::new();
    let mut repo = RepoBuilder::init(&env.path("repo.git"), true);
    repo.write("migrate.yaml", "version: 1\nproject: p\ndialects: [sqlite]\n")
        .write("migrations/0001_a.sql", "CREATE TABLE a (id INTEGER);\n")
        .write("assets/flag/a.yaml", "spec: {on: false}\n");
    let c0 = repo.commit("c0");
    repo.write("assets/flag/a.yaml", "spec: {on: true}\n");
    let c1 = repo.commit("c1: same migrations, another asset");
    repo.write("assets/flag/b.yaml", "spec: {on: true}\n");
    let c2 = repo.commit("c2");
    let (full_c1, from_c0, from_c1) = (env.path("c1.tar"), env.path("c0-c2.tar"), env.path("c1-c2.tar"));
    env.export(&repo.dir, &full_c1, &["--head", &c1.to_string()]);
    env.export(&repo.dir, &from_c0, &["--base", &c0.to_string(), "--head", &c2.to_string()]);
    env.export(&repo.dir, &from_c1, &["--base", &c1.to_string(), "--head", &c2.to_string()]);
    let site = env.path("site");
    assert!(import(&env, &full_c1, &site, &[]).starts_with("initialise:"));
    let before = files(&site);
    // The history fits c0→c2, but the target holds c1: `flag/a` would stay at c1's text under
    // c2's release id.
    let out = import(&env, &from_c0, &site, &[]);
    assert!(out.contains("migrate::unexpected_base") && out.ends_with("[exit status: 1]\n"), "{out}");
    assert_eq!(files(&site), before, "refused before any change");
    let out = import(&env, &from_c1, &site, &[]);
    assert!(out.starts_with("upgrade:") && out.ends_with("[exit status: 0]\n"), "{out}");
    assert_eq!(std::fs::read_to_string(site.join("assets/flag/b.yaml")).unwrap(), "spec: {on: true}\n");
}
