//! Regressions, each named after its issue: what a real history, a real database or a careless
//! bundle did to `migrate`, and what it does now. Every refusal here has a control that succeeds.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::db::{Server, TestDb};
use crate::common::{RepoBuilder, TestEnv};
use crate::histories::{Db, Dialect, Pattern, import, run_pattern};

/// A repository with `files` committed as the base and `head` on top; returns the full bundle of
/// the base and the incremental bundle of the head.
fn two_bundles(env: &TestEnv, config: &str, base: &[(&str, &str)], head: &[(&str, &str)]) -> (PathBuf, PathBuf) {
    let mut repo = RepoBuilder::init(&env.path("repo.git"), true);
    repo.write("migrate.yaml", config);
    for (path, text) in base {
        repo.write(path, text);
    }
    let first = repo.commit("base");
    for (path, text) in head {
        repo.write(path, text);
    }
    let second = repo.commit("head");
    let (a, b) = (env.path("base.tar"), env.path("head.tar"));
    env.export(&repo.dir, &a, &["--head", &first.to_string()]);
    env.export(&repo.dir, &b, &["--base", &first.to_string(), "--head", &second.to_string()]);
    (a, b)
}

/// A diagnostic on one line: miette wraps long messages at the terminal width.
fn flat(out: &str) -> String {
    out.lines().map(|l| l.trim_start().trim_start_matches(['│', '·']).trim()).collect::<Vec<_>>().join(" ")
}

fn sqlite3(db: &Path, sql: &str) -> String {
    let output = Command::new("sqlite3").arg(db).arg(sql).output().expect("sqlite3 runs");
    assert!(output.status.success(), "{sql}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn script(bundle: &Path, dialect: &str, out: &Path) -> PathBuf {
    let wanted = format!("sql/{dialect}.sql");
    let members = crate::common::members(bundle);
    let (_, text) = members.into_iter().find(|(p, _)| *p == wanted).unwrap();
    std::fs::write(out, text).unwrap();
    out.to_path_buf()
}

const PARENT_CHILD: &str = "CREATE TABLE parent (id INTEGER PRIMARY KEY);\n\
    CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER, FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE);\n";

/// Issue 10, item 1: with foreign-key enforcement off for the apply (SQLite's procedure), a
/// migration that leaves an orphan is caught by `foreign_key_check` before COMMIT: exit 3, the
/// offending table and row named, the target byte for byte as before; the offline script does
/// the same. An orphan that was there before the release is not the release's doing: allowed.
#[test]
fn issue10_sqlite_an_orphan_left_by_a_release_is_refused_and_nothing_changes() {
    let env = TestEnv::new();
    let config = "version: 1\nproject: fk\ndialects: [sqlite]\n";
    let (base, head) = two_bundles(
        &env,
        config,
        &[("migrations/0001_tables.sql", PARENT_CHILD)],
        &[(
            "migrations/0002_delete_parent.sql",
            "DELETE FROM parent WHERE id = 1;\nCREATE TABLE later (id INTEGER);\n",
        )],
    );
    let target = env.path("site");
    let db = Db::Sqlite(target.join("db.sqlite3"));
    assert!(import(&env, &base, &target, &db, &[]).ends_with("[exit status: 0]\n"));
    let file = target.join("db.sqlite3");
    sqlite3(&file, "INSERT INTO parent VALUES (1), (2); INSERT INTO child VALUES (7, 1), (8, 2);");
    let before = (std::fs::read(&file).unwrap(), std::fs::read(target.join(".migrate/state.json")).unwrap());
    let out = import(&env, &head, &target, &db, &[]);
    assert!(
        flat(&out).contains("migrate::foreign_key_violation")
            && flat(&out).contains("`child` rowid 7 (id = 7, parent_id = 1) refers to a row of `parent`")
            && out.ends_with("[exit status: 3]\n"),
        "{out}"
    );
    assert_eq!((std::fs::read(&file).unwrap(), std::fs::read(target.join(".migrate/state.json")).unwrap()), before);

    // The offline script refuses the same release with the plain client, and changes nothing.
    let scripted = env.path("scripted.sqlite3");
    let applied = Command::new("sqlite3")
        .arg(&scripted)
        .stdin(std::fs::File::open(script(&base, "sqlite", &env.path("a.sql"))).unwrap())
        .output()
        .unwrap();
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    sqlite3(&scripted, "INSERT INTO parent VALUES (1), (2); INSERT INTO child VALUES (7, 1), (8, 2);");
    let dump = sqlite3(&scripted, ".dump");
    let refused = Command::new("sqlite3")
        .arg(&scripted)
        .stdin(std::fs::File::open(script(&head, "sqlite", &env.path("b.sql"))).unwrap())
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&refused.stdout), String::from_utf8_lossy(&refused.stderr));
    assert!(
        !refused.status.success()
            && said.contains(
                "foreign key broken: 1 row(s) of child refer to missing rows of parent (0 before the release), rowids 7"
            ),
        "{said}"
    );
    assert_eq!(sqlite3(&scripted, ".dump"), dump);

    // The control: an orphan that was there before (the application ran without enforcement)
    // does not stop a release that leaves every other row whole.
    let env = TestEnv::new();
    let (base, head) = two_bundles(
        &env,
        config,
        &[("migrations/0001_tables.sql", PARENT_CHILD)],
        &[("migrations/0002_more.sql", "DELETE FROM child WHERE id = 8;\nDELETE FROM parent WHERE id = 2;\n")],
    );
    let target = env.path("site");
    let db = Db::Sqlite(target.join("db.sqlite3"));
    assert!(import(&env, &base, &target, &db, &[]).ends_with("[exit status: 0]\n"));
    sqlite3(&target.join("db.sqlite3"), "INSERT INTO parent VALUES (2); INSERT INTO child VALUES (7, 99), (8, 2);");
    let out = import(&env, &head, &target, &db, &[]);
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    assert_eq!(sqlite3(&target.join("db.sqlite3"), "SELECT id, parent_id FROM child"), "7|99\n");
}

