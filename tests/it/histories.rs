//! The patterns real migration histories use (issue 10, item 9), written for these tests: each
//! project runs through `migrate import` and through the bundle's offline script with the plain
//! client (`sqlite3`, `psql`, `mariadb`) against the real servers, with rows put in between the
//! base and the head; the schemas, histories and row counts must come out the same.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::db::{Server, TestDb};
use crate::common::{RepoBuilder, TestEnv};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
}

impl Dialect {
    fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
        }
    }
}

const ALL: [Dialect; 3] = [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql];

/// A database of one dialect: a SQLite file, or a database on the machine's server.
pub enum Db {
    Sqlite(PathBuf),
    Server(TestDb),
}

impl Db {
    /// A fresh, empty database; `None` when the server is unreachable outside CI (said loudly).
    pub fn create(dialect: Dialect, env: &TestEnv, name: &str) -> Option<Db> {
        match dialect {
            Dialect::Sqlite => Some(Db::Sqlite(env.path(name).join("db.sqlite3"))),
            Dialect::Postgres => TestDb::create(Server::Postgres).map(Db::Server),
            Dialect::Mysql => TestDb::create(Server::Mariadb).map(Db::Server),
        }
    }

    /// The URL `import --db` takes.
    pub fn url(&self) -> String {
        match self {
            Db::Sqlite(path) => format!("sqlite:{}", path.display()),
            Db::Server(db) if db.server == Server::Postgres => {
                format!("postgres://postgres@127.0.0.1:5432/{}", db.name)
            }
            Db::Server(db) => format!("mysql://root@127.0.0.1:3306/{}", db.name),
        }
    }

    /// Runs a SQL file with the plain client, as the README tells a DBA to.
    pub fn run_script(&self, path: &Path, extra: &[&str]) -> Output {
        match self {
            Db::Sqlite(db) => {
                std::fs::create_dir_all(db.parent().unwrap()).unwrap();
                Command::new("sqlite3")
                    .args(extra)
                    .arg(db)
                    .stdin(std::fs::File::open(path).unwrap())
                    .output()
                    .expect("sqlite3 runs (apt-get install sqlite3)")
            }
            Db::Server(db) => db.run_script(path),
        }
    }

    /// Runs SQL (rows put in between two releases) with the plain client; it must succeed.
    pub fn exec(&self, sql: &str) {
        let output = match self {
            Db::Sqlite(db) => Command::new("sqlite3").arg(db).arg(sql).output().unwrap(),
            Db::Server(db) => {
                db.query(sql);
                return;
            }
        };
        assert!(output.status.success(), "{sql}: {}", String::from_utf8_lossy(&output.stderr));
    }

    /// One query's rows, tab-separated.
    pub fn query(&self, sql: &str) -> String {
        match self {
            Db::Sqlite(db) => {
                let output = Command::new("sqlite3").args(["-separator", "\t"]).arg(db).arg(sql).output().unwrap();
                assert!(output.status.success(), "{sql}: {}", String::from_utf8_lossy(&output.stderr));
                String::from_utf8_lossy(&output.stdout).into_owned()
            }
            Db::Server(db) => db.query(sql),
        }
    }

    /// The history, without who wrote it and when.
    pub fn history(&self) -> String {
        let order = match self {
            Db::Server(db) if db.server == Server::Mariadb => "LENGTH(version), version",
            _ => "length(version), version",
        };
        self.query(&format!(
            "SELECT version, name, sha256, statements_done, statements_total FROM migrate_history ORDER BY {order}"
        ))
    }

