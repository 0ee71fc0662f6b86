//! `import --fleet` (issue 13, items 3, 5, 6 and 7): one release to twenty tenants on each
//! layout — a PostgreSQL schema, a PostgreSQL database, a MariaDB database, a SQLite file — wave
//! by wave, with data in their tables; failure budgets that stop the rollout; `--resume` after
//! `kill -9`; shares of a fleet (`--shard`) whose receipts merge into one record.

use std::path::{Path, PathBuf};

use crate::common::db::{Server, TestDb};
use crate::common::{RepoBuilder, TestEnv};

const TENANTS: usize = 20;

/// The fleet's project: `common::two_releases` with an asset.
fn two_releases(env: &TestEnv) -> (PathBuf, PathBuf, PathBuf) {
    crate::common::two_releases(env, "fleet", true)
}

/// One tenant: its name, its database URL (`None`: its folder's embedded SQLite database), and
/// how to run a query on it.
struct Tenant<'a> {
    name: String,
    db: Option<String>,
    query: Box<dyn Fn(&str) -> String + 'a>,
}

/// A fleet file: the first tenant is the canary wave, the rest a wave of `parallel`.
fn fleet_file(path: &Path, tenants: &[Tenant], parallel: u32, max_failures: &str) {
    let line = |t: &Tenant| match &t.db {
        Some(url) => format!("      - {{ name: {}, db: \"{url}\" }}\n", t.name),
        None => format!("      - {{ name: {} }}\n", t.name),
    };
    let mut text = format!("version: 1\nwaves:\n  - name: canary\n    targets:\n{}", line(&tenants[0]));
    text += &format!("  - name: rest\n    parallel: {parallel}\n    max_failures: {max_failures}\n    targets:\n");
    for tenant in &tenants[1..] {
        text += &line(tenant);
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Runs `migrate` with `args` and returns (stdout, stderr, exit code).
fn run(env: &TestEnv, args: &[&str]) -> (String, String, Option<i32>) {
    let output = env.command(env.root.path(), args).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (text(&output.stdout), text(&output.stderr), output.status.code())
}

/// `import BUNDLE --fleet FLEET --env prod --format json` with `extra`; returns the summary
/// and the exit code.
fn fleet_import(env: &TestEnv, bundle: &Path, fleet: &Path, extra: &[&str]) -> (serde_json::Value, Option<i32>) {
    let receipts = env.path("receipts");
    let mut args = vec![
        "import",
        bundle.to_str().unwrap(),
        "--fleet",
        fleet.to_str().unwrap(),
        "--env",
        "prod",
        "--receipts",
        receipts.to_str().unwrap(),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let (out, err, code) = run(env, &args);
    let summary = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    (summary, code)
}

/// Every target of a summary as (name, result, decision).
fn results(summary: &serde_json::Value) -> Vec<(String, String, String)> {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    summary["waves"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["targets"].as_array().unwrap())
        .map(|t| (text(&t["name"]), text(&t["result"]), text(&t["decision"])))
        .collect()
}

/// Release v1 to every tenant, tenant data added, then v2, as a fleet: canary first, the rest
/// eight at a time. Every tenant converges, keeps its rows, and gets its receipt; `status
/// --fleet` agrees; the receipts make one environment record of twenty targets.
fn roll_out(env: &TestEnv, tenants: &[Tenant]) {
    assert_eq!(tenants.len(), TENANTS);
    let (repo, v1, v2) = two_releases(env);
    let fleet = env.path("fleet/fleet.yaml");
    fleet_file(&fleet, tenants, 8, "0");
    let (first, code) = fleet_import(env, &v1, &fleet, &[]);
    assert_eq!(code, Some(0), "{first:#}");
    assert_eq!(first["converged"], true);
    let canary = &first["waves"][0]["targets"][0];
    assert_eq!(
        (canary["name"].as_str(), canary["decision"].as_str()),
        (Some(tenants[0].name.as_str()), Some("initialise"))
    );
    assert!(results(&first).iter().all(|(_, result, decision)| result == "converged" && decision == "initialise"));
    for (i, tenant) in tenants.iter().enumerate() {
        (tenant.query)(&format!("INSERT INTO accounts (id, name) VALUES ({}, 'own')", 100 + i));
    }
    let (second, code) = fleet_import(env, &v2, &fleet, &[]);
    assert_eq!(code, Some(0), "{second:#}");
    let decisions = results(&second);
    assert_eq!(decisions.len(), TENANTS);
    assert!(
        decisions.iter().all(|(_, result, decision)| result == "converged" && decision == "upgrade"),
        "{decisions:?}"
    );
    for (i, tenant) in tenants.iter().enumerate() {
        let rows = (tenant.query)("SELECT count(*), sum(balance) FROM accounts");
        let expected = format!("3\t{}", 10 + 20 + (100 + i) * 10);
        assert_eq!(rows.trim().replace('|', "\t"), expected, "{}: its rows and their new balance", tenant.name);
        let history = (tenant.query)("SELECT count(*) FROM migrate_history");
        assert_eq!(history.trim(), "2", "{}", tenant.name);
    }
    // Nothing to do the third time; every receipt shows v2.
    let (third, code) = fleet_import(env, &v2, &fleet, &[]);
    assert_eq!(code, Some(0), "{third:#}");
    assert!(results(&third).iter().all(|(_, _, decision)| decision == "nothing_to_do"));
    let receipts: Vec<PathBuf> =
        (0..TENANTS).map(|i| env.path(&format!("receipts/{}.json", tenants[i].name))).collect();
    for receipt in &receipts {
        let value: serde_json::Value = serde_json::from_slice(&std::fs::read(receipt).unwrap()).unwrap();
        assert_eq!(value["release"]["id"], second["release"], "{}", receipt.display());
    }
    let (out, err, code) = run(env, &["status", "--fleet", fleet.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    let mut args = vec!["env", "record"];
    args.extend(receipts.iter().map(|r| r.to_str().unwrap()));
    let recorded = env.run(&repo, &args);
    assert!(recorded.ends_with("[exit status: 0]\n"), "{recorded}");
    let shown = env.stdout(&repo, &["env", "show", "prod", "--format", "json"], 0);
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["targets"].as_array().map(Vec::len), Some(TENANTS), "{shown:#}");
}

/// A query on a SQLite file, as tab-separated text.
fn sqlite_query(path: &Path, sql: &str) -> String {
    let db = rusqlite::Connection::open(path).unwrap();
    let mut statement = db.prepare(sql).unwrap();
    let columns = statement.column_count();
    let rows = statement
        .query_map([], |row| {
            Ok((0..columns)
                .map(|i| row.get::<_, i64>(i).map(|v| v.to_string()).unwrap_or_default())
                .collect::<Vec<_>>())
        })
        .unwrap();
    rows.map(|r| r.unwrap().join("\t") + "\n").collect()
}

#[test]
fn a_fleet_of_sqlite_files_converges_wave_by_wave() {
    let env = TestEnv::new();
    let tenants: Vec<Tenant> = (0..TENANTS)
        .map(|i| {
            let name = format!("site-{i:02}");
            let file = env.path(&format!("fleet/{name}/db.sqlite3"));
            Tenant { name, db: None, query: Box::new(move |sql: &str| sqlite_query(&file, sql)) }
        })
        .collect();
    roll_out(&env, &tenants);
}

/// Twenty tenants that are schemas of one PostgreSQL database.
fn schema_tenants(pg: &TestDb) -> Vec<Tenant<'_>> {
    (0..TENANTS)
        .map(|i| {
            let schema = format!("tenant_{i:02}");
            pg.query(&format!("CREATE SCHEMA {schema}"));
            let db = format!("postgres://postgres@127.0.0.1:5432/{}?options=-csearch_path%3D{schema}", pg.name);
            let query = move |sql: &str| pg.query(&format!("SET search_path TO {schema}; {sql}"));
            Tenant { name: format!("tenant-{i:02}"), db: Some(db), query: Box::new(query) }
        })
        .collect()
}

/// Twenty databases of one server, or `None` when it cannot be reached outside CI.
fn databases(server: Server) -> Option<Vec<TestDb>> {
    let databases: Vec<TestDb> = (0..TENANTS).map_while(|_| TestDb::create(server)).collect();
    (databases.len() == TENANTS).then_some(databases)
}

/// A tenant per database, at `server` (a URL without the database).
fn database_tenants<'a>(databases: &'a [TestDb], server: &str) -> Vec<Tenant<'a>> {
    databases
        .iter()
        .enumerate()
        .map(|(i, db)| Tenant {
            name: format!("tenant-{i:02}"),
            db: Some(format!("{server}/{}", db.name)),
            query: Box::new(move |sql: &str| db.query(sql)),
        })
        .collect()
}

#[test]
fn a_fleet_of_postgres_schemas_converges_wave_by_wave() {
    let env = TestEnv::new();
    let Some(pg) = TestDb::create(Server::Postgres) else { return };
    let tenants = schema_tenants(&pg);
    roll_out(&env, &tenants);
}

/// Tenants that are schemas of one database share a server session within a worker (a new one
/// costs the server a process), and nothing one tenant's migration leaves on the session reaches
/// the next: each sees its own search path, no setting, temporary table or advisory lock of
/// another, while the marks show that the session was the same.
#[test]
fn schema_tenants_share_a_session_and_nothing_of_one_reaches_the_next() {
    let env = TestEnv::new();
    let Some(pg) = TestDb::create(Server::Postgres) else { return };
    let tenants = schema_tenants(&pg);
    let dir = env.path("repo");
    let mut repo = RepoBuilder::init(&dir, false);
    repo.write("migrate.yaml", "version: 1\nproject: fleet\ndialects: [postgres]\n").write(
        "migrations/0001_marks.sql",
        "CREATE TABLE marks (path TEXT, leak TEXT, temp_free BOOLEAN, advisory BIGINT, backend INTEGER);
INSERT INTO marks SELECT current_setting('search_path'), current_setting('migrate_test.leak', true),
  NOT EXISTS (SELECT 1 FROM pg_class WHERE relname = 'leftover' AND relpersistence = 't'),
  (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()), pg_backend_pid();
CREATE TEMP TABLE leftover (id INTEGER);
SET migrate_test.leak = 'from another tenant';
SET lock_timeout = '1ms';
",
    );
    repo.commit("marks");
    let bundle = env.path("marks.tar");
    env.export(&dir, &bundle, &[]);
    let fleet = env.path("fleet/fleet.yaml");
    fleet_file(&fleet, &tenants, 1, "0");
    let (summary, code) = fleet_import(&env, &bundle, &fleet, &[]);
    assert_eq!(code, Some(0), "{summary:#}");
    let mut backends = std::collections::BTreeSet::new();
    for (i, tenant) in tenants.iter().enumerate() {
        let marks = (tenant.query)("SELECT path, coalesce(leak, '<none>'), temp_free, advisory, backend FROM marks");
        let fields: Vec<&str> = marks.trim_end().split('\t').collect();
        // A setting never made reads as NULL; one reset by `DISCARD ALL` as empty.
        let leak = if fields[1] == "<none>" { "" } else { fields[1] };
        assert_eq!(
            [fields[0], leak, fields[2], fields[3]],
            [format!("tenant_{i:02}").as_str(), "", "t", "1"],
            "{}: {marks}",
            tenant.name
        );
        backends.insert(fields[4].to_string());
    }
    // One session for the canary's wave, one for the rest (one worker each).
    assert_eq!(backends.len(), 2, "{backends:?}");
}

#[test]
fn a_fleet_of_postgres_databases_converges_wave_by_wave() {
    let env = TestEnv::new();
    let Some(databases) = databases(Server::Postgres) else { return };
    roll_out(&env, &database_tenants(&databases, "postgres://postgres@127.0.0.1:5432"));
}

#[test]
fn a_fleet_of_mariadb_databases_converges_wave_by_wave() {
    let env = TestEnv::new();
    let Some(databases) = databases(Server::Mariadb) else { return };
    roll_out(&env, &database_tenants(&databases, "mysql://root@127.0.0.1:3306"));
}

/// SQLite sites of which some are broken: their database holds a table of its own and no
/// history, so their import refuses (exit 1) and changes nothing.
fn sites(env: &TestEnv, broken: &[usize]) -> Vec<Tenant<'static>> {
    (0..TENANTS)
        .map(|i| {
            let name = format!("site-{i:02}");
            let file = env.path(&format!("fleet/{name}/db.sqlite3"));
            if broken.contains(&i) {
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                rusqlite::Connection::open(&file).unwrap().execute_batch("CREATE TABLE theirs (id INTEGER)").unwrap();
            }
            Tenant { name, db: None, query: Box::new(move |sql: &str| sqlite_query(&file, sql)) }
        })
        .collect()
}

