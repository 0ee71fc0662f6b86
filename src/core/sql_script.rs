//! The offline SQL script of a bundle, per dialect: exactly the statements `import` runs, with the
//! history table, the bookkeeping rows, and a guard, for a DBA to read and run with the plain
//! client (`sqlite3`, `psql`, `mariadb`). The templates were proved with those clients against
//! real databases: at the right base it applies; at a wrong base, or run twice, it stops at the
//! guard with nothing changed.
//!
//! - SQLite and PostgreSQL: one transaction (`.bail on` / `ON_ERROR_STOP` make the client stop
//!   and the open transaction roll back), the history table created inside it, committed before
//!   and reopened after each `-- migrate:no-transaction` migration, whose progress is recorded
//!   statement by statement.
//! - MySQL/MariaDB: DDL commits by itself, so nothing is atomic. The guard runs before any DDL
//!   (reading the history only if it exists), fails through an impossible `sql_mode` carrying the
//!   message, and first makes the session read-only, so even `--force` changes nothing. Progress
//!   is recorded before and after every statement; routine bodies get `DELIMITER` lines.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use crate::core::decide::{MigrationStep, Refusal, migration_step};
use crate::core::manifest::{Action, Item, ItemType, Manifest};
use crate::core::model::Dialect;

/// The history table's `CREATE TABLE IF NOT EXISTS`, without a terminator: the one definition
/// that import's drivers and the offline scripts share, so both write rows the other can read.
pub fn history_table_ddl(dialect: Dialect, table: &str) -> String {
    let columns = match dialect {
        Dialect::Sqlite => {
            "  version          TEXT    NOT NULL PRIMARY KEY,
  name             TEXT    NOT NULL,
  sha256           TEXT    NOT NULL,
  statements_done  INTEGER NOT NULL,
  statements_total INTEGER NOT NULL,
  release_id       TEXT,
  applied_by       TEXT    NOT NULL CHECK (applied_by IN ('import', 'script')),
  applied_at       TEXT    NOT NULL,
  duration_ms      INTEGER
)"
        }
        Dialect::Postgres => {
            "  version          varchar(255) NOT NULL PRIMARY KEY,
  name             text         NOT NULL,
  sha256           text         NOT NULL,
  statements_done  integer      NOT NULL,
  statements_total integer      NOT NULL,
  release_id       text,
  applied_by       text         NOT NULL CHECK (applied_by IN ('import', 'script')),
  applied_at       timestamptz  NOT NULL,
  duration_ms      bigint
)"
        }
        Dialect::Mysql => {
            "  version          VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
  name             VARCHAR(255) NOT NULL,
  sha256           VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  statements_done  INT          NOT NULL,
  statements_total INT          NOT NULL,
  release_id       VARCHAR(255) NULL,
  applied_by       VARCHAR(16)  NOT NULL,
  applied_at       DATETIME(6)  NOT NULL,
  duration_ms      BIGINT       NULL
) ENGINE=InnoDB"
        }
    };
    format!("CREATE TABLE IF NOT EXISTS {table} (\n{columns}")
}