    /// The schema, without the tool's own tables (the history's rows are compared apart; the
    /// target's record is written by `import` only), as the dialect's own dump tool prints it.
    pub fn schema(&self) -> String {
        self.exec("DROP TABLE migrate_history");
        self.exec("DROP TABLE IF EXISTS migrate_history_target");
        let output = match self {
            Db::Sqlite(db) => Command::new("sqlite3").arg(db).arg(".schema").output().unwrap(),
            Db::Server(db) if db.server == Server::Postgres => Command::new("pg_dump")
                .args(["-s", "--no-owner", "-h", "127.0.0.1", "-U", "postgres", &db.name])
                .output()
                .unwrap(),
            Db::Server(db) => Command::new("mariadb-dump")
                .args(["-h", "127.0.0.1", "-u", "root", "--no-data", "--routines", "--triggers", "--events"])
                .args(["--skip-dump-date", "--skip-comments", &db.name])
                .output()
                .unwrap(),
        };
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict") && !l.starts_with("--"))
            .map(|l| {
                // An AUTO_INCREMENT counter is data, not schema; an event starts when it was made.
                let l = match l.find(" AUTO_INCREMENT=") {
                    Some(at) => {
                        let rest = &l[at + 16..];
                        let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
                        format!("{}{}", &l[..at], &rest[end..])
                    }
                    None => l.to_string(),
                };
                match l.find(" STARTS '") {
                    Some(at) => {
                        let rest = &l[at + 9..];
                        let end = rest.find('\'').map_or(rest.len(), |e| e + 1);
                        format!("{}{}", &l[..at], &rest[end..])
                    }
                    None => l,
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn count(&self, table: &str) -> usize {
        self.query(&format!("SELECT count(*) FROM {table}")).trim().parse().unwrap()
    }
}

/// One history: `migrate.yaml`, the base's files, the head's files, the rows put in after the
/// base, and the row counts both paths must end with.
pub struct Pattern<'a> {
    pub config: &'a str,
    pub base: &'a [(&'a str, &'a str)],
    pub head: &'a [(&'a str, &'a str)],
    pub rows: &'a dyn Fn(Dialect) -> String,
    pub counts: &'a [(&'a str, usize)],
}

/// What both paths ended with, for a pattern's own checks.
pub struct Finished {
    pub imported: Db,
    pub scripted: Db,
    /// The folder both live in, kept as long as they are.
    pub _env: TestEnv,
}

fn script_of(bundle: &Path, dialect: Dialect, out: &Path) -> PathBuf {
    let wanted = format!("sql/{}.sql", dialect.name());
    let members = crate::common::members(bundle);
    let (_, script) = members.into_iter().find(|(p, _)| *p == wanted).unwrap();
    std::fs::write(out, script).unwrap();
    out.to_path_buf()
}

pub fn import(env: &TestEnv, bundle: &Path, target: &Path, db: &Db, extra: &[&str]) -> String {
    let url = db.url();
    let mut args = vec!["import", bundle.to_str().unwrap(), "--target", target.to_str().unwrap(), "--db", &url];
    args.extend_from_slice(extra);
    env.run(env.root.path(), &args)
}

/// Runs a pattern on one dialect both ways and compares them; `None` when the server is not
/// reachable outside CI.
pub fn run_pattern(pattern: &Pattern<'_>, dialect: Dialect, extensions: &[&str]) -> Option<Finished> {
    let env = TestEnv::new();
    let name = dialect.name();
    let mut repo = RepoBuilder::init(&env.path("repo.git"), true);
    repo.write("migrate.yaml", pattern.config);
    for (path, text) in pattern.base {
        repo.write(path, text);
    }
    let base = repo.commit("base");
    for (path, text) in pattern.head {
        repo.write(path, text);
    }
    let head = repo.commit("head");
    let (base_tar, change_tar) = (env.path("base.tar"), env.path("change.tar"));
    env.export(&repo.dir, &base_tar, &["--head", &base.to_string()]);
    env.export(&repo.dir, &change_tar, &["--base", &base.to_string(), "--head", &head.to_string()]);

    // Through `migrate import`.
    let imported = Db::create(dialect, &env, "imported")?;
    let target = env.path("imported");
    let mut flags: Vec<&str> = Vec::new();
    for extension in extensions {
        flags.extend(["--sqlite-extension", extension]);
    }
    let out = import(&env, &base_tar, &target, &imported, &flags);
    assert!(out.ends_with("[exit status: 0]\n"), "{name}, base: {out}");
    let rows = (pattern.rows)(dialect);
    if !rows.is_empty() {
        imported.exec(&rows);
    }
    let out = import(&env, &change_tar, &target, &imported, &flags);
    assert!(out.ends_with("[exit status: 0]\n"), "{name}, head: {out}");

    // Through the offline scripts and the plain client.
    let scripted = Db::create(dialect, &env, "scripted")?;
    let client: Vec<String> = extensions.iter().map(|e| format!(".load {e}")).collect();
    let client_args: Vec<&str> = client.iter().flat_map(|c| ["-cmd", c.as_str()]).collect();
    for (n, bundle) in [&base_tar, &change_tar].into_iter().enumerate() {
        let script = script_of(bundle, dialect, &env.path(&format!("{name}-{n}.sql")));
        let output = scripted.run_script(&script, &client_args);
        assert!(
            output.status.success() && !String::from_utf8_lossy(&output.stderr).contains("ERROR"),
            "{name}, script {n}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if n == 0 && !rows.is_empty() {
            scripted.exec(&rows);
        }
    }

    for (table, count) in pattern.counts {
        assert_eq!(imported.count(table), *count, "{name}: rows of `{table}` after import");
        assert_eq!(scripted.count(table), *count, "{name}: rows of `{table}` after the offline script");
    }
    assert_eq!(imported.history(), scripted.history(), "{name}: the histories differ");
    Some(Finished { imported, scripted, _env: env })
}

/// Runs a pattern both ways and compares the schemas too.
fn same_both_ways(pattern: &Pattern<'_>, dialects: &[Dialect]) {
    for &dialect in dialects {
        let Some(finished) = run_pattern(pattern, dialect, &[]) else { continue };
        assert_eq!(finished.imported.schema(), finished.scripted.schema(), "{}: the schemas differ", dialect.name());
    }
}

fn no_rows(_: Dialect) -> String {
    String::new()
}

/// A parent rebuilt the way SQLite's documentation prescribes (new table, copy, drop, rename),
/// whose children cascade on delete: no child row may go (it did, under enforced foreign keys).
#[test]
fn a_table_rebuild_keeps_every_child_row() {
    let pattern = Pattern {
        config: "version: 1\nproject: rebuild\ndialects: [sqlite, postgres, mysql]\n",
        base: &[(
            "migrations/0001_tables.sql",
            "CREATE TABLE parent (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL);\n\
             CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL, note VARCHAR(50),\n\
               FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE);\n\
             CREATE TABLE grandchild (id INTEGER PRIMARY KEY, child_id INTEGER,\n\
               FOREIGN KEY (child_id) REFERENCES child (id) ON DELETE CASCADE);\n",
        )],
        head: &[
            (
                "migrations/0002_parent_active.sqlite.sql",
                "PRAGMA foreign_keys = OFF;\n\
                 CREATE TABLE new_parent (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL, active INTEGER NOT NULL DEFAULT 1);\n\
                 INSERT INTO new_parent (id, name) SELECT id, name FROM parent;\n\
                 DROP TABLE parent;\n\
                 ALTER TABLE new_parent RENAME TO parent;\n\
                 CREATE TABLE new_child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL, note TEXT,\n\
                   FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE);\n\
                 INSERT INTO new_child SELECT id, parent_id, note FROM child;\n\
                 DROP TABLE child;\n\
                 ALTER TABLE new_child RENAME TO child;\n\
                 PRAGMA foreign_keys = ON;\n",
            ),
            ("migrations/0002_parent_active.sql", "ALTER TABLE parent ADD COLUMN active INTEGER NOT NULL DEFAULT 1;\n"),
        ],
        rows: &|_| {
            "INSERT INTO parent (id, name) VALUES (1, 'a'), (2, 'b');\n\
             INSERT INTO child (id, parent_id, note) VALUES (1, 1, 'x'), (2, 1, 'y'), (3, 2, 'z');\n\
             INSERT INTO grandchild (id, child_id) VALUES (1, 1), (2, 3);"
                .to_string()
        },
        counts: &[("parent", 2), ("child", 3), ("grandchild", 2)],
    };
    same_both_ways(&pattern, &ALL);
}

/// Stored routines with control flow (MySQL/MariaDB procedures, functions, triggers and events;
/// PostgreSQL DO blocks, PL/pgSQL and SQL-standard bodies; SQLite triggers with CASE), called
/// and dropped in the same file: every statement reaches the server whole.
#[test]
fn procedural_sql_reaches_the_server_whole() {
    let pattern = Pattern {
        config: "version: 1\nproject: routines\ndialects: [sqlite, postgres, mysql]\n",
        base: &[
            ("migrations/0001_routines.mysql.sql", MYSQL_ROUTINES),
            ("migrations/0001_routines.postgres.sql", POSTGRES_ROUTINES),
            ("migrations/0001_routines.sqlite.sql", SQLITE_ROUTINES),
        ],
        head: &[
            (
                "migrations/0002_more.mysql.sql",
                "CREATE PROCEDURE bump(IN p_name VARCHAR(64))\nBEGIN\n  IF NOT EXISTS (SELECT * FROM settings WHERE name = p_name) THEN\n    INSERT INTO settings (name, value) VALUES (p_name, 1);\n  ELSE\n    UPDATE settings SET value = value + 1 WHERE name = p_name;\n  END IF;\nEND;\nCALL bump('e');\nCALL bump('e');\nCALL bump('f');\nDROP PROCEDURE IF EXISTS bump;\n",
            ),
            (
                "migrations/0002_more.postgres.sql",
                "DO $$\nBEGIN\n  IF EXISTS (SELECT 1 FROM settings WHERE name = 'a') THEN\n    UPDATE settings SET value = value + 40 WHERE name = 'a';\n  END IF;\nEND\n$$;\nINSERT INTO settings VALUES ('e', setting('a'));\n",
            ),
            (
                "migrations/0002_more.sqlite.sql",
                "UPDATE settings SET value = 7 WHERE name = 'a';\nINSERT INTO settings VALUES ('e', 1);\n",
            ),
        ],
        rows: &no_rows,
        counts: &[],
    };
    for dialect in ALL {
        let Some(finished) = run_pattern(&pattern, dialect, &[]) else { continue };
        let (imported, scripted) = (&finished.imported, &finished.scripted);
        for db in [imported, scripted] {
            let settings = db.query("SELECT name, value FROM settings ORDER BY name");
            let audit = db.count("audit");
            match dialect {
                Dialect::Mysql => {
                    assert_eq!(settings, "a\t2\nb\t0\nc\t500\ne\t2\nf\t1\n");
                    assert_eq!(audit, 3, "zero, big, and the trigger on e (created after a changed)");
                    assert_eq!(db.query("SELECT setting('c'), setting('zz')"), "10\t-1\n");
                }
                Dialect::Postgres => {
                    assert_eq!(settings, "a\t42\ne\t10\n");
                    assert_eq!(audit, 2, "the trigger ran on both updates");
                }
                Dialect::Sqlite => {
                    assert_eq!(settings, "a\t7\ne\t1\n");
                    assert_eq!(db.query("SELECT what FROM audit ORDER BY id"), "big; a\nchanged a\n");
                }
            }
        }
        assert_eq!(finished.imported.schema(), finished.scripted.schema(), "{}: the schemas differ", dialect.name());
    }
}

const MYSQL_ROUTINES: &str = "CREATE TABLE settings (name VARCHAR(64) PRIMARY KEY, value INT NOT NULL);
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(100) NOT NULL);