fn count(summary: &serde_json::Value, result: &str) -> usize {
    results(summary).iter().filter(|(_, r, _)| r == result).count()
}

/// A canary that fails stops the rollout before the next wave: nothing of the rest is touched,
/// and the run exits with the canary's code. The control: a budget of one failure lets the rest
/// go on; the run still exits 1, for not every target converged. Then `--resume` after the fix
/// imports the canary alone and skips the nineteen whose receipts show the release.
#[test]
fn a_failing_canary_stops_the_rollout_and_resume_retries_only_what_failed() {
    let env = TestEnv::new();
    let (_, v1, _) = two_releases(&env);
    let tenants = sites(&env, &[0]);
    let fleet = env.path("fleet/fleet.yaml");
    fleet_file(&fleet, &tenants, 4, "0");
    let (summary, code) = fleet_import(&env, &v1, &fleet, &[]);
    assert_eq!(code, Some(1), "{summary:#}");
    assert_eq!(summary["stopped_at"], "canary");
    assert_eq!((count(&summary, "failed"), count(&summary, "not_run")), (1, TENANTS - 1), "{summary:#}");
    assert_eq!(summary["waves"][0]["targets"][0]["error"]["code"], "migrate::database_not_empty", "{summary:#}");
    for tenant in &tenants[1..] {
        assert!(!env.path(&format!("fleet/{}", tenant.name)).exists(), "{} was not touched", tenant.name);
    }

    let (summary, code) = fleet_import(&env, &v1, &fleet, &["--max-failures", "1"]);
    assert_eq!(code, Some(1), "{summary:#}");
    assert!(summary.get("stopped_at").is_none(), "{summary:#}");
    assert_eq!((count(&summary, "failed"), count(&summary, "converged")), (1, TENANTS - 1), "{summary:#}");

    std::fs::remove_file(env.path("fleet/site-00/db.sqlite3")).unwrap();
    let (summary, code) = fleet_import(&env, &v1, &fleet, &["--resume"]);
    assert_eq!(code, Some(0), "{summary:#}");
    assert_eq!((count(&summary, "converged"), count(&summary, "skipped")), (1, TENANTS - 1), "{summary:#}");
    assert_eq!(summary["waves"][0]["targets"][0]["decision"], "initialise");
    for tenant in &tenants {
        assert_eq!((tenant.query)("SELECT count(*) FROM accounts").trim(), "2", "{}", tenant.name);
    }
}