/// Renders the script of one dialect from the manifest's items and the bundle's members into
/// `out`, one migration at a time (a data migration's statements are never all held). The
/// statements come from `decide::migration_step`, the function `import` takes them from. On a
/// refusal, what `out` received is a part of the script: discard it.
pub fn render(
    manifest: &Manifest,
    dialect: Dialect,
    members: &BTreeMap<String, Arc<str>>,
    out: &mut dyn Write,
) -> Result<(), Refusal> {
    let table = &manifest.history_table;
    let expected = manifest.requires.history.get(&dialect).cloned().unwrap_or_default();
    let mut steps =
        manifest.items.iter().filter(|i| i.item_type == ItemType::Migration && i.dialect == Some(dialect)).map(
            |item| {
                let revert = item.action == Action::Revert;
                migration_step(item, members, dialect, revert).map(|step| Step { item, step })
            },
        );
    let run_with = match dialect {
        Dialect::Sqlite => "sqlite3 DATABASE.sqlite3 < sql/sqlite.sql",
        Dialect::Postgres => {
            "psql -X -h HOST -U USER -d DATABASE -f sql/postgres.sql   (never with --single-transaction)"
        }
        Dialect::Mysql => "mariadb --comments -h HOST -u USER DATABASE < sql/mysql.sql   (never with --force)",
    };
    let expected_list: Vec<String> = expected.iter().map(|r| format!("{} {}", r.version, r.sha256)).collect();
    let _ = writeln!(out, "-- migrate offline script for `{}`, dialect {dialect}", manifest.project);
    let _ = writeln!(out, "-- release:       {}", manifest.release.id);
    let _ = writeln!(out, "-- history table: {table}");
    let _ = writeln!(
        out,
        "-- expected base: {}",
        if expected_list.is_empty() { "an empty history".to_string() } else { expected_list.join(", ") }
    );
    let _ = writeln!(out, "-- run with:      {run_with}");
    let _ =
        writeln!(out, "-- It stops at the first error, and its guard refuses to run, before anything changes, unless");
    let _ = writeln!(out, "-- the history holds exactly the expected base.");
    let script = Script {
        manifest,
        table,
        expected: expected.iter().map(|r| format!("('{}', '{}')", r.version, r.sha256)).collect(),
        create: history_table_ddl(dialect, table),
        release: quote(&manifest.release.id.to_string()),
    };
    match dialect {
        Dialect::Sqlite => sqlite(out, &script, &mut steps),
        Dialect::Postgres => postgres(out, &script, &mut steps),
        Dialect::Mysql => mysql(out, &script, &mut steps),
    }
}

/// What every dialect's script is made from, besides its migrations.
struct Script<'a> {
    manifest: &'a Manifest,
    table: &'a str,
    /// The expected history rows, as SQL values `('<version>', '<sha256>')`.
    expected: Vec<String>,
    /// The history table's `CREATE TABLE IF NOT EXISTS`.
    create: String,
    /// The release id, quoted.
    release: String,
}

/// The migrations of a script, built one at a time as the script reaches them.
type Steps<'s, 'a> = dyn Iterator<Item = Result<Step<'a>, Refusal>> + 's;

/// One migration to run (or revert), with its statements.
struct Step<'a> {
    item: &'a Item,
    step: MigrationStep,
}

impl Step<'_> {
    fn header(&self) -> String {
        let what = if self.step.revert { "revert" } else { "migration" };
        let tx = if self.step.transactional { "" } else { ", no transaction" };
        let n = self.step.statements.len();
        format!(
            "\n-- {what} {} {} ({}): {n} statement{}{tx}\n",
            self.step.version,
            self.step.name,
            self.item.sha256,
            if n == 1 { "" } else { "s" }
        )
    }
}

const COLUMNS: &str =
    "version, name, sha256, statements_done, statements_total, release_id, applied_by, applied_at, duration_ms";

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The dialect's words for the bookkeeping of a transactional script.
struct Bookkeeping {
    /// Starts a migration's clock.
    start_clock: &'static str,
    /// The current time, as a SQL expression.
    now: &'static str,
    /// Milliseconds since the clock started, as a SQL expression.
    elapsed: &'static str,
    /// Opens a transaction.
    begin: String,
    /// Commits the open transaction (after the checks it needs).
    commit: String,
    /// Before and after a migration that runs outside a transaction (SQLite: what it breaks in
    /// the foreign keys cannot be rolled back, but it stops the script).
    before_outside: String,
    after_outside: String,
}