-- A procedure with every kind of block: IF EXISTS (SELECT ...) THEN is control flow here
CREATE PROCEDURE upsert_setting(IN p_name VARCHAR(64), IN p_value INT)
proc: BEGIN
  DECLARE tries INT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR SQLSTATE '23000'
  BEGIN
    INSERT INTO audit (what) VALUES (CONCAT('duplicate ', p_name));
  END;
  IF EXISTS (SELECT 1 FROM settings WHERE name = p_name) THEN
    UPDATE settings SET value = p_value WHERE name = p_name;
  ELSEIF p_value < 0 THEN
    LEAVE proc;
  ELSE
    INSERT INTO settings (name, value) VALUES (p_name, p_value);
  END IF;
  CASE
    WHEN p_value > 100 THEN INSERT INTO audit (what) VALUES ('big; really');
    WHEN p_value = 0 THEN BEGIN INSERT INTO audit (what) VALUES ('zero'); END;
    ELSE BEGIN END;
  END CASE;
  WHILE tries < 2 DO SET tries = tries + 1; END WHILE;
  REPEAT SET tries = tries - 1; UNTIL tries <= 0 END REPEAT;
  counting: LOOP
    SET tries = tries + 1;
    IF tries >= 3 THEN LEAVE counting; END IF;
  END LOOP counting;