/// Within a wave, the rollout stops starting targets once its failures go over the budget: one
/// at a time, with three broken sites first and a budget of two, the third failure stops it,
/// and the sixteen after it are not run. A target whose database cannot be
/// reached fails with exit 5 (retrying may help), apart from a refusal.
#[test]
fn a_wave_over_its_budget_stops_starting_targets() {
    let env = TestEnv::new();
    let (_, v1, _) = two_releases(&env);
    let mut tenants = sites(&env, &[1, 2, 3]);
    let fleet = env.path("fleet/fleet.yaml");
    fleet_file(&fleet, &tenants, 1, "2");
    let (summary, code) = fleet_import(&env, &v1, &fleet, &[]);
    assert_eq!(code, Some(1), "{summary:#}");
    assert_eq!(summary["stopped_at"], "rest");
    let rest = &summary["waves"][1];
    assert_eq!((rest["failed"].as_u64(), rest["within_budget"].as_bool()), (Some(3), Some(false)), "{summary:#}");
    assert_eq!(count(&summary, "not_run"), TENANTS - 4, "{summary:#}");
    assert_eq!(count(&summary, "converged"), 1, "the canary");

    // The control: an unreachable database is exit 5, and within a budget of 10% (one of the
    // wave's nineteen) the wave goes on.
    tenants = sites(&env, &[]);
    tenants[5].db = Some("postgres://nobody@127.0.0.1:1/none".into());
    for broken in [1, 2, 3] {
        std::fs::remove_file(env.path(&format!("fleet/site-{broken:02}/db.sqlite3"))).unwrap();
    }
    fleet_file(&fleet, &tenants, 3, "10%");
    let (summary, code) = fleet_import(&env, &v1, &fleet, &[]);
    assert_eq!(code, Some(5), "{summary:#}");
    assert_eq!((count(&summary, "failed"), count(&summary, "converged")), (1, TENANTS - 1), "{summary:#}");
    let failed = summary["waves"][1]["targets"].as_array().unwrap().iter().find(|t| t["result"] == "failed").cloned();
    assert_eq!(failed.as_ref().map(|t| (&t["name"], &t["exit_code"])), Some((&"site-05".into(), &5.into())));
}