/// The migrations of a script that runs in one transaction (SQLite, PostgreSQL): each followed by
/// its history row; a no-transaction migration between a COMMIT and a new transaction, with its
/// progress recorded statement by statement.
fn transactional_steps(
    out: &mut dyn Write,
    table: &str,
    release: &str,
    steps: &mut Steps<'_, '_>,
    words: &Bookkeeping,
) -> Result<(), Refusal> {
    let Bookkeeping { start_clock, now, elapsed, begin, commit, before_outside, after_outside } = words;
    for planned in steps {
        let planned = planned?;
        let _ = out.write_str(&planned.header());
        let step = &planned.step;
        let n = step.statements.len();
        let (version, name, sha) =
            (quote(step.version.as_str()), quote(&step.name), quote(&planned.item.sha256.to_string()));
        if !step.transactional {
            let _ = out.write_str(commit);
            let _ = out.write_str(before_outside);
        }
        let _ = writeln!(out, "{start_clock}");
        if !step.transactional && !step.revert {
            let _ = writeln!(
                out,
                "INSERT INTO {table} ({COLUMNS}) VALUES ({version}, {name}, {sha}, 0, {n}, {release}, 'script', {now}, NULL);"
            );
        }
        for (k, statement) in step.statements.iter().enumerate() {
            let _ = writeln!(out, "{};", step.text_of(statement));
            if !step.transactional && !step.revert {
                let _ = writeln!(out, "UPDATE {table} SET statements_done = {} WHERE version = {version};", k + 1);
            }
        }
        if step.revert {
            let _ = writeln!(out, "DELETE FROM {table} WHERE version = {version};");
        } else if step.transactional {
            let _ = writeln!(
                out,
                "INSERT INTO {table} ({COLUMNS}) VALUES ({version}, {name}, {sha}, {n}, {n}, {release}, 'script', {now}, {elapsed});"
            );
        } else {
            let _ = writeln!(
                out,
                "UPDATE {table} SET applied_at = {now}, duration_ms = {elapsed} WHERE version = {version};"
            );
        }
        if !step.transactional {
            let _ = out.write_str(after_outside);
            let _ = out.write_str(begin);
        }
    }
    Ok(())
}

/// The session statements of a dialect (`session:` in `migrate.yaml`), first of all.
fn session(out: &mut dyn Write, manifest: &Manifest, dialect: Dialect) {
    let Some(session) = manifest.session.get(&dialect) else { return };
    let _ = writeln!(out, "\n-- session: what every import session runs first ({})", session.sha256);
    for statement in &session.statements {
        statement_line(out, dialect, statement);
    }
}

/// One statement, terminated for the dialect's client.
fn statement_line(out: &mut dyn Write, dialect: Dialect, text: &str) {
    // The mysql client ends a statement at any `;` of its own reading: a body is sent whole
    // between DELIMITER lines, with a delimiter the statement does not contain.
    if dialect == Dialect::Mysql && text.contains(';') {
        let delimiter = client_delimiter(text);
        let _ = writeln!(out, "DELIMITER {delimiter}\n{text}\n{delimiter}\nDELIMITER ;");
    } else {
        let _ = writeln!(out, "{text};");
    }
}