/// Issue 10, item 1, found on real histories after the fix: an orphan from before the release
/// survives a rebuild of its table (which renumbers the rows) without being taken for a new one,
/// in a `WITHOUT ROWID` table too, where a new orphan is still caught; a migration outside a
/// transaction that orphans a row is reported (exit 4: it is committed); and a no-transaction
/// `PRAGMA foreign_keys = ON` does not make the offline script's next rebuild cascade.
#[test]
fn issue10_sqlite_foreign_key_checks_count_rows_and_cover_every_migration() {
    let config = "version: 1\nproject: fk\ndialects: [sqlite]\n";
    let both = |base: &[(&str, &str)], head: &[(&str, &str)], rows: &str| {
        let env = TestEnv::new();
        let (base, head) = two_bundles(&env, config, base, head);
        let target = env.path("site");
        let db = Db::Sqlite(target.join("db.sqlite3"));
        assert!(import(&env, &base, &target, &db, &[]).ends_with("[exit status: 0]\n"));
        sqlite3(&target.join("db.sqlite3"), rows);
        let imported = flat(&import(&env, &head, &target, &db, &[]));
        let scripted = env.path("scripted.sqlite3");
        for (n, bundle) in [&base, &head].into_iter().enumerate() {
            let text = script(bundle, "sqlite", &env.path(&format!("{n}.sql")));
            let run =
                Command::new("sqlite3").arg(&scripted).stdin(std::fs::File::open(text).unwrap()).output().unwrap();
            if n == 0 {
                assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
                sqlite3(&scripted, rows);
            } else {
                let said = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
                return (
                    imported,
                    run.status.success(),
                    said,
                    sqlite3(&target.join("db.sqlite3"), "SELECT count(*) FROM child"),
                    sqlite3(&scripted, "SELECT count(*) FROM child"),
                    env,
                );
            }
        }
        unreachable!()
    };
    let tables = "CREATE TABLE parent (id INTEGER PRIMARY KEY);\nCREATE TABLE child (name TEXT NOT NULL, parent_id INTEGER REFERENCES parent (id) ON DELETE CASCADE);\n";
    let rows = "INSERT INTO parent VALUES (1); INSERT INTO child VALUES ('a', 1), ('b', 1), ('orphan', 99); DELETE FROM child WHERE name = 'a';";
    let rebuild = "CREATE TABLE child_new (name TEXT NOT NULL, parent_id INTEGER REFERENCES parent (id) ON DELETE CASCADE, note TEXT);\nINSERT INTO child_new (name, parent_id) SELECT name, parent_id FROM child;\nDROP TABLE child;\nALTER TABLE child_new RENAME TO child;\n";
    let (imported, ok, said, kept, scripted_kept, _env) =
        both(&[("migrations/0001_tables.sql", tables)], &[("migrations/0002_rebuild.sql", rebuild)], rows);
    assert!(imported.ends_with("[exit status: 0]") && ok, "{imported}\n{said}");
    assert_eq!((kept.as_str(), scripted_kept.as_str()), ("2\n", "2\n"));

    let without_rowid = "CREATE TABLE parent (id INTEGER PRIMARY KEY);\nCREATE TABLE child (name TEXT PRIMARY KEY, parent_id INTEGER REFERENCES parent (id)) WITHOUT ROWID;\n";
    let (imported, ok, said, ..) = both(
        &[("migrations/0001_tables.sql", without_rowid)],
        &[("migrations/0002_orphan.sql", "INSERT INTO child VALUES ('new orphan', 77);\n")],
        "INSERT INTO parent VALUES (1); INSERT INTO child VALUES ('old orphan', 99), ('fine', 1);",
    );
    assert!(
        imported.contains("migrate::foreign_key_violation") && imported.ends_with("[exit status: 3]"),
        "{imported}"
    );
    assert!(
        !ok && said
            .contains("foreign key broken: 2 row(s) of child refer to missing rows of parent (1 before the release)"),
        "{said}"
    );

    let (imported, ok, said, ..) = both(
        &[("migrations/0001_tables.sql", tables)],
        &[("migrations/0002_outside.sql", "-- migrate:no-transaction\nDELETE FROM parent WHERE id = 1;\n")],
        "INSERT INTO parent VALUES (1); INSERT INTO child VALUES ('a', 1);",
    );
    assert!(
        imported.contains("migrate::apply_partial")
            && imported.contains("`child` rowid 1 (name = 'a', parent_id = 1)")
            && imported.ends_with("[exit status: 4]"),
        "{imported}"
    );
    assert!(!ok && said.contains("by a migration that ran outside a transaction: it is committed"), "{said}");

    let (imported, ok, said, kept, scripted_kept, _env) = both(
        &[("migrations/0001_tables.sql", tables)],
        &[
            ("migrations/0002_enforce.sql", "-- migrate:no-transaction\nPRAGMA foreign_keys = ON;\n"),
            (
                "migrations/0003_rebuild_parent.sql",
                "CREATE TABLE parent_new (id INTEGER PRIMARY KEY, name TEXT);\nINSERT INTO parent_new (id) SELECT id FROM parent;\nDROP TABLE parent;\nALTER TABLE parent_new RENAME TO parent;\n",
            ),
        ],
        "INSERT INTO parent VALUES (1); INSERT INTO child VALUES ('a', 1), ('b', 1);",
    );
    assert!(imported.ends_with("[exit status: 0]") && ok, "{imported}\n{said}");
    assert_eq!((kept.as_str(), scripted_kept.as_str()), ("2\n", "2\n"), "no cascade either way");
}