END proc;
CALL upsert_setting('a', 1);
CALL upsert_setting('b', 0);
CALL upsert_setting('c', 500);
CALL upsert_setting('d', -1);
CALL upsert_setting('a', 2);
DROP PROCEDURE upsert_setting;

CREATE FUNCTION setting(p_name VARCHAR(64)) RETURNS INT DETERMINISTIC READS SQL DATA
BEGIN
  DECLARE v INT DEFAULT NULL;
  IF NOT EXISTS (SELECT 1 FROM settings WHERE name = p_name) THEN
    RETURN -1;
  END IF;
  SELECT value INTO v FROM settings WHERE name = p_name;
  RETURN IF(v > 10, 10, v);
END;

CREATE TRIGGER settings_audit AFTER UPDATE ON settings FOR EACH ROW
IF NEW.value <> OLD.value THEN
  INSERT INTO audit (what) VALUES (CONCAT('changed ', NEW.name));
END IF;

CREATE EVENT audit_purge ON SCHEDULE EVERY 1 DAY DO
BEGIN
  IF (SELECT COUNT(*) FROM audit) > 1000 THEN DELETE FROM audit; END IF;
END;
";

const POSTGRES_ROUTINES: &str = "CREATE TABLE settings (name text PRIMARY KEY, value integer NOT NULL);
CREATE TABLE audit (id serial PRIMARY KEY, what text NOT NULL);
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM settings WHERE name = 'a') THEN
    INSERT INTO settings VALUES ('a', 1);
  END IF;