fn sqlite(out: &mut dyn Write, script: &Script<'_>, steps: &mut Steps<'_, '_>) -> Result<(), Refusal> {
    let Script { manifest, table, expected, create, release } = script;
    let snapshot = "DELETE FROM temp.migrate_fk_before;\n\
                    INSERT INTO temp.migrate_fk_before SELECT \"table\", parent, count(*) FROM pragma_foreign_key_check GROUP BY 1, 2;\n";
    let _ = out.write_str(".bail on\n");
    session(out, manifest, Dialect::Sqlite);
    let _ = write!(
        out,
        "
-- foreign-key enforcement off for the whole run, as SQLite's procedure for schema changes has
-- it (a table rebuild must not cascade into its children); each COMMIT checks them instead
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

-- the history table, inside the transaction: a failing guard rolls it back
{create};

-- guard: the history must hold exactly the expected rows, all complete
CREATE TEMP TABLE migrate_expected (version TEXT NOT NULL, sha256 TEXT NOT NULL);
"
    );
    if !expected.is_empty() {
        let _ =
            writeln!(out, "INSERT INTO temp.migrate_expected (version, sha256) VALUES\n  {};", expected.join(",\n  "));
    }
    let _ = write!(
        out,
        "CREATE TEMP TABLE migrate_guard (ok INTEGER NOT NULL);
CREATE TEMP TRIGGER migrate_guard_check BEFORE INSERT ON migrate_guard WHEN NEW.ok = 0
BEGIN
  SELECT RAISE(ABORT, 'migrate: guard failed, nothing was changed: {table} does not hold exactly the expected history (see above)');
END;
SELECT 'migrate: unexpected history row: ' || h.version || ' ' || h.sha256 FROM main.{table} h
  WHERE NOT EXISTS (SELECT 1 FROM temp.migrate_expected e WHERE e.version = h.version AND e.sha256 = h.sha256);
SELECT 'migrate: missing history row: ' || e.version || ' ' || e.sha256 FROM temp.migrate_expected e
  WHERE NOT EXISTS (SELECT 1 FROM main.{table} h WHERE h.version = e.version AND h.sha256 = e.sha256);
INSERT INTO temp.migrate_guard (ok) SELECT
      NOT EXISTS (SELECT 1 FROM main.{table} h WHERE NOT EXISTS (SELECT 1 FROM temp.migrate_expected e WHERE e.version = h.version AND e.sha256 = h.sha256))
  AND NOT EXISTS (SELECT 1 FROM temp.migrate_expected e WHERE NOT EXISTS (SELECT 1 FROM main.{table} h WHERE h.version = e.version AND h.sha256 = e.sha256))
  AND NOT EXISTS (SELECT 1 FROM main.{table} WHERE statements_done <> statements_total);
CREATE TEMP TABLE migrate_clock (t0 REAL NOT NULL);
INSERT INTO temp.migrate_clock (t0) VALUES (julianday('now'));

-- foreign keys: rows that break one before the release are tolerated, new ones refuse the COMMIT
-- (counted per child and parent table: a table rebuild renumbers the rows it copies)
CREATE TEMP TABLE migrate_fk_before (tbl TEXT, parent TEXT, n INTEGER);
{snapshot}CREATE TEMP TABLE migrate_fk_guard (ok INTEGER NOT NULL);
CREATE TEMP TRIGGER migrate_fk_guard_check BEFORE INSERT ON migrate_fk_guard WHEN NEW.ok = 0
BEGIN
  SELECT RAISE(ABORT, 'migrate: foreign keys are broken (see above), nothing of this transaction is committed');
END;
CREATE TEMP TABLE migrate_fk_guard_outside (ok INTEGER NOT NULL);
CREATE TEMP TRIGGER migrate_fk_guard_outside_check BEFORE INSERT ON migrate_fk_guard_outside WHEN NEW.ok = 0
BEGIN
  SELECT RAISE(ABORT, 'migrate: foreign keys are broken (see above) by a migration that ran outside a transaction: it is committed');
END;
"
    );
    let grown = "FROM (SELECT \"table\" AS tbl, parent, count(*) AS n FROM pragma_foreign_key_check GROUP BY 1, 2) a \
                 LEFT JOIN temp.migrate_fk_before b ON b.tbl = a.tbl AND b.parent = a.parent WHERE a.n > coalesce(b.n, 0)";
    let check = |guard: &str| {
        format!(
            "SELECT 'migrate: foreign key broken: ' || a.n || ' row(s) of ' || a.tbl || ' refer to missing rows of ' || a.parent \
             || ' (' || coalesce(b.n, 0) || ' before the release), rowids ' || (SELECT group_concat(coalesce(f.rowid, '-'), ' ') \
             FROM pragma_foreign_key_check f WHERE f.\"table\" = a.tbl AND f.parent = a.parent) {grown};\n\
             INSERT INTO temp.{guard} (ok) SELECT NOT EXISTS (SELECT 1 {grown});\n"
        )
    };
    let commit = format!("{}COMMIT;\n", check("migrate_fk_guard"));
    let sqlite = Bookkeeping {
        start_clock: "UPDATE temp.migrate_clock SET t0 = julianday('now');",
        now: "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        elapsed: "CAST(round((julianday('now') - (SELECT t0 FROM temp.migrate_clock)) * 86400000.0) AS INTEGER)",
        // A no-transaction migration may have turned enforcement on: off again, outside the
        // transaction where the pragma takes effect.
        begin: format!("PRAGMA foreign_keys = OFF;\nBEGIN IMMEDIATE;\n{snapshot}"),
        commit: commit.clone(),
        before_outside: snapshot.to_string(),
        after_outside: check("migrate_fk_guard_outside"),
    };
    transactional_steps(out, table, release, steps, &sqlite)?;
    let _ = writeln!(out, "\n{commit}SELECT 'migrate: done, release {}';", manifest.release.id);
    Ok(())
}