/// A `--sqlite-extension` that cannot load is a usage error found before the target is
/// touched (it was reported as a bad URL, after an empty database file was made).
#[test]
fn issue10_a_wrong_sqlite_extension_changes_nothing() {
    let env = TestEnv::new();
    let (base, _) = two_bundles(
        &env,
        "version: 1\nproject: ext\ndialects: [sqlite]\n",
        &[("migrations/0001_a.sql", "CREATE TABLE a (id INTEGER);\n")],
        &[],
    );
    let target = env.path("site");
    let not_a_library = env.path("notes.txt");
    std::fs::write(&not_a_library, "not a library").unwrap();
    for path in [env.path("missing.so"), not_a_library] {
        let out = flat(&env.run(
            env.root.path(),
            &[
                "import",
                base.to_str().unwrap(),
                "--target",
                target.to_str().unwrap(),
                "--sqlite-extension",
                path.to_str().unwrap(),
            ],
        ));
        assert!(out.contains("migrate::sqlite_extension") && out.ends_with("[exit status: 2]"), "{out}");
        assert!(!target.exists(), "the target was touched");
    }
}

/// Issue 10, item 1: a parent renamed before it is dropped (as some histories written for
/// SQLite before 3.26 do) takes its children's references along, to a table that no longer
/// exists: refused, with the `legacy_alter_table` session setting as the way out (which the
/// regression suite's settings pattern proves).
#[test]
fn issue10_sqlite_references_to_a_dropped_table_are_refused_with_the_way_out() {
    let env = TestEnv::new();
    let (base, head) = two_bundles(
        &env,
        "version: 1\nproject: fk\ndialects: [sqlite]\n",
        &[(
            "migrations/0001_tables.sql",
            "CREATE TABLE ciphers (id TEXT PRIMARY KEY);\nCREATE TABLE attachments (id TEXT PRIMARY KEY, cipher_id TEXT REFERENCES ciphers (id));\n",
        )],
        &[(
            "migrations/0002_rename_first.sql",
            "ALTER TABLE ciphers RENAME TO old_ciphers;\nCREATE TABLE ciphers (id TEXT PRIMARY KEY, name TEXT);\nINSERT INTO ciphers (id) SELECT id FROM old_ciphers;\nDROP TABLE old_ciphers;\n",
        )],
    );
    let target = env.path("site");
    let db = Db::Sqlite(target.join("db.sqlite3"));
    assert!(import(&env, &base, &target, &db, &[]).ends_with("[exit status: 0]\n"));
    sqlite3(&target.join("db.sqlite3"), "INSERT INTO ciphers VALUES ('c'); INSERT INTO attachments VALUES ('a', 'c');");
    let out = import(&env, &head, &target, &db, &[]);
    assert!(
        flat(&out).contains("refers to table `old_ciphers`, which does not exist")
            && flat(&out).contains("PRAGMA legacy_alter_table = ON")
            && out.ends_with("[exit status: 3]\n"),
        "{out}"
    );
    assert_eq!(sqlite3(&target.join("db.sqlite3"), "SELECT count(*) FROM attachments"), "1\n");
}

