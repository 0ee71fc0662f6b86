//! A target's identity kept in its database (issue 13, item 1): a stateless job that imports
//! from a new folder each time, or from none, is one target; a folder of another target on a
//! database is refused; a partial migration resumes from the database's record alone; `status
//! --db URL` reads a target without its folder.

use std::path::{Path, PathBuf};

use crate::common::db::{Server, TestDb};
use crate::common::{RepoBuilder, TestEnv};

/// A project of migrations only (no assets): `common::two_releases` without its asset.
fn releases(env: &TestEnv) -> (PathBuf, PathBuf, PathBuf) {
    crate::common::two_releases(env, "stateless", false)
}

fn url(db: &TestDb) -> String {
    match db.server {
        Server::Postgres => format!("postgres://postgres@127.0.0.1:5432/{}", db.name),
        Server::Mariadb => format!("mysql://root@127.0.0.1:3306/{}", db.name),
    }
}

/// `import BUNDLE --db URL --env prod --receipt RECEIPT` with `extra` (a `--target`, or none);
/// returns the output and the receipt's target id.
fn import(env: &TestEnv, bundle: &Path, db: &str, receipt: &str, extra: &[&str]) -> (String, String) {
    let receipt = env.path(receipt);
    let mut args = vec!["import", bundle.to_str().unwrap(), "--db", db, "--env", "prod"];
    args.extend(["--receipt", receipt.to_str().unwrap()]);
    args.extend_from_slice(extra);
    let out = env.run(env.root.path(), &args);
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    let receipt: serde_json::Value = serde_json::from_slice(&std::fs::read(&receipt).unwrap()).unwrap();
    (out, receipt["target_id"].as_str().unwrap().to_string())
}

/// The stateless job: v1 with no folder, v1 again from a new folder (nothing to do), v2 with no
/// folder. One target throughout: the same target id in every receipt, one target in the
/// environment's record, the rows kept, and no working folder left behind.
fn stateless_job(server: Server) {
    let Some(db) = TestDb::create(server) else { return };
    let env = TestEnv::new();
    let (repo, v1, v2) = releases(&env);
    let url = url(&db);
    let (out, first) = import(&env, &v1, &url, "r1.json", &[]);
    assert!(out.starts_with("initialise:"), "{out}");
    db.query("INSERT INTO accounts (id, name) VALUES (3, 'tenant data')");
    let folder = env.path("new-folder");
    let (out, again) = import(&env, &v1, &url, "r2.json", &["--target", folder.to_str().unwrap()]);
    assert!(out.starts_with("nothing to do:"), "{out}");
    let (out, upgraded) = import(&env, &v2, &url, "r3.json", &[]);
    assert!(out.starts_with("upgrade:"), "{out}");
    assert_eq!((again.as_str(), upgraded.as_str()), (first.as_str(), first.as_str()));
    // The new folder became the target: its state names the database's target id.
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join(".migrate/state.json")).unwrap()).unwrap();
    assert_eq!(state["target_id"], serde_json::json!(first));
    assert_eq!(db.query("SELECT id, balance FROM accounts ORDER BY id"), "1\t10\n2\t20\n3\t30\n");
    let leftovers: Vec<_> = std::fs::read_dir(env.root.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("migrate-import-"))
        .collect();
    assert!(leftovers.is_empty(), "working folders left: {leftovers:?}");

    let receipts: Vec<String> =
        ["r1.json", "r2.json", "r3.json"].iter().map(|r| env.path(r).to_str().unwrap().to_string()).collect();
    let mut args = vec!["env", "record"];
    args.extend(receipts.iter().map(String::as_str));
    let out = env.run(&repo, &args);
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo.join("environments/prod.json")).unwrap()).unwrap();
    let targets: Vec<&String> = record["targets"].as_object().unwrap().keys().collect();
    assert_eq!(targets, [&first], "{record:#}");

    // `status --db URL`: the target from its database alone.
    let json = env.stdout(env.root.path(), &["status", "--db", &url, "--format", "json"], 0);
    let status: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(status["target_id"], serde_json::json!(first));
    assert_eq!(status["environment"], "prod");
    let v2_release = serde_json::from_slice::<serde_json::Value>(&std::fs::read(env.path("r3.json")).unwrap()).unwrap()
        ["release"]["id"]
        .clone();
    assert_eq!(status["release_id"], v2_release);
    assert_eq!(status["migrations"].as_array().unwrap().len(), 2);
    assert_eq!(status["drift"], serde_json::json!([]));
    let text = env.stdout(env.root.path(), &["status", "--db", &url], 0);
    assert!(text.starts_with(&format!("target {first} in `prod`")), "{text}");
    assert!(text.contains("2 migrations applied"), "{text}");
    // A missing folder with the database is that target too.
    let missing = env.path("missing");
    let text = env.stdout(env.root.path(), &["status", "--target", missing.to_str().unwrap(), "--db", &url], 0);
    assert!(text.starts_with(&format!("target {first} in `prod`")), "{text}");
}

#[test]
fn a_stateless_job_on_postgres_is_one_target() {
    stateless_job(Server::Postgres);
}

#[test]
fn a_stateless_job_on_mariadb_is_one_target() {
    stateless_job(Server::Mariadb);
}