fn postgres(out: &mut dyn Write, script: &Script<'_>, steps: &mut Steps<'_, '_>) -> Result<(), Refusal> {
    let Script { manifest, table, expected, create, release } = script;
    let expected_cte = if expected.is_empty() {
        "SELECT NULL::text AS version, NULL::text AS sha256 WHERE false".to_string()
    } else {
        format!("VALUES {}", expected.join(", "))
    };
    let _ = write!(
        out,
        "\\set ON_ERROR_STOP on
\\set ON_ERROR_ROLLBACK off
\\set AUTOCOMMIT on
"
    );
    session(out, manifest, Dialect::Postgres);
    let _ = write!(
        out,
        "
BEGIN;

-- the history table, inside the transaction: a failing guard rolls it back
{create};

-- guard: the history must hold exactly the expected rows, all complete
DO $migrate_guard$
DECLARE
  unexpected text;
  missing    text;
  incomplete text;
BEGIN
  WITH expected(version, sha256) AS ({expected_cte})
  SELECT string_agg(h.version || ' ' || h.sha256, ', ' ORDER BY length(h.version), h.version) INTO unexpected
    FROM {table} h WHERE NOT EXISTS (SELECT 1 FROM expected e WHERE e.version = h.version AND e.sha256 = h.sha256);
  WITH expected(version, sha256) AS ({expected_cte})
  SELECT string_agg(e.version || ' ' || e.sha256, ', ' ORDER BY length(e.version), e.version) INTO missing
    FROM expected e WHERE NOT EXISTS (SELECT 1 FROM {table} h WHERE h.version = e.version AND h.sha256 = e.sha256);
  SELECT string_agg(version || ' (' || statements_done || '/' || statements_total || ')', ', ') INTO incomplete
    FROM {table} WHERE statements_done <> statements_total;
  IF unexpected IS NOT NULL OR missing IS NOT NULL OR incomplete IS NOT NULL THEN
    RAISE EXCEPTION 'migrate: guard failed, nothing was changed: {table} does not hold exactly the expected history'
      USING DETAIL = format('unexpected rows: %s; missing rows: %s; incomplete: %s',
                            coalesce(unexpected, 'none'), coalesce(missing, 'none'), coalesce(incomplete, 'none'));
  END IF;
END
$migrate_guard$;
"
    );
    let postgres = Bookkeeping {
        start_clock: "SELECT clock_timestamp() AS migrate_t0 \\gset",
        now: "clock_timestamp()",
        elapsed: "(extract(epoch FROM clock_timestamp() - :'migrate_t0'::timestamptz) * 1000)::bigint",
        begin: "BEGIN;\n".to_string(),
        commit: "COMMIT;\n".to_string(),
        before_outside: String::new(),
        after_outside: String::new(),
    };
    transactional_steps(out, table, release, steps, &postgres)?;
    let _ = writeln!(out, "\nCOMMIT;\n\\echo migrate: done, release {}", manifest.release.id);
    Ok(())
}

