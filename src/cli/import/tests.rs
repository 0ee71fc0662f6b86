//! The fault matrix (issue 10, item 6): an import of a mixed release through a fake database that
//! fails, or dies, at its k-th call, for every k. After each: the exit code tells the truth about
//! what is committed (3 and 5 only when nothing is), and a plain re-run converges to what an
//! uninterrupted import leaves, without any statement taking effect twice.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{ImportRequest, import_bundle};
use crate::core::bundle::{BaseSide, BundleRequest, build};
use crate::core::manifest::{Manifest, SourceRef};
use crate::core::project::Project;
use crate::core::snapshot::{Snapshot, read_snapshot};
use crate::core::source::MemorySource;
use crate::db::Driver;
use crate::db::fake::{Contents, FakeDb, Fault};
use crate::exit::{Failure, FailureKind, Outcome};
use crate::output::Printer;
use crate::progress::{Progress, ProgressMode};
use crate::settings::Format;
use crate::target::Target;

/// The project at its base (two migrations, an asset) and at its head, which adds a mixed
/// release: transactional migrations around a `-- migrate:no-transaction` one, an empty one,
/// and asset writes and a delete.
fn project(dialect: &str, head: bool) -> (Project, Snapshot) {
    let config = format!("version: 1\nproject: p\ndialects: [{dialect}]\n");
    let mut files: Vec<(&str, &str)> = vec![
        ("migrate.yaml", &config),
        ("migrations/0001_base.sql", "CREATE TABLE base_a (id INT);\nCREATE TABLE base_b (id INT);\n"),
        ("migrations/0002_seed.sql", "INSERT INTO base_a VALUES (1);\n"),
        ("assets/query/kept.yaml", "spec: {sql: SELECT 1}\n"),
    ];
    if head {
        files.extend([
            ("migrations/0003_tx.sql", "CREATE TABLE three (id INT);\nINSERT INTO three VALUES (3);\n"),
            (
                "migrations/0004_outside.sql",
                "-- migrate:no-transaction\nCREATE INDEX four_a ON three (id);\nCREATE INDEX four_b ON base_a (id);\nCREATE INDEX four_c ON base_b (id);\n",
            ),
            ("migrations/0005_empty.sql", "-- nothing to do, still recorded\n"),
            ("migrations/0006_tx.sql", "CREATE TABLE six (id INT);\n"),
            ("assets/query/new.yaml", "spec: {sql: SELECT 2}\n"),
            ("assets/dashboard/ops.yaml", "depends_on: [query/new]\nspec: {}\n"),
        ]);
    } else {
        files.push(("assets/query/old.yaml", "spec: {sql: SELECT 0}\n"));
    }
    let source = MemorySource::from_files(files.iter().map(|(p, c)| (*p, c.as_bytes())));
    let project = Project::parse("migrate.yaml", "", config.as_bytes()).expect("the test project parses");
    let (snapshot, findings) = read_snapshot(&project, &source, 1).expect("the test project reads");
    assert!(findings.is_empty(), "{findings:?}");
    (project, snapshot)
}

type Bundle = (Manifest, BTreeMap<String, Arc<str>>);

/// The bundle of the head (`head`), or of the base; full, or incremental from the base.
fn bundle_of(dialect: &str, head: bool, incremental: bool) -> Bundle {
    let (_, base) = project(dialect, false);
    let (project, snapshot) = project(dialect, head);
    let commit = |c: &str| SourceRef { reference: c.into(), commit: c.repeat(40) };
    let none = Default::default();
    let selector = crate::core::selection::Selector {
        project: &project,
        environment: None,
        selection: &crate::core::selection::Selection::All,
    };
    let assets = crate::core::selection::for_snapshot(
        &snapshot,
        incremental.then_some((&base, &none)),
        &selector,
        &Default::default(),
    );
    let request = BundleRequest {
        project: &project,
        head: &snapshot,
        head_ref: commit(if head { "b" } else { "a" }),
        head_depth: if head { 2 } else { 1 },
        base: incremental.then(|| BaseSide {
            snapshot: &base,
            reference: commit("a"),
            release_id: base.state_id(&Default::default()),
            downgrade: false,
        }),
        environment: None,
        assets: &assets,
        release_version: None,
        skip_promotion: None,
        threads: 1,
    };
    let built = build(&request).expect("the test bundle builds");
    (built.manifest, built.members.into_iter().collect())
}