/// On MariaDB, whose DDL commits by itself, a tenant whose migration fails at its second
/// statement keeps the first (exit 4): the fleet's summary says so for that tenant — its exit
/// code, the partial migration in its receipt — and the run exits 4, the most severe; the
/// others converge. `--resume` runs that tenant alone: with the same bundle it fails again and
/// changes nothing (exit 3); once the cause is fixed it resumes after the statement that ran.
#[test]
fn a_tenant_left_partial_makes_the_fleet_exit_4_and_resume_finishes_it() {
    let env = TestEnv::new();
    let databases: Vec<TestDb> = (0..3).map_while(|_| TestDb::create(Server::Mariadb)).collect();
    if databases.len() < 3 {
        return;
    }
    let tenants = database_tenants(&databases, "mysql://root@127.0.0.1:3306");
    let dir = env.path("repo");
    let mut repo = RepoBuilder::init(&dir, false);
    let release = |repo: &mut RepoBuilder, second: Option<&str>, name: &str| -> PathBuf {
        repo.write("migrate.yaml", "version: 1\nproject: fleet\ndialects: [mysql]\n")
            .write("migrations/0001_base.sql", "CREATE TABLE base (id INTEGER);\n");
        if let Some(second) = second {
            repo.write("migrations/0002_audit.sql", format!("CREATE TABLE audit (id INTEGER);\n{second}\n"));
        }
        repo.commit(name);
        let bundle = env.path(&format!("{name}.tar"));
        env.export(&dir, &bundle, &[]);
        bundle
    };
    let first = release(&mut repo, None, "first");
    let fleet = env.path("fleet/fleet.yaml");
    fleet_file(&fleet, &tenants, 2, "1");
    let (summary, code) = fleet_import(&env, &first, &fleet, &[]);
    assert_eq!(code, Some(0), "{summary:#}");
    let broken = release(&mut repo, Some("INSERT INTO audit SELECT id FROM marker;"), "broken");
    // Two tenants have the table the second statement reads; tenant-01 has not.
    for tenant in [&tenants[0], &tenants[2]] {
        (tenant.query)("CREATE TABLE marker (id INTEGER); INSERT INTO marker VALUES (7)");
    }
    let (summary, code) = fleet_import(&env, &broken, &fleet, &[]);
    assert_eq!(code, Some(4), "{summary:#}");
    assert_eq!(summary["exit_code"], 4);
    let failed: Vec<_> =
        summary["waves"][1]["targets"].as_array().unwrap().iter().filter(|t| t["result"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{summary:#}");
    assert_eq!((&failed[0]["name"], &failed[0]["exit_code"]), (&"tenant-01".into(), &4.into()));
    assert_eq!(failed[0]["error"]["code"], "migrate::apply_partial");
    assert_eq!(count(&summary, "converged"), 2, "{summary:#}");
    let receipt: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.path("receipts/tenant-01.json")).unwrap()).unwrap();
    assert_eq!(receipt["migrations"]["mysql"][1]["status"], "partial", "{receipt:#}");
    let progress = "SELECT statements_done, statements_total FROM migrate_history WHERE version = '2'";
    assert_eq!((tenants[1].query)(progress), "1\t2\n");
    let text = run(
        &env,
        &[
            "import",
            broken.to_str().unwrap(),
            "--fleet",
            fleet.to_str().unwrap(),
            "--env",
            "prod",
            "--receipts",
            env.path("receipts").to_str().unwrap(),
            "--resume",
        ],
    );
    // Resumed with the same bundle, it fails again at the same statement, and this run changed
    // nothing: exit 3, the others skipped.
    assert_eq!(text.2, Some(3), "{}{}", text.0, text.1);
    assert!(text.0.contains("tenant-01  FAILED, exit 3") && text.0.contains("2 skipped"), "{}", text.0);
    assert_eq!((tenants[1].query)(progress), "1\t2\n");

    // The cause fixed on the tenant (a migration that completed elsewhere cannot change), the
    // same bundle resumes after the statement that ran.
    (tenants[1].query)("CREATE TABLE marker (id INTEGER); INSERT INTO marker VALUES (7)");
    let (summary, code) = fleet_import(&env, &broken, &fleet, &["--resume"]);
    assert_eq!(code, Some(0), "{summary:#}");
    assert_eq!((count(&summary, "converged"), count(&summary, "skipped")), (1, 2), "{summary:#}");
    for (i, tenant) in tenants.iter().enumerate() {
        assert_eq!((tenant.query)("SELECT id FROM audit"), "7\n", "tenant {i}");
        assert_eq!((tenant.query)(progress), "2\t2\n", "tenant {i}");
    }
}

/// `--shard I/N` for I in 0..3 runs each target exactly once across the three shares, and the
/// three shares' receipts merge into one environment record, in any order.
#[test]
fn shares_of_a_fleet_run_every_target_once_and_their_receipts_merge() {
    let env = TestEnv::new();
    let (repo, v1, _) = two_releases(&env);
    let tenants = sites(&env, &[]);
    let fleet = env.path("fleet/fleet.yaml");
    fleet_file(&fleet, &tenants, 2, "0");
    let mut seen = Vec::new();
    for shard in ["2/3", "0/3", "1/3"] {
        let (summary, code) = fleet_import(&env, &v1, &fleet, &["--shard", shard]);
        assert_eq!((code, summary["shard"].as_str()), (Some(0), Some(shard)), "{summary:#}");
        let share: Vec<String> = results(&summary)
            .into_iter()
            .map(|(name, result, _)| {
                assert_eq!(result, "converged", "{name}");
                name
            })
            .collect();
        assert!(share.len() < TENANTS, "a share holds part of the fleet: {share:?}");
        seen.extend(share);
    }
    seen.sort();
    let all: Vec<String> = tenants.iter().map(|t| t.name.clone()).collect();
    assert_eq!(seen, all, "every target once");
    let mut receipts: Vec<String> =
        all.iter().map(|name| env.path(&format!("receipts/{name}.json")).to_str().unwrap().to_string()).collect();
    receipts.reverse();
    let mut args = vec!["env", "record"];
    args.extend(receipts.iter().map(String::as_str));
    let recorded = env.run(&repo, &args);
    assert!(recorded.ends_with("[exit status: 0]\n"), "{recorded}");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo.join("environments/prod.json")).unwrap()).unwrap();
    assert_eq!(record["targets"].as_object().map(|t| t.len()), Some(TENANTS), "{record:#}");
}