END $$;
CREATE FUNCTION audit_change() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  IF NEW.value <> OLD.value THEN
    INSERT INTO audit (what) VALUES ('changed ' || NEW.name || '; ok');
  END IF;
  RETURN NEW;
END;
$body$;
CREATE TRIGGER settings_audit AFTER UPDATE ON settings FOR EACH ROW EXECUTE FUNCTION audit_change();
CREATE FUNCTION setting(p_name text) RETURNS integer LANGUAGE sql STABLE
BEGIN ATOMIC
  SELECT CASE WHEN value > 10 THEN 10 ELSE value END FROM settings WHERE name = p_name;
END;
UPDATE settings SET value = 2 WHERE name = 'a';
";

const SQLITE_ROUTINES: &str = "CREATE TABLE settings (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE audit (id INTEGER PRIMARY KEY, what TEXT NOT NULL);
CREATE TRIGGER settings_audit AFTER UPDATE ON settings FOR EACH ROW WHEN NEW.value <> OLD.value
BEGIN
  INSERT INTO audit (what) VALUES (CASE WHEN NEW.value > 100 THEN 'big; ' || NEW.name ELSE 'changed ' || NEW.name END);
  SELECT CASE WHEN NEW.value < 0 THEN RAISE(ABORT, 'negative; refused') END;