/// One import (or dry run), as `migrate import` runs it, on the fake database; `None` when the
/// process "died".
fn attempt(db: &FakeDb, url: &str, target: &Path, bundle: &Bundle, dry_run: bool) -> Option<Result<Outcome, Failure>> {
    let target = Target::new(target);
    let request = ImportRequest {
        target: &target,
        env: Some("test"),
        db: Some(url),
        connection: &Default::default(),
        dry_run,
        receipt: None,
        baseline: None,
        allow_downgrade: false,
        lock_timeout: Duration::from_secs(1),
        format: Format::Text,
    };
    let printer = Printer::new(true, false, true);
    let mut progress = Progress::new(ProgressMode::Never, true);
    let mut open = |_: &str, _: bool| Ok(Box::new(db.connect()) as Box<dyn Driver>);
    let (manifest, members) = bundle;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        import_bundle(&request, manifest, members, &mut open, &printer, &mut progress).map(|_| Outcome::Success)
    }))
    .ok()
}

/// An import's outcome, or its failure's kind; `Err(None)` when it died.
fn run(db: &FakeDb, url: &str, target: &Path, bundle: &Bundle) -> Result<Outcome, Option<FailureKind>> {
    match attempt(db, url, target, bundle, false) {
        Some(Ok(outcome)) => Ok(outcome),
        Some(Err(failure)) => Err(Some(failure.kind)),
        None => Err(None),
    }
}

/// The code of a refused dry run, for the uncertain case.
fn refusal_code(db: &FakeDb, url: &str, target: &Path, bundle: &Bundle) -> String {
    match attempt(db, url, target, bundle, true) {
        Some(Err(failure)) => failure.report.code().map(|c| c.to_string()).unwrap_or_default(),
        _ => String::new(),
    }
}

/// What a target holds besides the database: its asset files and state, byte for byte.
fn files(target: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut stack = vec![target.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = path.strip_prefix(target).map(|p| p.display().to_string()).unwrap_or_default();
            // The lock file names its holder; staging is emptied by every write.
            if name == ".migrate/lock" || name.starts_with(".migrate/staging") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                found.insert(name, bytes);
            }
        }
    }
    found
}

/// What the history says, without times.
fn history(contents: &Contents) -> Vec<(String, u32, u32)> {
    contents.history.values().map(|r| (r.version.to_string(), r.statements_done, r.statements_total)).collect()
}

/// The assets a finished target holds (its `state.json` differs in times and ids).
fn assets(target: &Path) -> BTreeMap<String, Vec<u8>> {
    files(target).into_iter().filter(|(name, _)| name.starts_with("assets/")).collect()
}

fn assert_no_statement_twice(contents: &Contents, context: &str) {
    let mut seen = std::collections::BTreeSet::new();
    for statement in &contents.executed {
        assert!(seen.insert(statement), "{context}: `{statement}` took effect twice: {:?}", contents.executed);
    }
}