/// A fleet run killed with `kill -9` while tenants are in the middle of their migration, then
/// resumed: every tenant ends with each statement run exactly once (two rows, not three or
/// four) and its history complete; the targets whose receipts show the release are skipped, not
/// connected to.
#[test]
fn a_fleet_run_killed_with_kill_9_and_resumed_applies_nothing_twice() {
    let env = TestEnv::new();
    let Some(pg) = TestDb::create(Server::Postgres) else { return };
    let dir = env.path("repo");
    let mut repo = RepoBuilder::init(&dir, false);
    repo.write("migrate.yaml", "version: 1\nproject: fleet\ndialects: [postgres]\nenvironments: [prod]\n").write(
        "migrations/0001_slow.sql",
        "CREATE TABLE t (id INT);\nINSERT INTO t VALUES (1);\nSELECT pg_sleep(0.3);\nINSERT INTO t VALUES (2);\n",
    );
    repo.commit("slow");
    let bundle = env.path("slow.tar");
    env.export(&dir, &bundle, &[]);
    let tenants = schema_tenants(&pg);
    let fleet = env.path("fleet/fleet.yaml");
    fleet_file(&fleet, &tenants, 3, "0");
    let receipts = env.path("receipts");
    let args = [
        "import",
        bundle.to_str().unwrap(),
        "--fleet",
        fleet.to_str().unwrap(),
        "--env",
        "prod",
        "--receipts",
        receipts.to_str().unwrap(),
    ];
    let mut child = env.command(env.root.path(), &args).spawn().unwrap();
    let started = std::time::Instant::now();
    let written = || std::fs::read_dir(&receipts).map_or(0, |d| d.count());
    while written() < 4 {
        assert!(started.elapsed().as_secs() < 60, "the fleet run wrote no receipts");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Killed while three tenants are in their migration (it sleeps 0.3 s of each import).
    std::thread::sleep(std::time::Duration::from_millis(150));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let done = written();
    assert!(done < TENANTS, "killed before the end: {done} receipts");

    let (summary, code) = fleet_import(&env, &bundle, &fleet, &["--resume"]);
    assert_eq!(code, Some(0), "{summary:#}");
    assert_eq!(count(&summary, "skipped"), done, "{summary:#}");
    assert_eq!(count(&summary, "converged"), TENANTS - done, "{summary:#}");
    for tenant in &tenants {
        assert_eq!((tenant.query)("SELECT count(*), sum(id) FROM t").trim(), "2\t3", "{}", tenant.name);
        let history = (tenant.query)("SELECT statements_done, statements_total FROM migrate_history");
        assert_eq!(history.trim(), "4\t4", "{}", tenant.name);
    }
}