END;
INSERT INTO settings VALUES ('a', 1);
UPDATE settings SET value = 500 WHERE name = 'a';
";

/// Connection settings a history needs (`session:`): MySQL creating a table before the table
/// it references and writing what only a non-strict `sql_mode` accepts; PostgreSQL's
/// `lock_timeout`, seen by the migration; SQLite renaming a parent before dropping it, which
/// keeps its children's references only with `legacy_alter_table`.
#[test]
fn connection_settings_of_a_project_apply_to_import_and_script() {
    let pattern = Pattern {
        config: "version: 1\nproject: settings\ndialects: [sqlite, postgres, mysql]\nsession:\n  mysql: [\"SET FOREIGN_KEY_CHECKS = 0\", \"SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'\"]\n  postgres: [\"SET lock_timeout = '5s'\"]\n  sqlite: [\"PRAGMA legacy_alter_table = ON\"]\n",
        base: &[
            (
                "migrations/0001_tables.mysql.sql",
                "CREATE TABLE ciphers (id INT PRIMARY KEY, folder_id INT, FOREIGN KEY (folder_id) REFERENCES folders (id));\n\
                 CREATE TABLE folders (id INT PRIMARY KEY);\n\
                 CREATE TABLE legacy (code VARCHAR(3) NOT NULL);\n\
                 INSERT INTO legacy (code) VALUES ('ABCDE');\n",
            ),
            (
                "migrations/0001_tables.postgres.sql",
                "CREATE TABLE seen AS SELECT current_setting('lock_timeout') AS lock_timeout;\n",
            ),
            (
                "migrations/0001_tables.sqlite.sql",
                "CREATE TABLE ciphers (id TEXT PRIMARY KEY, name TEXT);\n\
                 CREATE TABLE attachments (id TEXT PRIMARY KEY, cipher_id TEXT REFERENCES ciphers (id));\n",
            ),
        ],
        head: &[(
            "migrations/0002_rename_first.sqlite.sql",
            "ALTER TABLE ciphers RENAME TO old_ciphers;\n\
             CREATE TABLE ciphers (id TEXT PRIMARY KEY, name TEXT, favourite INTEGER NOT NULL DEFAULT 0);\n\
             INSERT INTO ciphers (id, name) SELECT id, name FROM old_ciphers;\n\
             DROP TABLE old_ciphers;\n",
        )],
        rows: &|dialect| match dialect {
            Dialect::Sqlite => {
                "INSERT INTO ciphers VALUES ('c1', 'one');\nINSERT INTO attachments VALUES ('a1', 'c1');".into()
            }
            _ => String::new(),
        },
        counts: &[],
    };
    for dialect in ALL {
        let Some(finished) = run_pattern(&pattern, dialect, &[]) else { continue };
        for db in [&finished.imported, &finished.scripted] {
            match dialect {
                Dialect::Mysql => assert_eq!(db.query("SELECT code FROM legacy"), "ABC\n"),
                Dialect::Postgres => assert_eq!(db.query("SELECT lock_timeout FROM seen"), "5s\n"),
                Dialect::Sqlite => {
                    assert!(
                        db.query("SELECT sql FROM sqlite_master WHERE name = 'attachments'")
                            .contains("REFERENCES ciphers")
                    );
                    assert_eq!(db.query("SELECT count(*) FROM pragma_foreign_key_check"), "0\n");
                }
            }
        }
        assert_eq!(finished.imported.schema(), finished.scripted.schema(), "{}: the schemas differ", dialect.name());
    }
}