/// Runs the matrix for one flavour of database and one starting point.
fn matrix(transactional_ddl: bool, upgrade: bool) {
    let (dialect, url) =
        if transactional_ddl { ("postgres", "postgres://fake/db") } else { ("mysql", "mysql://fake/db") };
    let head = bundle_of(dialect, true, upgrade);
    let base = bundle_of(dialect, false, false);
    let fresh = |dir: &Path| {
        let db = FakeDb::new(transactional_ddl);
        if upgrade {
            assert_eq!(run(&db, url, dir, &base), Ok(Outcome::Success), "the base imports");
        }
        db
    };
    // The reference: an uninterrupted import.
    let scratch = tempfile::tempdir().expect("a temporary folder");
    let reference_db = fresh(scratch.path());
    assert_eq!(run(&reference_db, url, scratch.path(), &head), Ok(Outcome::Success));
    let reference = (history(&reference_db.committed()), reference_db.committed().executed, assets(scratch.path()));
    let mut points = 0;
    let mut uncertain = 0;
    for k in 1.. {
        let mut triggered = false;
        for fault in [Fault::FailAt(k), Fault::DieBefore(k), Fault::DieAfter(k)] {
            let dir = tempfile::tempdir().expect("a temporary folder");
            let db = fresh(dir.path());
            let before = (db.committed(), files(dir.path()));
            db.set_fault(Some(fault));
            let result = run(&db, url, dir.path(), &head);
            let calls = db.calls();
            db.set_fault(None);
            if calls < k {
                assert_eq!(result, Ok(Outcome::Success), "{fault:?}: no fault, no failure");
                continue;
            }
            triggered = true;
            points += 1;
            let context = format!("{dialect}, upgrade {upgrade}, {fault:?}");
            let after = (db.committed(), files(dir.path()));
            assert_no_statement_twice(&after.0, &context);
            match (fault, &result) {
                (Fault::FailAt(_), Err(Some(FailureKind::RolledBack | FailureKind::Temporary))) => {
                    assert_eq!(after, before, "{context}: exit 3 or 5, yet something changed");
                }
                (Fault::FailAt(_), Err(Some(FailureKind::Partial))) => {
                    assert_ne!(after.0, before.0, "{context}: exit 4, yet nothing changed in the database");
                    // What ran is recorded: in the history, and where a progress row could not
                    // be written after its statement, in `state.json`'s partial migration.
                    let ran = after.0.executed.len() - before.0.executed.len();
                    let state = std::fs::read(dir.path().join(".migrate/state.json")).expect("exit 4 writes the state");
                    let state = crate::core::state::TargetState::parse(&state).expect("the state parses");
                    let recorded: usize = history(&after.0)
                        .iter()
                        .filter(|(v, ..)| !before.0.history.keys().any(|b| b.as_str() == v))
                        .map(|(version, done, _)| match &state.partial {
                            Some(partial) if partial.version.as_str() == version => partial.statements.len(),
                            _ => *done as usize,
                        })
                        .sum();
                    assert_eq!(ran, recorded, "{context}: what ran is not what is recorded");
                }
                (Fault::FailAt(_), other) => panic!("{context}: a failed call gave {other:?}"),
                (_, Err(None)) => {}
                (_, other) => panic!("{context}: a death gave {other:?}"),
            }
            // A plain re-run finishes the job, or refuses to guess (only where a statement that
            // commits by itself may have been in flight when the process died).
            match run(&db, url, dir.path(), &head) {
                Ok(Outcome::Success) => {}
                Err(Some(FailureKind::Refused)) if !matches!(fault, Fault::FailAt(_)) => {
                    let code = refusal_code(&db, url, dir.path(), &head);
                    assert_eq!(code, "migrate::statement_uncertain", "{context}");
                    assert_eq!(db.committed(), after.0, "{context}: the refusal changed the database");
                    uncertain += 1;
                    continue;
                }
                other => panic!("{context}: the re-run gave {other:?}"),
            }
            let done = db.committed();
            assert_no_statement_twice(&done, &context);
            assert_eq!(
                (history(&done), done.executed.clone(), assets(dir.path())),
                reference,
                "{context}: the re-run did not converge"
            );
            assert_eq!(run(&db, url, dir.path(), &head), Ok(Outcome::Success), "{context}: then nothing to do");
        }
        if !triggered {
            break;
        }
    }
    assert!(points >= 15, "only {points} fault points");
    if transactional_ddl {
        // Only the no-transaction migration (3 statements) commits outside a transaction: a death
        // from after its row says 0/3 until before it says 3/3 may have left a statement half
        // known. 6 calls, dying before or after each.
        assert_eq!(uncertain, 12, "{points} fault points");
    } else {
        assert!(uncertain < points / 2, "{uncertain} of {points} points uncertain");
    }
}