/// Issue 10, item 6: on MySQL/MariaDB every migration runs statement by statement, and the first
/// statement of the release failing used to exit 3 "exactly as before" while it left a `0/N`
/// history row, the history table and a journal, after which even the fixed bundle was refused
/// as uncertain. Now exit 3 leaves nothing behind, and the fixed bundle imports.
#[test]
fn issue10_mariadb_a_failing_first_statement_leaves_nothing_and_the_fix_imports() {
    let env = TestEnv::new();
    let Some(db) = TestDb::create(Server::Mariadb) else { return };
    let mut repo = RepoBuilder::init(&env.path("repo.git"), true);
    repo.write("migrate.yaml", "version: 1\nproject: p\ndialects: [mysql]\n")
        .write("migrations/0001_a.sql", "CREATE TABLE a (id INT REFERENCES missing_table (id) ON DELETE CASCADE, FOREIGN KEY (id) REFERENCES missing_table (id));\nCREATE TABLE b (id INT);\n");
    let broken = repo.commit("broken");
    repo.write("migrations/0001_a.sql", "CREATE TABLE a (id INT);\nCREATE TABLE b (id INT);\n");
    let fixed = repo.commit("fixed");
    let dir = repo.dir.clone();
    let bundle = |commit: &gix::ObjectId, name: &str| {
        let path = env.path(name);
        let out = env.run(&dir, &["export", "--head", &commit.to_string(), "-o", path.to_str().unwrap()]);
        assert!(out.ends_with("[exit status: 0]\n"), "{out}");
        path
    };
    let (broken, fixed) = (bundle(&broken, "broken.tar"), bundle(&fixed, "fixed.tar"));
    let target = env.path("site");
    let server = Db::Server(db);
    let out = import(&env, &broken, &target, &server, &[]);
    assert!(flat(&out).contains("everything was rolled back") && out.ends_with("[exit status: 3]\n"), "{out}");
    let Db::Server(db) = &server else { unreachable!() };
    assert_eq!(db.query("SHOW TABLES"), "", "no history table, no 0/N row, nothing");
    assert!(!target.join(".migrate/journal.json").exists() && !target.join(".migrate/state.json").exists());
    let out = import(&env, &fixed, &target, &server, &[]);
    assert!(out.starts_with("initialise:") && out.ends_with("[exit status: 0]\n"), "{out}");
    assert_eq!(db.query("SELECT version, statements_done, statements_total FROM migrate_history"), "1\t2\t2\n");

    // A later failure, after earlier statements committed, is exit 4 with the truth recorded.
    repo.write("migrations/0002_c.sql", "CREATE TABLE c (id INT);\nINSERT INTO nowhere VALUES (1);\n");
    let third = repo.commit("third");
    let third = bundle(&third, "third.tar");
    let out = import(&env, &third, &target, &server, &[]);
    assert!(
        flat(&out).contains("statement 1 of 2 of migration 2 `0002_c`") && out.ends_with("[exit status: 4]\n"),
        "{out}"
    );
    assert_eq!(
        db.query("SELECT version, statements_done, statements_total FROM migrate_history ORDER BY version"),
        "1\t2\t2\n2\t1\t2\n"
    );
}