fn mysql(out: &mut dyn Write, script: &Script<'_>, steps: &mut Steps<'_, '_>) -> Result<(), Refusal> {
    let Script { manifest, table, expected, create, release } = script;
    let ascii = "CHARACTER SET ascii COLLATE ascii_bin";
    let _ = write!(
        out,
        "-- MySQL and MariaDB commit every DDL statement by themselves: this script is NOT atomic.
-- Progress is recorded around every statement, so after a failure the history shows exactly
-- what ran, and `migrate import` of the same bundle resumes there.
SET NAMES utf8mb4;
"
    );
    session(out, manifest, Dialect::Mysql);
    let _ = write!(
        out,
        "
-- guard, before any DDL (DDL commits); the history table may not exist yet
CREATE TEMPORARY TABLE migrate_guard_history (version VARCHAR(255) {ascii} NOT NULL, sha256 VARCHAR(255) {ascii} NOT NULL, statements_done INT NOT NULL, statements_total INT NOT NULL);
CREATE TEMPORARY TABLE migrate_guard_expected (version VARCHAR(255) {ascii} NOT NULL, sha256 VARCHAR(255) {ascii} NOT NULL);
SET @migrate_sql := IF((SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = '{table}') = 0,
  'DO 0',
  'INSERT INTO migrate_guard_history (version, sha256, statements_done, statements_total) SELECT version, sha256, statements_done, statements_total FROM {table}');
PREPARE migrate_stmt FROM @migrate_sql;
EXECUTE migrate_stmt;
DEALLOCATE PREPARE migrate_stmt;
"
    );
    if !expected.is_empty() {
        let _ =
            writeln!(out, "INSERT INTO migrate_guard_expected (version, sha256) VALUES\n  {};", expected.join(",\n  "));
    }
    let _ = write!(
        out,
        "SELECT GROUP_CONCAT(h.version ORDER BY LENGTH(h.version), h.version SEPARATOR ' ') INTO @migrate_unexpected
  FROM migrate_guard_history h WHERE NOT EXISTS (SELECT 1 FROM migrate_guard_expected e WHERE e.version = h.version AND e.sha256 = h.sha256);
SELECT GROUP_CONCAT(e.version ORDER BY LENGTH(e.version), e.version SEPARATOR ' ') INTO @migrate_missing
  FROM migrate_guard_expected e WHERE NOT EXISTS (SELECT 1 FROM migrate_guard_history h WHERE h.version = e.version AND h.sha256 = e.sha256);
SELECT GROUP_CONCAT(version ORDER BY LENGTH(version), version SEPARATOR ' ') INTO @migrate_incomplete
  FROM migrate_guard_history WHERE statements_done <> statements_total;
DROP TEMPORARY TABLE migrate_guard_history, migrate_guard_expected;
SET @migrate_guard_error := IF(@migrate_unexpected IS NULL AND @migrate_missing IS NULL AND @migrate_incomplete IS NULL, NULL,
  CONCAT('migrate: guard failed - nothing was changed - {table} is not the expected history',
         ' - unexpected: ', IFNULL(@migrate_unexpected, 'none'),
         ' - missing: ', IFNULL(@migrate_missing, 'none'),
         ' - incomplete: ', IFNULL(@migrate_incomplete, 'none')));
SELECT @migrate_guard_error AS migrate_guard_error FROM DUAL WHERE @migrate_guard_error IS NOT NULL;
-- on failure the session turns read-only first, so that even --force cannot change anything
SET @migrate_sql := IF(@migrate_guard_error IS NULL, 'DO 0', 'SET SESSION TRANSACTION READ ONLY');
PREPARE migrate_stmt FROM @migrate_sql;
EXECUTE migrate_stmt;
DEALLOCATE PREPARE migrate_stmt;
-- then fail with the message (an impossible sql_mode; sql_mode cuts its value at commas)
SET SESSION sql_mode = IF(@migrate_guard_error IS NULL, @@session.sql_mode, LEFT(@migrate_guard_error, 190));

-- the history table (after the guard: it commits by itself)
{create};
"
    );
    let elapsed = "TIMESTAMPDIFF(MICROSECOND, @migrate_t0, NOW(6)) DIV 1000";
    for planned in steps {
        let planned = planned?;
        let _ = out.write_str(&planned.header());
        let step = &planned.step;
        let n = step.statements.len();
        let (version, name, sha) =
            (quote(step.version.as_str()), quote(&step.name), quote(&planned.item.sha256.to_string()));
        let _ = writeln!(out, "SET @migrate_t0 := NOW(6);");
        if step.revert {
            let _ = writeln!(out, "UPDATE {table} SET statements_done = 0 WHERE version = {version};");
        } else {
            let _ = writeln!(
                out,
                "INSERT INTO {table} ({COLUMNS}) VALUES ({version}, {name}, {sha}, 0, {n}, {release}, 'script', UTC_TIMESTAMP(6), NULL);"
            );
        }
        for (k, statement) in step.statements.iter().enumerate() {
            statement_line(out, Dialect::Mysql, step.text_of(statement));
            if !step.revert && k + 1 < n {
                let _ = writeln!(out, "UPDATE {table} SET statements_done = {} WHERE version = {version};", k + 1);
            }
        }
        if step.revert {
            let _ = writeln!(out, "DELETE FROM {table} WHERE version = {version};");
        } else {
            let _ = writeln!(
                out,
                "UPDATE {table} SET statements_done = {n}, applied_at = UTC_TIMESTAMP(6), duration_ms = {elapsed} WHERE version = {version};"
            );
        }
    }
    let _ = writeln!(out, "\nSELECT 'migrate: done, release {}' AS migrate;", manifest.release.id);
    Ok(())
}

/// A delimiter for the mysql client that `text` does not contain.
fn client_delimiter(text: &str) -> String {
    ["$$", "//", "$$$", "@@@@"]
        .into_iter()
        .map(str::to_string)
        .chain((1..).map(|n| format!("$migrate{n}$")))
        .find(|d| !text.contains(d.as_str()))
        .unwrap_or_else(|| "$$".to_string())
}