#[test]
fn every_fault_of_a_mixed_release_tells_the_truth_and_a_rerun_converges_transactional() {
    matrix(true, false);
    matrix(true, true);
}

#[test]
fn every_fault_of_a_mixed_release_tells_the_truth_and_a_rerun_converges_mysql() {
    matrix(false, false);
    matrix(false, true);
}

/// A stateless job: each import from a new folder. The database's record makes each folder the
/// same target; a bundle that builds on the assets a lost folder held is refused.
#[test]
fn a_new_folder_on_a_database_with_a_record_is_that_target() {
    let url = "postgres://fake/db";
    let db = FakeDb::new(true);
    let base = bundle_of("postgres", false, false);
    let head_full = bundle_of("postgres", true, false);
    let head_incremental = bundle_of("postgres", true, true);
    let target_id = |dir: &Path| {
        let bytes = std::fs::read(dir.join(".migrate/state.json")).expect("the import wrote its state");
        crate::core::state::TargetState::parse(&bytes).expect("the state parses").target_id
    };
    let first = tempfile::tempdir().expect("a temporary folder");
    assert_eq!(run(&db, url, first.path(), &base), Ok(Outcome::Success));
    let id = target_id(first.path());
    let recorded = db.committed().identity.expect("the import wrote the target's record");
    assert_eq!((recorded.target_id.as_str(), recorded.environment.as_deref()), (id.as_str(), Some("test")));

    // An incremental bundle needs the asset the lost folder held: refused, nothing changed.
    let lost = tempfile::tempdir().expect("a temporary folder");
    let before = db.committed();
    assert_eq!(run(&db, url, lost.path(), &head_incremental), Err(Some(FailureKind::Refused)));
    assert_eq!(refusal_code(&db, url, lost.path(), &head_incremental), "migrate::target_folder_missing");
    assert_eq!(db.committed(), before);

    // A full bundle from a new folder: the same target, converged, its record updated.
    let second = tempfile::tempdir().expect("a temporary folder");
    assert_eq!(run(&db, url, second.path(), &head_full), Ok(Outcome::Success));
    assert_eq!(target_id(second.path()), id);
    let recorded = db.committed().identity.expect("the record stays");
    assert_eq!(recorded.release_id, Some(head_full.0.release.id.to_string()));
    assert_eq!(history(&db.committed()).len(), 6);
    assert_no_statement_twice(&db.committed(), "a new folder");

    // And again from a third folder: nothing to do, the same target.
    let third = tempfile::tempdir().expect("a temporary folder");
    assert_eq!(run(&db, url, third.path(), &head_full), Ok(Outcome::Success));
    assert_eq!(target_id(third.path()), id);

    // The first folder is behind its database, but the same target: it converges too (its
    // assets, and its state's release).
    assert_eq!(run(&db, url, first.path(), &head_full), Ok(Outcome::Success));
    assert_eq!(assets(first.path()), assets(second.path()));
    assert_no_statement_twice(&db.committed(), "the first folder again");
    // A folder of another target on this database is refused.
    let other_db = FakeDb::new(true);
    let other = tempfile::tempdir().expect("a temporary folder");
    assert_eq!(run(&other_db, url, other.path(), &base), Ok(Outcome::Success));
    assert_eq!(run(&db, url, other.path(), &head_full), Err(Some(FailureKind::Refused)));
    assert_eq!(refusal_code(&db, url, other.path(), &head_full), "migrate::identity_conflict");
}