/// Issue 10, item 7: a target belongs to one project. An assets-only target of `billing` took a
/// full bundle of `orders`, which deleted and overwrote billing's assets and ran orders'
/// migrations in billing's database; and `env record` took a receipt of another project.
#[test]
fn issue10_a_bundle_or_receipt_of_another_project_is_refused() {
    let env = TestEnv::new();
    let project = |name: &str, asset: &str| {
        let mut repo = RepoBuilder::init(&env.path(&format!("{name}.git")), false);
        repo.write("migrate.yaml", format!("version: 1\nproject: {name}\ndialects: [sqlite]\nenvironments: [prod]\n"))
            .write(&format!("assets/query/{asset}.yaml"), "spec: {sql: SELECT 1}\n");
        if name == "orders" {
            repo.write("migrations/0001_orders.sql", "CREATE TABLE orders (id INTEGER);\n");
        }
        repo.commit("one");
        repo.checkout();
        let bundle = env.path(&format!("{name}.tar"));
        let out = env.run(&repo.dir, &["export", "-o", bundle.to_str().unwrap()]);
        assert!(out.ends_with("[exit status: 0]\n"), "{out}");
        (repo, bundle)
    };
    let (billing_repo, billing) = project("billing", "invoices");
    let (_, orders) = project("orders", "open-orders");
    let target = env.path("site");
    let receipt = env.path("receipt.json");
    let run = |bundle: &Path, extra: &[&str]| {
        let mut args = vec!["import", bundle.to_str().unwrap(), "--target", target.to_str().unwrap()];
        args.extend_from_slice(extra);
        env.run(env.root.path(), &args)
    };
    let out = run(&billing, &["--env", "prod", "--receipt", receipt.to_str().unwrap()]);
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    let files = || {
        let mut found: Vec<(String, Vec<u8>)> = crate::common::walk(&target)
            .into_iter()
            .filter(|p| !p.ends_with("lock"))
            .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
            .collect();
        found.sort();
        found
    };
    let before = files();
    let out = run(&orders, &[]);
    assert!(
        flat(&out).contains("migrate::other_project")
            && flat(&out).contains("the target belongs to project `billing`, and this bundle is of project `orders`")
            && out.ends_with("[exit status: 1]\n"),
        "{out}"
    );
    assert_eq!(files(), before, "nothing changed");

    // `env record` in orders' repository refuses billing's receipt; billing's own takes it.
    let orders_dir = env.path("orders.git");
    let out = env.run(&orders_dir, &["env", "record", receipt.to_str().unwrap()]);
    assert!(flat(&out).contains("migrate::other_project") && out.ends_with("[exit status: 1]\n"), "{out}");
    assert!(!orders_dir.join("environments/prod.json").exists());
    let out = env.run(&billing_repo.dir, &["env", "record", receipt.to_str().unwrap()]);
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
}

/// Issue 10, item 5: a migration that commits or rolls back by itself made import report
/// "rolled back, the target is exactly as before" while tables and history rows were committed
/// (and on SQLite lose an INSERT). `check` and `export` now refuse it, naming the statement.
#[test]
fn issue10_transaction_control_in_a_migration_is_refused_before_anything_ships() {
    let env = TestEnv::new();
    let mut repo = RepoBuilder::init(&env.path("repo.git"), true);
    repo.write("migrate.yaml", "version: 1\nproject: p\ndialects: [sqlite, postgres]\n")
        .write("migrations/0001_a.sql", "CREATE TABLE a (v INTEGER);\nCOMMIT;\nINSERT INTO a VALUES (1);\n");
    repo.commit("one");
    let out = env.run(&repo.dir, &["check"]);
    assert!(
        flat(&out).contains("transaction/control-statement")
            && flat(&out).contains("`COMMIT` in migration `0001_a`")
            && out.ends_with("[exit status: 1]\n"),
        "{out}"
    );
    let bundle = env.path("a.tar");
    let out = env.run(&repo.dir, &["export", "-o", bundle.to_str().unwrap()]);
    assert!(flat(&out).contains("migrate::export_refused") && out.ends_with("[exit status: 1]\n"), "{out}");
    assert!(!bundle.exists());
    // The control: the same migration without the COMMIT ships.
    repo.write("migrations/0001_a.sql", "CREATE TABLE a (v INTEGER);\nINSERT INTO a VALUES (1);\n");
    repo.commit("two");
    let out = env.run(&repo.dir, &["export", "-o", bundle.to_str().unwrap()]);
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
}

