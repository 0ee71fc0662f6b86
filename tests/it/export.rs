//! `migrate export`: full, incremental and downgrade bundles, reproducibility, refusals, and the
//! offline scripts proved with the real clients.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::db::{Server, TestDb};
use crate::common::{RepoBuilder, TestEnv, git};

fn manifest_of(bundle: &Path) -> serde_json::Value {
    let members = crate::common::members(bundle);
    let (_, bytes) = members.iter().find(|(p, _)| p == "manifest.json").unwrap();
    serde_json::from_slice(bytes).unwrap()
}

fn member(bundle: &Path, path: &str) -> Vec<u8> {
    let members = crate::common::members(bundle);
    members.into_iter().find(|(p, _)| p == path).map(|(_, b)| b).unwrap_or_else(|| panic!("no member {path}"))
}

fn export(env: &TestEnv, repo: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["export", "-o", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    env.run(repo, &args)
}

#[test]
fn full_bundle_is_reproducible_across_clones_time_zones_and_umasks() {
    let env = TestEnv::new();
    let origin = env.inventory("origin.git", true);
    let url = format!("file://{}", origin.dir.display());
    git(env.root.path(), &["clone", "-q", "--branch", "feature", &url, "first/clone"]);
    git(env.root.path(), &["clone", "-q", "--bare", "--branch", "feature", &url, "second-clone.git"]);
    let one = env.path("one.tar");
    let two = env.path("two.tar");
    let first = env
        .command(&env.path("first/clone"), &["export", "--head", "feature", "-o", one.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(first.status.success());
    // Another clone path, time zone, locale and umask.
    let second = Command::new("sh")
        .current_dir(env.path("second-clone.git"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", env.root.path())
        .env("TZ", "Asia/Kolkata")
        .env("LC_ALL", "de_DE.UTF-8")
        .args([
            "-c",
            "umask 077 && exec \"$0\" export --head feature -o \"$1\"",
            env!("CARGO_BIN_EXE_migrate"),
            two.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(second.status.success());
    assert!(
        std::fs::read(&one).unwrap() == std::fs::read(&two).unwrap(),
        "the same head and flags give the same bytes"
    );

    let listing = Command::new("tar").args(["-tvf", one.to_str().unwrap()]).output().unwrap();
    assert!(listing.status.success(), "GNU tar lists it");
    insta::assert_snapshot!("full_listing", String::from_utf8_lossy(&listing.stdout));
    insta::assert_json_snapshot!("full_manifest", manifest_of(&one));

    // gzip, when the name asks for it, is reproducible too.
    let gz = env.path("one.tar.gz");
    let gz2 = env.path("two.tgz");
    for path in [&gz, &gz2] {
        let out = export(&env, &env.path("first/clone"), path, &["--head", "feature"]);
        assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    }
    assert!(std::fs::read(&gz).unwrap() == std::fs::read(&gz2).unwrap());
    assert!(Command::new("tar").args(["-tzf", gz.to_str().unwrap()]).output().unwrap().status.success());
}

#[test]
fn incremental_and_full_bundles_share_the_release_id() {
    let env = TestEnv::new();
    let repo = env.scripts("repo.git");
    let full_base = env.path("base.tar");
    let full_change = env.path("change.tar");
    let incremental = env.path("incremental.tar");
    export(&env, &repo.dir, &full_base, &["--head", "base"]);
    export(&env, &repo.dir, &full_change, &["--head", "change"]);
    let out =
        export(&env, &repo.dir, &incremental, &["--base", "base", "--head", "change", "--release-version", "2.0"]);
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    let (base, full, inc) = (manifest_of(&full_base), manifest_of(&full_change), manifest_of(&incremental));
    assert_eq!(inc["release"]["id"], full["release"]["id"]);
    assert_eq!(inc["release"]["bundle"], "incremental");
    assert_eq!(inc["release"]["version"], "2.0");
    assert_eq!(inc["requires"]["release_id"], base["release"]["id"]);
    assert_eq!(full["requires"].get("release_id"), None);
    let migrations: Vec<String> = inc["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "migration")
        .map(|i| {
            format!(
                "{} {} {}",
                i["dialect"].as_str().unwrap(),
                i["identity"].as_str().unwrap(),
                i["action"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        migrations,
        [
            "sqlite 3 apply",
            "sqlite 4 apply",
            "sqlite 5 apply",
            "postgres 3 apply",
            "postgres 4 apply",
            "postgres 5 apply",
            "mysql 3 apply",
            "mysql 4 apply",
            "mysql 5 apply"
        ]
    );
    let history = &inc["requires"]["history"]["postgres"];
    assert_eq!(history.as_array().unwrap().len(), 2, "the base history is required exactly");
    // The check's state id of the head is the release id.
    let check = env.stdout(&repo.dir, &["check", "--rev", "change", "--format", "json"], 0);
    let check: serde_json::Value = serde_json::from_str(&check).unwrap();
    assert_eq!(check["state_id"], full["release"]["id"]);
    // The statements of a body are one statement each.
    let routines =
        inc["items"].as_array().unwrap().iter().find(|i| i["dialect"] == "mysql" && i["identity"] == "5").unwrap();
    assert_eq!(routines["migration"]["statements"].as_array().unwrap().len(), 1);
    let index =
        inc["items"].as_array().unwrap().iter().find(|i| i["dialect"] == "postgres" && i["identity"] == "4").unwrap();
    assert_eq!(index["migration"]["transactional"], false);
}

#[test]
fn a_plan_with_errors_is_not_exported() {
    let env = TestEnv::new();
    let mut repo = env.inventory("repo", false);
    repo.write("migrations/0001_create_hosts.sql", "CREATE TABLE hosts (id BIGINT);\n");
    repo.commit("edit a shipped migration");
    let out_file = env.path("bundle.tar");
    insta::assert_snapshot!("refused", export(&env, &repo.dir, &out_file, &["--base", "main"]));
    assert!(!out_file.exists());
    assert_eq!(std::fs::read_dir(env.root.path()).unwrap().count(), 1, "nothing but the repository: no partial file");
}

#[test]
fn shallow_clones_and_worktree_are_usage_errors() {
    let env = TestEnv::new();
    let origin = env.inventory("origin.git", true);
    let url = format!("file://{}", origin.dir.display());
    git(env.root.path(), &["clone", "-q", "--depth", "1", "--branch", "feature", &url, "shallow"]);
    let out = export(&env, &env.path("shallow"), &env.path("b.tar"), &[]);
    assert!(out.contains("git fetch --unshallow") && out.ends_with("[exit status: 2]\n"), "{out}");
    let out = export(&env, &env.path("shallow"), &env.path("b.tar"), &["--head", "WORKTREE"]);
    assert!(out.contains("migrate::export_worktree") && out.ends_with("[exit status: 2]\n"), "{out}");
}

#[test]
fn skip_and_only_hold_assets_back() {
    let env = TestEnv::new();
    let repo = env.inventory("repo.git", true);
    let all = env.path("all.tar");
    let skipped = env.path("skipped.tar");
    let only = env.path("only.tar");
    export(&env, &repo.dir, &all, &["--head", "feature"]);
    // The dashboard depends on the query: skipping the query alone is refused (see `select`).
    let skip = ["--head", "feature", "--skip", "query/active-hosts", "--skip", "dashboard/ops/latency"];
    let out = export(&env, &repo.dir, &skipped, &skip);
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    let (all, skipped_manifest) = (manifest_of(&all), manifest_of(&skipped));
    // A full bundle cannot know the copy a target keeps: each target records what it holds.
    assert_eq!(
        skipped_manifest["skipped"],
        serde_json::json!([{"id": "dashboard/ops/latency"}, {"id": "query/active-hosts"}])
    );
    assert_ne!(skipped_manifest["release"]["id"], all["release"]["id"], "the release id leaves skipped assets out");
    let item =
        skipped_manifest["items"].as_array().unwrap().iter().find(|i| i["identity"] == "query/active-hosts").unwrap();
    assert_eq!(item["action"], "skip");
    assert!(item.get("path").is_none());

    export(&env, &repo.dir, &only, &["--head", "feature", "--only", "datasource/main"]);
    let only = manifest_of(&only);
    let upserts: Vec<&str> = only["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["action"] == "upsert")
        .map(|i| i["identity"].as_str().unwrap())
        .collect();
    assert_eq!(upserts, ["datasource/main"]);

    let out = export(&env, &repo.dir, &env.path("x.tar"), &["--head", "feature", "--skip", "query/nope"]);
    assert!(out.contains("migrate::unknown_asset") && out.ends_with("[exit status: 2]\n"), "{out}");
    let out = export(&env, &repo.dir, &env.path("x.tar"), &["--head", "feature", "--skip", "0001_create_hosts"]);
    assert!(out.ends_with("[exit status: 2]\n"), "{out}");
}

#[test]
fn the_offline_script_alone_equals_the_member() {
    let env = TestEnv::new();
    let repo = env.scripts("repo.git");
    let bundle = env.path("b.tar");
    let sql = env.path("alone.sql");
    let out = export(
        &env,
        &repo.dir,
        &bundle,
        &["--base", "base", "--head", "change", "--sql", sql.to_str().unwrap(), "--dialect", "mysql"],
    );
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    assert_eq!(std::fs::read(&sql).unwrap(), member(&bundle, "sql/mysql.sql"));
    insta::assert_snapshot!("postgres_script", String::from_utf8(member(&bundle, "sql/postgres.sql")).unwrap());
}

#[test]
fn downgrade_bundles_revert_in_reverse_order() {
    let env = TestEnv::new();
    let repo = env.scripts("repo.git");
    let bundle = env.path("down.tar");
    let out = export(&env, &repo.dir, &bundle, &["--base", "change", "--head", "base"]);
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    let manifest = manifest_of(&bundle);
    assert_eq!(manifest["release"]["bundle"], "downgrade");
    let sqlite: Vec<String> = manifest["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "migration" && i["dialect"] == "sqlite")
        .map(|i| format!("{} {}", i["identity"].as_str().unwrap(), i["action"].as_str().unwrap()))
        .collect();
    assert_eq!(sqlite, ["5 revert", "4 revert", "3 revert"]);
    let full_base = env.path("base.tar");
    export(&env, &repo.dir, &full_base, &["--head", "base"]);
    assert_eq!(manifest["release"]["id"], manifest_of(&full_base)["release"]["id"]);

    // A migration without a down section cannot be undone.
    let mut repo = RepoBuilder::init(&env.path("nodown.git"), true);
    repo.write("migrate.yaml", "version: 1\nproject: p\ndialects: [sqlite]\n")
        .write("migrations/0001_a.sql", "SELECT 1;\n");
    let first = repo.commit("one");
    repo.write("migrations/0002_no_down.sql", "CREATE TABLE t (id INT);\n");
    let second = repo.commit("two");
    let out =
        export(&env, &repo.dir, &env.path("x.tar"), &["--base", &second.to_string(), "--head", &first.to_string()]);
    assert!(out.contains("migration `0002_no_down` (sqlite) has no down section"), "{out}");
    assert!(out.ends_with("[exit status: 1]\n"), "{out}");
}

/// Extracts a dialect's script from a bundle into a file.
fn script(env: &TestEnv, bundle: &Path, dialect: &str) -> PathBuf {
    let path = env.path(&format!("{}-{dialect}.sql", bundle.file_stem().unwrap().to_str().unwrap()));
    std::fs::write(&path, member(bundle, &format!("sql/{dialect}.sql"))).unwrap();
    path
}

struct Bundles {
    full_base: PathBuf,
    incremental: PathBuf,
}

fn bundles(env: &TestEnv) -> Bundles {
    let repo = env.scripts("repo.git");
    let full_base = env.path("full_base.tar");
    let incremental = env.path("incremental.tar");
    assert!(export(env, &repo.dir, &full_base, &["--head", "base"]).ends_with("[exit status: 0]\n"));
    assert!(
        export(env, &repo.dir, &incremental, &["--base", "base", "--head", "change"]).ends_with("[exit status: 0]\n")
    );
    Bundles { full_base, incremental }
}

#[test]
fn offline_script_with_sqlite3() {
    let env = TestEnv::new();
    let b = bundles(&env);
    let db = env.path("target.sqlite3");
    let sqlite3 = |sql: &Path| {
        Command::new("sqlite3")
            .arg(&db)
            .stdin(std::fs::File::open(sql).unwrap())
            .output()
            .expect("sqlite3 runs (apt-get install sqlite3)")
    };
    let dump = || String::from_utf8(Command::new("sqlite3").arg(&db).arg(".dump").output().unwrap().stdout).unwrap();
    // A wrong base (an empty database for the incremental script) changes nothing.
    let wrong = sqlite3(&script(&env, &b.incremental, "sqlite"));
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("migrate: guard failed, nothing was changed"));
    assert_eq!(dump().lines().filter(|l| l.starts_with("CREATE")).count(), 0, "{}", dump());
    // The right base: the full script of the base, then the incremental one.
    assert!(sqlite3(&script(&env, &b.full_base, "sqlite")).status.success());
    let applied = sqlite3(&script(&env, &b.incremental, "sqlite"));
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    let rows = Command::new("sqlite3").arg(&db).arg("SELECT version, statements_done, statements_total, applied_by FROM migrate_history ORDER BY length(version), version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&rows.stdout),
        "1|2|2|script\n2|0|0|script\n3|2|2|script\n4|1|1|script\n5|2|2|script\n"
    );
    let data = Command::new("sqlite3")
        .arg(&db)
        .arg("UPDATE note SET body = body; SELECT body, owner FROM note; SELECT at FROM note_log;")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&data.stdout), "hello; world -- not a comment; it's ok|ops; team\nnow; later\n");
    // A second run stops at the guard and changes nothing.
    let before = dump();
    let again = sqlite3(&script(&env, &b.incremental, "sqlite"));
    assert!(!again.status.success());
    assert_eq!(dump(), before);
}

fn offline_script_with_server(server: Server, dialect: &str) {
    let env = TestEnv::new();
    let b = bundles(&env);
    let Some(db) = TestDb::create(server) else { return };
    let wrong = db.run_script(&script(&env, &b.incremental, dialect));
    assert!(!wrong.status.success(), "a wrong base must fail");
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("migrate: guard failed"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    let empty = db.dump();
    assert!(!empty.contains("migrate_history"), "nothing was created: {empty}");
    let base = db.run_script(&script(&env, &b.full_base, dialect));
    assert!(base.status.success(), "{}", String::from_utf8_lossy(&base.stderr));
    let applied = db.run_script(&script(&env, &b.incremental, dialect));
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    let rows = db.query("SELECT version, statements_done, statements_total, applied_by FROM migrate_history ORDER BY length(version), version");
    assert_eq!(rows.replace('\t', "|"), "1|2|2|script\n2|0|0|script\n3|2|2|script\n4|1|1|script\n5|1|1|script\n");
    let label = db.query("SELECT note_label(1)");
    assert_eq!(label.trim(), "#1: hello; world -- not a comment; it's ok");
    let before = db.dump();
    let again = db.run_script(&script(&env, &b.incremental, dialect));
    assert!(!again.status.success(), "a second run must fail");
    assert_eq!(db.dump(), before, "and change nothing");
}

#[test]
fn offline_script_with_psql() {
    offline_script_with_server(Server::Postgres, "postgres");
}

#[test]
fn offline_script_with_mariadb() {
    offline_script_with_server(Server::Mariadb, "mysql");
}

#[test]
fn the_manifest_carries_each_migrations_hazards() {
    let env = TestEnv::new();
    let mut repo = RepoBuilder::init(&env.path("repo.git"), true);
    repo.write("migrate.yaml", "version: 1\nproject: p\ndialects: [postgres]\nhazards: { locking: off }\n")
        .write("migrations/0001_a.sql", "CREATE TABLE a (id int);\n");
    repo.commit("one");
    repo.write(
        "migrations/0002_b.sql",
        "-- migrate:allow destructive/delete-without-where reset on purpose\nDELETE FROM a;\nCREATE INDEX a_id ON a (id);\n\n-- migrate:down\nSELECT 1;\nDROP TABLE a;\n",
    );
    repo.commit("two");
    let (up, down) = (env.path("up.tar"), env.path("down.tar"));
    let out = env.run(&repo.dir, &["export", "--base", "HEAD~1", "-o", up.to_str().unwrap()]);
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    let out = env.run(&repo.dir, &["export", "--base", "HEAD", "--head", "HEAD~1", "-o", down.to_str().unwrap()]);
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    let hazards = |bundle: &Path| {
        let manifest = manifest_of(bundle);
        let item = manifest["items"].as_array().unwrap().iter().find(|i| i["identity"] == "2").cloned().unwrap();
        item["migration"]["hazards"].clone()
    };
    // `locking: off` leaves the index out; the allowed DELETE keeps its reason.
    assert_eq!(
        hazards(&up),
        serde_json::json!([{"rule": "destructive/delete-without-where", "severity": "warning", "line": 2,
            "message": "DELETE without WHERE", "allowed": "reset on purpose"}])
    );
    // A downgrade's hazards are its down section's, at their lines in the file.
    assert_eq!(
        hazards(&down),
        serde_json::json!([{"rule": "destructive/drop-table", "severity": "warning", "line": 7, "message": "DROP TABLE a"}])
    );
}