/// Empty and comment-only migrations are valid no-ops, still recorded; versions of 4, 8, 14 and
/// 20 digits (past 64 bits) order as numbers; a project table may be called `migrations`.
#[test]
fn empty_migrations_long_versions_and_a_table_named_migrations() {
    let pattern = Pattern {
        config: "version: 1\nproject: versions\ndialects: [sqlite, postgres, mysql]\n",
        base: &[
            (
                "migrations/0001_create_migrations.sql",
                "CREATE TABLE migrations (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL);\n",
            ),
            ("migrations/0002_nothing.sql", ""),
            ("migrations/0003_only_comments.sql", "-- nothing to do here\n/* not even; this */\n"),
        ],
        head: &[
            ("migrations/20240101_eight.sql", "INSERT INTO migrations VALUES (8, 'eight');\n"),
            ("migrations/20240102030405_fourteen.sql", "INSERT INTO migrations VALUES (14, 'fourteen');\n"),
            (
                "migrations/20240102030405060708_twenty.sql",
                "INSERT INTO migrations VALUES (20, 'twenty; past 64 bits');\n",
            ),
        ],
        rows: &|_| "INSERT INTO migrations VALUES (1, 'a row of the application');".into(),
        counts: &[("migrations", 4)],
    };
    for dialect in ALL {
        let Some(finished) = run_pattern(&pattern, dialect, &[]) else { continue };
        let versions: Vec<String> =
            finished.imported.history().lines().map(|l| l.split('\t').next().unwrap().to_string()).collect();
        assert_eq!(versions, ["1", "2", "3", "20240101", "20240102030405", "20240102030405060708"]);
        assert!(finished.imported.history().contains("2\t0002_nothing\t"));
        assert_eq!(finished.imported.schema(), finished.scripted.schema(), "{}: the schemas differ", dialect.name());
    }
}

/// PostgreSQL's `DROP INDEX CONCURRENTLY` + `CREATE INDEX CONCURRENTLY` in one no-transaction file,
/// and MySQL's online DDL clauses (`ALGORITHM`, `LOCK`), on tables that hold rows.
#[test]
fn concurrent_index_pairs_and_online_ddl_on_tables_with_rows() {
    let pattern = Pattern {
        config: "version: 1\nproject: indexes\ndialects: [sqlite, postgres, mysql]\n",
        base: &[(
            "migrations/0001_items.sql",
            "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL);\nCREATE INDEX items_name ON items (name);\n",
        )],
        head: &[
            (
                "migrations/0002_reindex.postgres.sql",
                "-- migrate:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS items_name;\nCREATE INDEX CONCURRENTLY items_name ON items (name, id);\n",
            ),
            (
                "migrations/0002_reindex.mysql.sql",
                "ALTER TABLE items ADD COLUMN price INT NULL, ALGORITHM=INPLACE, LOCK=NONE;\n\
                 ALTER TABLE items ADD INDEX items_price (price), ALGORITHM=INPLACE, LOCK=NONE;\n\
                 ALTER TABLE items ADD COLUMN note VARCHAR(20) NULL, ALGORITHM=INSTANT;\n",
            ),
            (
                "migrations/0002_reindex.sqlite.sql",
                "DROP INDEX items_name;\nCREATE INDEX items_name ON items (name, id);\n",
            ),
        ],
        rows: &|_| "INSERT INTO items (id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c');".into(),
        counts: &[("items", 3)],
    };
    same_both_ways(&pattern, &ALL);
}

/// A small deterministic generator (a linear congruential one: the same seed, the same history).
struct Random(u64);