/// Issue 10, item 4: a history that calls a function its application registers on its own
/// connections. Without the extension the import names the function and the flag; with
/// `--sqlite-extension` it applies, as the offline script does under `sqlite3 -cmd '.load …'`;
/// and SQL in a migration still cannot load an extension itself.
#[test]
fn issue10_sqlite_functions_the_application_provides_come_from_an_extension() {
    let env = TestEnv::new();
    let extension = build_extension(&env);
    let Some(extension) = extension else { return };
    let extension = extension.display().to_string();
    let (base, head) = two_bundles(
        &env,
        "version: 1\nproject: ext\ndialects: [sqlite]\n",
        &[("migrations/0001_tokens.sql", "CREATE TABLE tokens (raw TEXT NOT NULL, shown TEXT);\n")],
        &[("migrations/0002_show.sql", "UPDATE tokens SET shown = app_reverse(raw);\n")],
    );
    let target = env.path("site");
    let db = Db::Sqlite(target.join("db.sqlite3"));
    assert!(import(&env, &base, &target, &db, &[]).ends_with("[exit status: 0]\n"));
    sqlite3(&target.join("db.sqlite3"), "INSERT INTO tokens (raw) VALUES ('abc');");
    let out = import(&env, &head, &target, &db, &[]);
    assert!(
        flat(&out).contains("migrate::missing_function")
            && flat(&out).contains("no function `app_reverse`")
            && flat(&out).contains("--sqlite-extension")
            && out.ends_with("[exit status: 3]\n"),
        "{out}"
    );
    let out = import(&env, &head, &target, &db, &["--sqlite-extension", &extension]);
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    assert_eq!(sqlite3(&target.join("db.sqlite3"), "SELECT shown FROM tokens"), "cba\n");

    // Both ways, with rows, through the regression suite's runner (the script under
    // `sqlite3 -cmd '.load …'`).
    let pattern = Pattern {
        config: "version: 1\nproject: ext\ndialects: [sqlite]\n",
        base: &[("migrations/0001_tokens.sql", "CREATE TABLE tokens (raw TEXT NOT NULL, shown TEXT);\n")],
        head: &[("migrations/0002_show.sql", "UPDATE tokens SET shown = app_reverse(raw);\n")],
        rows: &|_| "INSERT INTO tokens (raw) VALUES ('abc'), ('xy');".into(),
        counts: &[("tokens", 2)],
    };
    let finished = run_pattern(&pattern, Dialect::Sqlite, &[&extension]).expect("SQLite needs no server");
    for db in [&finished.imported, &finished.scripted] {
        assert_eq!(db.query("SELECT shown FROM tokens ORDER BY raw"), "cba\nyx\n");
    }

    // A migration cannot load one: loading is off again before any statement runs.
    let env = TestEnv::new();
    let (base, _) = two_bundles(
        &env,
        "version: 1\nproject: ext\ndialects: [sqlite]\n",
        &[("migrations/0001_load.sql", &format!("SELECT load_extension('{extension}');\n"))],
        &[],
    );
    let target = env.path("site");
    let out = import(&env, &base, &target, &Db::Sqlite(target.join("db.sqlite3")), &["--sqlite-extension", &extension]);
    assert!(flat(&out).contains("not authorized") && out.ends_with("[exit status: 3]\n"), "{out}");
}

