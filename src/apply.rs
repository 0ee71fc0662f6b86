//! Runs a decision's steps through a `Driver` and the target folder: the only place that orders
//! side effects. The whole release runs in one transaction where the migrations allow it; a
//! `-- migrate:no-transaction` migration runs between commits, its progress recorded statement
//! by statement. Assets are written after the database commit, then the state.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use crate::core::decide::{MigrationStep, Steps};
use crate::db::{DbError, Driver, NewRow};
use crate::progress::Progress;
use crate::target::{Target, TargetError};

/// How an apply failed.
#[derive(Debug)]
pub enum ApplyFailure {
    /// Nothing changed: the transaction was rolled back (exit 3).
    RolledBack { at: String, message: String },
    /// Some changes are committed (exit 4); `committed` says which, and `stopped` the migration
    /// left part-way with the number of its statements that ran.
    Partial { at: String, message: String, committed: Vec<String>, stopped: Option<(usize, usize)> },
}

/// What an apply did.
#[derive(Debug, Default)]
pub struct Applied {
    pub migrations: usize,
    pub assets: usize,
}

fn at(step: &MigrationStep, line: usize) -> String {
    format!("migration {} `{}` ({}:{line})", step.version, step.name, step.path)
}

/// Runs the migrations and writes the assets.
#[allow(clippy::too_many_arguments)]
pub fn apply(
    driver: &mut dyn Driver,
    target: &Target,
    history_table: &str,
    release_id: &str,
    members: &BTreeMap<String, Arc<str>>,
    steps: &Steps,
    now: &str,
    crash_after: Option<usize>,
    progress: &mut Progress,
) -> Result<Applied, ApplyFailure> {
    // Test hook (`MIGRATE_TEST_CRASH_AFTER`): the process dies, as with `kill -9`, before its
    // Nth side effect, so that tests can prove a re-run finishes the job from any point.
    let mut effects = 0usize;
    let mut effect = || {
        effects += 1;
        if crash_after == Some(effects) {
            std::process::abort();
        }
    };
    let mut committed: Vec<String> = Vec::new();
    let mut applied = Applied::default();
    let failed = |committed: &Vec<String>, at: String, e: DbError| {
        if committed.is_empty() {
            ApplyFailure::RolledBack { at, message: e.0 }
        } else {
            ApplyFailure::Partial { at, message: e.0, committed: committed.clone(), stopped: None }
        }
    };
    // A failure inside a migration run statement by statement: `done` of them are committed.
    let stopped = |committed: &Vec<String>, index: usize, done: usize, at: String, e: DbError| {
        if committed.is_empty() && done == 0 {
            ApplyFailure::RolledBack { at, message: e.0 }
        } else {
            ApplyFailure::Partial { at, message: e.0, committed: committed.clone(), stopped: Some((index, done)) }
        }
    };
    effect();
    let start = |driver: &mut dyn Driver| driver.begin().and_then(|_| driver.ensure_history(history_table));
    start(driver).map_err(|e| failed(&committed, "the start of the transaction".into(), e))?;
    let mut in_transaction: Vec<String> = Vec::new();
    for (index, step) in steps.migrations.iter().enumerate() {
        progress.item(index, || format!("{} `{}`", step.version, step.name));
        let started = Instant::now();
        let total = u32::try_from(step.statements.len()).unwrap_or(u32::MAX);
        let row = |done: u32, duration_ms: u64| NewRow {
            version: &step.version,
            name: &step.name,
            sha256: step.file_sha256.as_str(),
            statements_done: done,
            statements_total: total,
            release_id,
            applied_at: now,
            duration_ms,
        };
        if step.transactional && driver.transactional_ddl() && step.start_at == 0 {
            let texts: Vec<&str> = step.statements.iter().map(|s| s.text.as_str()).collect();
            effect();
            if let Err((e, index)) = driver.execute_all(&texts) {
                let _ = driver.rollback();
                let place = match index.and_then(|i| step.statements.get(i)) {
                    Some(statement) => at(step, statement.line),
                    None => format!(
                        "migration {} `{}` ({}, statement not identified by the database)",
                        step.version, step.name, step.path
                    ),
                };
                return Err(failed(&committed, place, e));
            }
            effect();
            let done = if step.revert {
                driver.unrecord(history_table, &step.version)
            } else {
                driver.record(history_table, &row(total, elapsed_ms(started)))
            };
            if let Err(e) = done {
                let _ = driver.rollback();
                return Err(failed(&committed, at(step, 1), e));
            }
            in_transaction.push(format!("migration {} `{}`", step.version, step.name));
        } else {
            // Commit what came before, then run this one statement by statement, its row marked
            // unfinished first, so that a failure leaves a record of exactly what ran; the
            // journal names the statements, so that even a crash leaves that record.
            effect();
            driver.commit().map_err(|e| failed(&committed, at(step, 1), e))?;
            committed.append(&mut in_transaction);
            let mut journal = crate::core::state::PartialMigration {
                version: step.version.clone(),
                statements: step.statements.iter().map(|s| s.sha256.clone()).collect(),
                started: step.start_at,
            };
            if let Err(e) = target.write_journal(&journal) {
                return Err(failed(&committed, at(step, 1), DbError(e.to_string())));
            }
            let resumed = u32::try_from(step.start_at).unwrap_or(u32::MAX);
            effect();
            if !step.revert {
                driver
                    .record(history_table, &row(resumed, 0))
                    .map_err(|e| stopped(&committed, index, step.start_at, at(step, 1), e))?;
            }
            for (k, statement) in step.statements.iter().enumerate().skip(step.start_at) {
                journal.started = k + 1;
                if let Err(e) = target.write_journal(&journal) {
                    return Err(stopped(&committed, index, k, at(step, statement.line), DbError(e.to_string())));
                }
                effect();
                if let Err(e) = driver.execute(&statement.text) {
                    return Err(stopped(&committed, index, k, at(step, statement.line), e));
                }
                let done = u32::try_from(k + 1).unwrap_or(u32::MAX);
                effect();
                if !step.revert
                    && let Err(e) = driver.record(history_table, &row(done, elapsed_ms(started)))
                {
                    return Err(stopped(&committed, index, k + 1, at(step, statement.line), e));
                }
                committed.push(format!("statement {}/{} of migration {} `{}`", k + 1, total, step.version, step.name));
            }
            if step.revert
                && let Err(e) = driver.unrecord(history_table, &step.version)
            {
                return Err(failed(&committed, at(step, 1), e));
            }
            effect();
            driver.begin().map_err(|e| failed(&committed, at(step, 1), e))?;
        }
        applied.migrations += 1;
    }
    effect();
    driver.commit().map_err(|e| failed(&committed, "COMMIT".into(), e))?;
    committed.append(&mut in_transaction);

    progress.task("writing assets", steps.assets.len());
    for (index, step) in steps.assets.iter().enumerate() {
        progress.item(index, || step.id.to_string());
        effect();
        let result = match &step.member {
            Some(member) => match members.get(member) {
                Some(text) => target.write_asset(&step.id, text.as_bytes()),
                None => Err(TargetError::Io(format!("the bundle has no member `{member}`"))),
            },
            None => target.delete_asset(&step.id),
        };
        if let Err(e) = result {
            return Err(ApplyFailure::Partial {
                at: format!("asset `{}`", step.id),
                message: e.to_string(),
                committed,
                stopped: None,
            });
        }
        committed.push(format!("asset `{}`", step.id));
        applied.assets += 1;
    }
    Ok(applied)
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