/// On MariaDB each statement commits by itself. A migration that fails at its second statement
/// leaves the first committed (exit 4); the database's record says which statement ran, so the
/// fixed release resumes after it from a job with no folder, without running it twice.
#[test]
fn a_partial_migration_resumes_from_the_databases_record_without_a_folder() {
    let Some(db) = TestDb::create(Server::Mariadb) else { return };
    let env = TestEnv::new();
    let (_, v1, _) = releases(&env);
    let url = url(&db);
    import(&env, &v1, &url, "r1.json", &[]);
    let dir = env.path("next");
    let mut repo = RepoBuilder::init(&dir, false);
    repo.write("migrate.yaml", "version: 1\nproject: stateless\ndialects: [sqlite, postgres, mysql]\nenvironments: [prod]\n")
        .write(
            "migrations/0001_accounts.sql",
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL);\nINSERT INTO accounts (id, name) VALUES (1, 'first'), (2, 'second');\n",
        )
        .write("migrations/0002_audit.sql", "CREATE TABLE audit (id INTEGER PRIMARY KEY);\nINSERT INTO no_such_table VALUES (1);\n");
    repo.commit("broken");
    let broken = env.path("broken.tar");
    env.export(&dir, &broken, &[]);
    let args = ["import", broken.to_str().unwrap(), "--db", &url, "--env", "prod"];
    let out = env.run(env.root.path(), &args);
    assert!(out.contains("migrate::apply_partial") && out.ends_with("[exit status: 4]\n"), "{out}");
    assert_eq!(db.query("SELECT statements_done, statements_total FROM migrate_history WHERE version = '2'"), "1\t2\n");
    let recorded = db.query("SELECT detail FROM migrate_history_target");
    assert!(recorded.contains("\"partial\""), "{recorded}");

    // The second statement fixed; the first, which ran, unchanged.
    repo.write(
        "migrations/0002_audit.sql",
        "CREATE TABLE audit (id INTEGER PRIMARY KEY);\nINSERT INTO audit VALUES (1);\n",
    );
    repo.commit("fixed");
    let fixed = env.path("fixed.tar");
    env.export(&dir, &fixed, &[]);
    let (out, _) = import(&env, &fixed, &url, "r2.json", &[]);
    assert!(out.starts_with("resume:") || out.starts_with("upgrade:"), "{out}");
    assert_eq!(db.query("SELECT statements_done, statements_total FROM migrate_history WHERE version = '2'"), "2\t2\n");
    assert_eq!(db.query("SELECT id FROM audit"), "1\n");
    assert!(!db.query("SELECT detail FROM migrate_history_target").contains("\"partial\""));
}

/// A database restored from another target's backup: its record names another target than the
/// folder's state, and the import is refused with nothing changed; the control, each folder on
/// its own database, imports. A bundle with assets needs its folder, and a SQLite database is
/// imported with its folder.
#[test]
fn a_folder_of_another_target_is_refused_and_assets_need_their_folder() {
    let env = TestEnv::new();
    let (_, v1, v2) = releases(&env);
    let (a, b) = (env.path("a"), env.path("b"));
    for folder in [&a, &b] {
        let out = env.run(
            env.root.path(),
            &["import", v1.to_str().unwrap(), "--target", folder.to_str().unwrap(), "--env", "prod"],
        );
        assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    }
    std::fs::copy(a.join("db.sqlite3"), b.join("db.sqlite3")).unwrap();
    let before = std::fs::read(b.join("db.sqlite3")).unwrap();
    let out = env.run(env.root.path(), &["import", v2.to_str().unwrap(), "--target", b.to_str().unwrap()]);
    assert!(out.contains("migrate::identity_conflict") && out.ends_with("[exit status: 1]\n"), "{out}");
    assert_eq!(std::fs::read(b.join("db.sqlite3")).unwrap(), before, "the refusal changed the database");
    let out = env.run(env.root.path(), &["import", v2.to_str().unwrap(), "--target", a.to_str().unwrap()]);
    assert!(out.starts_with("upgrade:") && out.ends_with("[exit status: 0]\n"), "{out}");

    // No folder: a SQLite database, and any bundle with assets, are refused before anything.
    let sqlite = format!("sqlite:{}", env.path("loose.sqlite3").display());
    let out = env.run(env.root.path(), &["import", v1.to_str().unwrap(), "--db", &sqlite]);
    assert!(out.contains("migrate::target_needed") && out.ends_with("[exit status: 2]\n"), "{out}");
    assert!(!env.path("loose.sqlite3").exists());
    let dir = env.path("assets-repo");
    let mut repo = RepoBuilder::init(&dir, false);
    repo.write("migrate.yaml", "version: 1\nproject: stateless\ndialects: [sqlite, postgres, mysql]\n")
        .write("migrations/0001_a.sql", "CREATE TABLE a (id INTEGER);\n")
        .write("assets/query/q.yaml", "spec: {sql: SELECT 1}\n");
    repo.commit("assets");
    let with_assets = env.path("assets.tar");
    env.export(&dir, &with_assets, &[]);
    let out = env
        .run(env.root.path(), &["import", with_assets.to_str().unwrap(), "--db", "postgres://nobody@127.0.0.1:1/none"]);
    assert!(out.contains("migrate::target_needed") && out.ends_with("[exit status: 2]\n"), "{out}");
    let out = env.run(env.root.path(), &["import", v1.to_str().unwrap()]);
    assert!(out.contains("--target") && out.ends_with("[exit status: 2]\n"), "{out}");

    // With its folder, it imports; read from the database alone, the target says how many
    // assets its folder holds (the database keeps the count, not the files).
    let folder = env.path("with-assets");
    let out = env.run(
        env.root.path(),
        &["import", with_assets.to_str().unwrap(), "--target", folder.to_str().unwrap(), "--env", "prod"],
    );
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    let database = format!("sqlite:{}", folder.join("db.sqlite3").display());
    let json = env.stdout(env.root.path(), &["status", "--db", &database, "--format", "json"], 0);
    let status: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(status["assets"], 1, "{status:#}");
    assert!(status["target_id"].as_str().is_some_and(|id| id.starts_with("t-")), "{status:#}");
}