/// Builds a tiny loadable SQLite extension with `cc`: `app_reverse(text)`, as an application
/// might register on its own connections. `None` (said loudly) where no C compiler or no
/// `sqlite3ext.h` is installed, outside CI.
fn build_extension(env: &TestEnv) -> Option<PathBuf> {
    let header = Path::new("/usr/include/sqlite3ext.h");
    let cc = Command::new("cc").arg("--version").output().is_ok_and(|o| o.status.success());
    if !cc || !header.exists() {
        assert!(!std::env::var("CI").is_ok_and(|v| v == "true"), "CI needs cc and libsqlite3-dev");
        #[allow(clippy::print_stderr)] // a skipped test says so
        {
            eprintln!("SKIPPED: building a SQLite extension needs cc and libsqlite3-dev");
        }
        return None;
    }
    let source = env.path("app_reverse.c");
    std::fs::write(
        &source,
        r#"#include <sqlite3ext.h>
#include <stdlib.h>
#include <string.h>
SQLITE_EXTENSION_INIT1

static void app_reverse(sqlite3_context *context, int argc, sqlite3_value **argv) {
  const unsigned char *text = sqlite3_value_text(argv[0]);
  if (text == 0) { sqlite3_result_null(context); return; }
  int n = (int)strlen((const char *)text);
  char *out = sqlite3_malloc(n + 1);
  for (int i = 0; i < n; i++) out[i] = (char)text[n - 1 - i];
  out[n] = 0;
  sqlite3_result_text(context, out, n, sqlite3_free);
}

int sqlite3_extension_init(sqlite3 *db, char **error, const sqlite3_api_routines *api) {
  SQLITE_EXTENSION_INIT2(api);
  return sqlite3_create_function(db, "app_reverse", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, 0, app_reverse, 0, 0);
}
"#,
    )
    .unwrap();
    let library = env.path("app_reverse.so");
    let built = Command::new("cc").args(["-shared", "-fPIC", "-O2", "-o"]).arg(&library).arg(&source).output().unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    Some(library)
}

