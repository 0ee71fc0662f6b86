//! Multi-tenant layouts (issue 13, item 7): each tenant is a target of its own, with a lock of its
//! own, on the real servers.

use crate::common::TestEnv;
use crate::common::db::{Server, TestDb};

/// A bundle whose one migration takes about three seconds in each dialect.
fn slow_bundle(env: &TestEnv) -> std::path::PathBuf {
    let dir = env.path("repo");
    let mut repo = crate::common::RepoBuilder::init(&dir, false);
    repo.write("migrate.yaml", "version: 1\nproject: tenants\ndialects: [postgres, mysql]\n")
        .write("migrations/0001_slow.postgres.sql", "CREATE TABLE a (id int);\nSELECT pg_sleep(3);\n")
        .write("migrations/0001_slow.mysql.sql", "CREATE TABLE a (id int);\nDO SLEEP(3);\n");
    repo.commit("slow");
    let bundle = env.path("slow.tar");
    env.export(&dir, &bundle, &[]);
    bundle
}

/// Imports `bundle` into `url` with a one-second lock timeout: started in the background.
fn start(env: &TestEnv, bundle: &std::path::Path, name: &str, url: &str) -> std::process::Child {
    let target = env.path(name);
    let args =
        ["import", bundle.to_str().unwrap(), "--target", target.to_str().unwrap(), "--db", url, "--lock-timeout", "1"];
    env.command(env.root.path(), &args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("migrate runs")
}

/// How many sessions are in the slow migration's sleep on the server of `url`.
fn sleeping_now(pg: &TestDb, my: &TestDb, url: &str) -> String {
    let count = if url.starts_with("postgres") {
        pg.query("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(3)%' AND pid <> pg_backend_pid()")
    } else {
        my.query("SELECT count(*) FROM information_schema.processlist WHERE info LIKE '%SLEEP(3)%' AND id <> CONNECTION_ID()")
    };
    count.trim().to_string()
}

fn finish(child: std::process::Child) -> String {
    let output = child.wait_with_output().unwrap();
    format!("{}[exit status: {:?}]", String::from_utf8_lossy(&output.stderr), output.status.code())
}

/// Two tenants imported at once — schemas of one PostgreSQL database, databases of one MariaDB
/// server — never wait for each other's lock: the second, with a one-second lock timeout, runs
/// while the first is still in its three-second migration, and both converge. (The lock used
/// to be named after the history table alone, so the second waited, timed out and exited 5.)
/// The control: two imports of one tenant at once still exclude each other.
#[test]
fn tenants_that_share_a_server_never_wait_for_each_others_lock() {
    let env = TestEnv::new();
    let bundle = slow_bundle(&env);
    let Some(pg) = TestDb::create(Server::Postgres) else { return };
    pg.query("CREATE SCHEMA tenant_1; CREATE SCHEMA tenant_2;");
    let schema = |s: &str| format!("postgres://postgres@127.0.0.1:5432/{}?options=-csearch_path%3D{s}", pg.name);
    let Some(my_1) = TestDb::create(Server::Mariadb) else { return };
    let Some(my_2) = TestDb::create(Server::Mariadb) else { return };
    let database = |db: &TestDb| format!("mysql://root@127.0.0.1:3306/{}", db.name);
    for (first, second) in [(schema("tenant_1"), schema("tenant_2")), (database(&my_1), database(&my_2))] {
        let slow = start(&env, &bundle, &format!("t-{}", first.len()), &first);
        // Until the first import is in its migration (so holds its lock) on a busy machine too.
        let started = std::time::Instant::now();
        while sleeping_now(&pg, &my_1, &first) == "0" {
            assert!(started.elapsed().as_secs() < 30, "the first import never reached its migration: {first}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let other = start(&env, &bundle, &format!("u-{}", second.len()), &second);
        let same = start(&env, &bundle, &format!("v-{}", first.len()), &first);
        let same = finish(same);
        assert!(same.contains("busy") && same.ends_with("[exit status: Some(5)]"), "the same tenant: {same}");
        let out = finish(other);
        assert!(out.ends_with("[exit status: Some(0)]"), "{second}: {out}");
        let out = finish(slow);
        assert!(out.ends_with("[exit status: Some(0)]"), "{first}: {out}");
    }
    for tenant in ["tenant_1", "tenant_2"] {
        assert_eq!(pg.query(&format!("SELECT count(*) FROM {tenant}.migrate_history")).trim(), "1", "{tenant}");
    }
    for db in [&my_1, &my_2] {
        assert_eq!(db.query("SELECT count(*) FROM migrate_history").trim(), "1", "{}", db.name);
    }
}

/// Issue 13, item 4: `status --fleet FILE` reads every target of a fleet, wave by wave — a
/// folder's embedded database, a database named by a variable, a folder nothing was imported
/// into — in text and JSON, and exits with the most severe code of its targets: 0 when all
/// are as imported, 1 on drift, 2 when a target's database cannot even be named.
#[test]
fn status_of_a_fleet_shows_every_target_and_exits_with_the_worst() {
    let env = TestEnv::new();
    let dir = env.path("repo");
    let mut repo = crate::common::RepoBuilder::init(&dir, false);
    repo.write("migrate.yaml", "version: 1\nproject: fleet\ndialects: [sqlite]\n")
        .write("migrations/0001_a.sql", "CREATE TABLE a (id INTEGER);\n")
        .write("assets/query/q.yaml", "spec: {sql: SELECT 1}\n");
    repo.commit("one");
    let bundle = env.path("one.tar");
    env.export(&dir, &bundle, &[]);
    let fleet = env.path("sites/fleet.yaml");
    std::fs::create_dir_all(fleet.parent().unwrap()).unwrap();
    std::fs::write(
        &fleet,
        "version: 1\nwaves:\n  - name: canary\n    targets: [{ name: site-a }]\n  - name: rest\n    targets:\n      - { name: site-b, db_env: SITE_B_URL, labels: { region: eu } }\n      - { name: site-c, folder: elsewhere/c }\n",
    )
    .unwrap();
    // site-a: the embedded database of its default folder, `sites/site-a`; site-b: a database
    // the variable names; site-c: nothing imported yet.
    let import = |folder: &str, db: Option<&str>| {
        let target = env.path(folder);
        let mut args = vec!["import", bundle.to_str().unwrap(), "--target", target.to_str().unwrap()];
        args.extend(db.map(|db| ["--db", db]).into_iter().flatten());
        let out = env.run(env.root.path(), &args);
        assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    };
    import("sites/site-a", None);
    import("sites/site-b", Some("sqlite:other.sqlite3"));
    let status = |args: &[&str], variable: Option<&str>| {
        let mut all = vec!["status", "--fleet", fleet.to_str().unwrap()];
        all.extend_from_slice(args);
        let mut command = env.command(env.root.path(), &all);
        if let Some(url) = variable {
            command.env("SITE_B_URL", url);
        }
        let output = command.output().unwrap();
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
            output.status.code(),
        )
    };
    let (out, err, code) = status(&[], Some("sqlite:other.sqlite3"));
    assert_eq!(code, Some(0), "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with("canary") && lines[0].contains("site-a") && lines[0].contains("1 migrations, no drift"),
        "{out}"
    );
    assert!(lines[1].starts_with("rest") && lines[1].contains("site-b") && lines[1].contains("no drift"), "{out}");
    assert!(lines[2].contains("site-c") && lines[2].contains("not a target yet"), "{out}");
    let (json, _, code) = status(&["--format", "json"], Some("sqlite:other.sqlite3"));
    assert_eq!(code, Some(0));
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let schema = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/status-fleet-output.schema.json");
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(schema).unwrap()).unwrap();
    assert!(jsonschema::validator_for(&schema).unwrap().is_valid(&report), "{json}");
    let rows = &report["targets"];
    let names: Vec<&str> = rows.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["site-a", "site-b", "site-c"]);
    assert_eq!(rows[1]["status"]["database"], "sqlite:other.sqlite3", "{json}");
    assert_eq!(report["exit_code"], 0, "{json}");
    // Drift on site-a: exit 1.
    std::fs::remove_file(env.path("sites/site-a/assets/query/q.yaml")).unwrap();
    let (out, _, code) = status(&[], Some("sqlite:other.sqlite3"));
    assert!(out.contains("1 drift") && code == Some(1), "{out}");
    // site-b's variable unset: that target cannot be named, exit 2, the others still shown.
    let (out, err, code) = status(&[], None);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(out.contains("SITE_B_URL") && out.contains("site-a") && out.contains("site-c"), "{out}");
}