impl Random {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

/// A history of `migrations` generated from `seed`, in SQL all three dialects read: tables,
/// added columns, indexes, views, rows inserted, updated and deleted, empty migrations and
/// `-- migrate:no-transaction` ones. Returns the base's files, the head's, the rows put in
/// between and the tables.
type Files = Vec<(String, String)>;

fn generated(seed: u64) -> (Files, Files, String, Vec<String>) {
    let mut random = Random(seed);
    let mut tables: Vec<(String, usize, usize)> = Vec::new(); // name, columns, next id
    let mut indexes = 0;
    let (mut base, mut head) = (Vec::new(), Vec::new());
    let migrations = 3 + random.below(6);
    let split = 1 + random.below(migrations - 1);
    for n in 1..=migrations {
        let mut sql = String::new();
        if random.below(4) == 0 {
            sql.push_str("-- migrate:no-transaction\n");
        }
        let statements = if random.below(7) == 0 { 0 } else { 1 + random.below(4) };
        for _ in 0..statements {
            if tables.is_empty() || random.below(4) == 0 {
                let name = format!("t{}_{}", n, tables.len());
                sql.push_str(&format!("CREATE TABLE {name} (id INTEGER PRIMARY KEY, label VARCHAR(20) NOT NULL);\n"));
                tables.push((name, 0, 1));
                continue;
            }
            let pick = random.below(tables.len());
            let (name, columns, next) = &mut tables[pick];
            match random.below(5) {
                0 => {
                    sql.push_str(&format!("ALTER TABLE {name} ADD COLUMN c{columns} INTEGER;\n"));
                    *columns += 1;
                }
                1 => {
                    indexes += 1;
                    sql.push_str(&format!("CREATE INDEX {name}_i{indexes} ON {name} (label);\n"));
                }
                2 => {
                    for _ in 0..1 + random.below(3) {
                        sql.push_str(&format!("INSERT INTO {name} (id, label) VALUES ({next}, 'row {next}; ok');\n"));
                        *next += 1;
                    }
                }
                3 => sql.push_str(&format!("UPDATE {name} SET label = 'changed' WHERE id % 2 = 0;\n")),
                _ => sql.push_str(&format!("DELETE FROM {name} WHERE id > {};\n", *next / 2 + 1)),
            }
        }
        let file = (format!("migrations/{n:04}_step.sql"), sql);
        if n <= split { base.push(file) } else { head.push(file) }
    }
    let mut rows = String::new();
    for (name, _, next) in tables
        .iter_mut()
        .filter(|(name, ..)| base.iter().any(|(_, sql)| sql.contains(&format!("CREATE TABLE {name} "))))
    {
        rows.push_str(&format!("INSERT INTO {name} (id, label) VALUES ({}, 'between');\n", *next + 1000));
    }
    let names = tables.into_iter().map(|(name, ..)| name).collect();
    (base, head, rows, names)
}

/// Import and the offline script are one computation (issue 10, item 10): over generated
/// histories, with rows put in between, both leave the same schema, history and rows.
#[test]
fn generated_histories_import_as_their_offline_script_runs() {
    let config = "version: 1\nproject: generated\ndialects: [sqlite, postgres, mysql]\n";
    for seed in 0..36u64 {
        // Every history on SQLite; every sixth one on the servers too.
        let dialects: &[Dialect] = if seed % 6 == 0 { &ALL } else { &[Dialect::Sqlite] };
        let (base, head, rows, tables) = generated(seed);
        let base: Vec<(&str, &str)> = base.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
        let head: Vec<(&str, &str)> = head.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
        let rows_of = |_: Dialect| rows.clone();
        let pattern = Pattern { config, base: &base, head: &head, rows: &rows_of, counts: &[] };
        for &dialect in dialects {
            let Some(finished) = run_pattern(&pattern, dialect, &[]) else { continue };
            for table in &tables {
                let content = |db: &Db| db.query(&format!("SELECT id, label FROM {table} ORDER BY id"));
                assert_eq!(
                    content(&finished.imported),
                    content(&finished.scripted),
                    "seed {seed}, {}, `{table}`",
                    dialect.name()
                );
            }
            assert_eq!(finished.imported.schema(), finished.scripted.schema(), "seed {seed}, {}", dialect.name());
        }
    }
}