/// Issue 10, item 3: session statements travel in the manifest with their hash, are part of the
/// release id, and `plan`, `inspect` and `import --dry-run` show them; `verify` catches an edit.
#[test]
fn issue10_session_statements_travel_show_and_are_checked() {
    let env = TestEnv::new();
    let mut repo = RepoBuilder::init(&env.path("repo.git"), true);
    repo.write("migrate.yaml", "version: 1\nproject: s\ndialects: [sqlite, postgres]\n")
        .write("migrations/0001_a.sql", "CREATE TABLE a (id INTEGER);\n");
    let first = repo.commit("one");
    repo.write(
        "migrate.yaml",
        "version: 1\nproject: s\ndialects: [sqlite, postgres]\nsession:\n  postgres: [\"SET lock_timeout = '5s';\"]\n  sqlite: [\"PRAGMA legacy_alter_table = ON\"]\n",
    );
    let second = repo.commit("two");
    let (first, second) = (first.to_string(), second.to_string());

    let out = env.run(&repo.dir, &["plan", "--base", &first, "--head", &second]);
    assert!(out.contains("release: migration (SQL runs), needs a minor version bump"), "{out}");
    assert!(
        out.contains("session (run first by every import session):") && out.contains("+SET lock_timeout = '5s';"),
        "{out}"
    );
    let json = env.run(&repo.dir, &["plan", "--base", &first, "--head", &second, "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(json.split("----- stderr -----").next().unwrap()).unwrap();
    assert_eq!(json["session"][1]["after"], serde_json::json!(["SET lock_timeout = '5s'"]), "{json:#}");

    let bundle = |head: &str, name: &str| {
        let path = env.path(name);
        let out = env.run(&repo.dir, &["export", "--head", head, "-o", path.to_str().unwrap()]);
        assert!(out.ends_with("[exit status: 0]\n"), "{out}");
        path
    };
    let (without, with) = (bundle(&first, "one.tar"), bundle(&second, "two.tar"));
    let manifest = |path: &Path| -> serde_json::Value {
        let members = crate::common::members(path);
        serde_json::from_slice(&members.into_iter().find(|(p, _)| p == "manifest.json").unwrap().1).unwrap()
    };
    let (m1, m2) = (manifest(&without), manifest(&with));
    assert_ne!(m1["release"]["id"], m2["release"]["id"], "the session is part of the release id");
    let expected_sha = migrate::core::hash::ContentHash::of(b"SET lock_timeout = '5s'\n").to_string();
    assert_eq!(m2["session"]["postgres"]["sha256"], serde_json::json!(expected_sha));
    let inspect = env.run(env.root.path(), &["inspect", with.to_str().unwrap()]);
    assert!(
        inspect.contains("session (postgres, run first by every import): sha256:")
            && inspect.contains("  PRAGMA legacy_alter_table = ON;"),
        "{inspect}"
    );
    let script = script(&with, "postgres", &env.path("pg.sql"));
    let script = std::fs::read_to_string(script).unwrap();
    let (session_at, guard_at) = (script.find("SET lock_timeout = '5s';").unwrap(), script.find("-- guard").unwrap());
    assert!(session_at < guard_at, "the session runs before the guard");
    let target = env.path("site");
    let dry = env
        .run(env.root.path(), &["import", with.to_str().unwrap(), "--target", target.to_str().unwrap(), "--dry-run"]);
    assert!(dry.contains("-- session: run first\nPRAGMA legacy_alter_table = ON;"), "{dry}");

    // An edited statement no longer matches its hash: refused before anything else.
    let mut members = crate::common::members(&with);
    let manifest_at = members.iter().position(|(p, _)| p == "manifest.json").unwrap();
    let edited = String::from_utf8(members[manifest_at].1.clone()).unwrap().replace("'5s'", "'0'");
    members[manifest_at].1 = edited.into_bytes();
    let first_member = members.remove(manifest_at);
    let tampered = env.path("tampered.tar");
    let rest: Vec<(&str, &[u8])> = members.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    migrate::archive::write(
        &tampered,
        migrate::archive::Members {
            first: vec![(first_member.0.as_str(), first_member.1)],
            rest: &rest,
            generated: &[],
        },
        0,
        &mut |_| {},
    )
    .unwrap();
    let out = env.run(env.root.path(), &["verify", tampered.to_str().unwrap()]);
    assert!(flat(&out).contains("migrate::session_hash") && out.ends_with("[exit status: 1]\n"), "{out}");
}

/// Issue 10, item 10: database failures before anything changes each say what is wrong, with
/// their own code, help and exit: busy (5), unreachable (5), credentials refused (1), a URL or
/// TLS option that cannot work (2).
#[test]
fn issue10_database_errors_each_say_what_is_wrong() {
    let env = TestEnv::new();
    let mut repo = RepoBuilder::init(&env.path("repo.git"), true);
    repo.write("migrate.yaml", "version: 1\nproject: e\ndialects: [postgres, mysql]\n")
        .write("migrations/0001_a.sql", "CREATE TABLE a (id INTEGER);\n");
    repo.commit("one");
    let bundle = env.path("a.tar");
    let out = env.run(&repo.dir, &["export", "-o", bundle.to_str().unwrap()]);
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    let run = |name: &str, url: &str| {
        let target = env.path(name);
        flat(&env.run(
            env.root.path(),
            &[
                "import",
                bundle.to_str().unwrap(),
                "--target",
                target.to_str().unwrap(),
                "--db",
                url,
                "--lock-timeout",
                "1",
            ],
        ))
    };
    let out = run("closed", "postgres://postgres@127.0.0.1:1/nothing");
    assert!(out.contains("migrate::database_unreachable") && out.ends_with("[exit status: 5]"), "{out}");
    let out = run("tls", "postgres://postgres@127.0.0.1:5432/test?sslmode=verify-full");
    assert!(out.contains("migrate::database_url") && out.ends_with("[exit status: 2]"), "{out}");
    let Some(pg) = TestDb::create(Server::Postgres) else { return };
    let out = run("role", &format!("postgres://no_such_role_here@127.0.0.1:5432/{}", pg.name));
    assert!(out.contains("migrate::database_permission_denied") && out.ends_with("[exit status: 1]"), "{out}");
    let Some(my) = TestDb::create(Server::Mariadb) else { return };
    let out = run("denied", &format!("mysql://no_such_user:x@127.0.0.1:3306/{}", my.name));
    assert!(
        out.contains("migrate::database_permission_denied")
            && !out.contains(":x@")
            && out.ends_with("[exit status: 1]"),
        "{out}"
    );
    // Another session holds the database's lock: busy, nothing changed; the control imports.
    let holder = Command::new("mariadb")
        .args([
            "-h",
            "127.0.0.1",
            "-u",
            "root",
            &my.name,
            "-e",
            &format!("SELECT GET_LOCK('migrate:{}.migrate_history', 10); SELECT SLEEP(4);", my.name),
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let url = format!("mysql://root@127.0.0.1:3306/{}", my.name);
    let out = run("busy", &url);
    assert!(out.contains("migrate::database_busy") && out.ends_with("[exit status: 5]"), "{out}");
    assert_eq!(my.query("SHOW TABLES"), "", "nothing was created");
    holder.wait_with_output().unwrap();
    let out = run("busy", &url);
    assert!(out.ends_with("[exit status: 0]"), "{out}");
}
