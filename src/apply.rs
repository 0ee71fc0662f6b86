//! Runs a decision's steps through a `Driver` and the target folder: the only place that orders
//! side effects. The whole release runs in one transaction where the migrations allow it; a
//! `-- migrate:no-transaction` migration (every migration on MySQL, whose DDL commits by itself)
//! runs between commits, its progress recorded statement by statement. Assets are written after
//! the database commit, then the state.
//!
//! What a failure reports is exactly what is committed: `RolledBack` only when the target is as
//! it was (a statement-by-statement migration whose first statement fails has its fresh history
//! row removed again, and a history table that this import created outside a transaction is
//! dropped again), `Partial` otherwise, naming the migration left part-way and how many of its
//! statements returned.
//!
//! Crash safety: before the first statement that runs outside a transaction, the journal names
//! every such migration of the release (one durable write per import). A history row left
//! part-way by a crash, of a migration the journal names, may have had a statement in flight;
//! `decide` refuses to guess. Everything inside a transaction is undone by the database itself.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use crate::core::decide::{MigrationStep, Steps};
use crate::core::identity::IdentityRow;
use crate::core::model::{ItemId, Version};
use crate::core::state::{JOURNAL_FORMAT_VERSION, Journal, JournalMigration};
use crate::db::{DbError, Driver, NewRow, Violation};
use crate::progress::Progress;
use crate::target::{Target, TargetError};

/// Why an apply stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    Database(DbError),
    /// The target folder (journal, assets) could not be written.
    Target(String),
    /// Rows that break a foreign key after the release ran (SQLite).
    ForeignKeys(Vec<Violation>),
}

impl From<DbError> for Cause {
    fn from(e: DbError) -> Self {
        Cause::Database(e)
    }
}

impl From<TargetError> for Cause {
    fn from(e: TargetError) -> Self {
        Cause::Target(e.to_string())
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cause::Database(e) => write!(f, "{e}"),
            Cause::Target(e) => write!(f, "{e}"),
            Cause::ForeignKeys(violations) => {
                let shown: Vec<String> = violations.iter().take(5).map(ToString::to_string).collect();
                let more = violations.len().saturating_sub(shown.len());
                let more = if more > 0 { format!(", and {more} more") } else { String::new() };
                write!(f, "foreign keys are broken: {}{more}", shown.join("; "))
            }
        }
    }
}

/// A change an apply committed, for the report of a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    HistoryTable,
    Migration {
        version: Version,
        name: String,
    },
    /// Statements `from..=to` (1-based) of `of`, run one at a time.
    Statements {
        version: Version,
        name: String,
        from: usize,
        to: usize,
        of: usize,
    },
    Asset(ItemId),
}

/// Says what is committed in a few words: a long MySQL release is hundreds of statements.
pub fn describe(committed: &[Committed]) -> String {
    let mut parts = Vec::new();
    let migrations: Vec<String> = committed
        .iter()
        .filter_map(|c| match c {
            Committed::Migration { version, name } => Some(format!("{version} `{name}`")),
            _ => None,
        })
        .collect();
    if committed.contains(&Committed::HistoryTable) {
        parts.push("the history table".to_string());
    }
    match migrations.as_slice() {
        [] => {}
        [one] => parts.push(format!("migration {one}")),
        [first, .., last] if migrations.len() > 4 => {
            parts.push(format!("{} migrations ({first} … {last})", migrations.len()))
        }
        all => parts.push(format!("migrations {}", all.join(", "))),
    }
    for c in committed {
        if let Committed::Statements { version, name, from, to, of } = c {
            parts.push(if from == to {
                format!("statement {to} of {of} of migration {version} `{name}`")
            } else {
                format!("statements {from}–{to} of {of} of migration {version} `{name}`")
            });
        }
    }
    let assets: Vec<String> = committed
        .iter()
        .filter_map(|c| match c {
            Committed::Asset(id) => Some(format!("`{id}`")),
            _ => None,
        })
        .collect();
    match assets.len() {
        0 => {}
        1..=3 => parts.push(format!("asset {}", assets.join(", "))),
        n => parts.push(format!("{n} assets")),
    }
    parts.join(", ")
}

/// How an apply failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyFailure {
    /// Nothing changed: the target is exactly as before.
    RolledBack { at: String, cause: Cause },
    /// Some changes are committed; `committed` says which, and `stopped` names the migration
    /// (its index in the steps) left part-way with the number of its statements that returned.
    Partial { at: String, cause: Cause, committed: Vec<Committed>, stopped: Option<(usize, usize)> },
}

/// What an apply did.
#[derive(Debug, Default)]
pub struct Applied {
    pub migrations: usize,
    pub assets: usize,
    /// The target's record (`ApplyContext::identity`) committed with the last migrations.
    pub identity_written: bool,
}

/// What an apply needs besides the driver and the steps.
pub struct ApplyContext<'a> {
    pub target: &'a Target,
    pub history_table: &'a str,
    /// Whether the history table existed before this import.
    pub history_existed: bool,
    pub release_id: &'a str,
    pub members: &'a BTreeMap<String, Arc<str>>,
    pub now: &'a str,
    /// The target's record as it will be once the release is applied, and whether its table
    /// exists: written in the last transaction, so that it commits with the migrations (when
    /// the last migration ran outside a transaction, the import writes it afterwards).
    pub identity: Option<(&'a IdentityRow, bool)>,
    /// Test hook (`MIGRATE_TEST_CRASH_AFTER`): the process dies, as with `kill -9`, before its
    /// Nth side effect, so that tests can prove a re-run finishes the job from any point.
    pub crash_after: Option<usize>,
}

fn at(step: &MigrationStep, line: usize) -> String {
    format!("migration {} `{}` ({}:{line})", step.version, step.name, step.path)
}

/// Whether a migration runs statement by statement between commits.
fn outside_transaction(step: &MigrationStep, driver: &dyn Driver) -> bool {
    !(step.transactional && driver.transactional_ddl() && step.start_at == 0)
}

/// The side effects of one apply, in order, with what each committed.
struct Run<'a, 'd> {
    driver: &'d mut dyn Driver,
    cx: &'a ApplyContext<'a>,
    effects: usize,
    /// Changes that are committed, for the report.
    committed: Vec<Committed>,
    /// Changes of the open transaction, committed with it.
    in_transaction: Vec<Committed>,
    /// A transaction is open.
    open: bool,
    /// This import created the history table, and the creation is committed.
    created_history: bool,
    /// Foreign-key violations before the open transaction's first migration ran: only new ones
    /// refuse it. `None` while no migration ran in it, when there is nothing to check (a scan of
    /// every child table is not free on a large database).
    violations_before: Option<Vec<Violation>>,
}

impl Run<'_, '_> {
    fn effect(&mut self) {
        self.effects += 1;
        if self.cx.crash_after == Some(self.effects) {
            std::process::abort();
        }
    }

    /// Fails with nothing of this import committed (then the target is as before), or with
    /// what is. The open transaction, if any, has been rolled back.
    fn fail(&mut self, at: String, cause: impl Into<Cause>) -> ApplyFailure {
        let cause = cause.into();
        self.in_transaction.clear();
        if self.created_history {
            // An empty history table this import made is dropped again: then the target is
            // exactly as before.
            if self.committed.is_empty() && self.driver.drop_history(self.cx.history_table).is_ok() {
                self.created_history = false;
            } else {
                self.committed.insert(0, Committed::HistoryTable);
            }
        }
        if self.committed.is_empty() {
            ApplyFailure::RolledBack { at, cause }
        } else {
            ApplyFailure::Partial { at, cause, committed: self.committed.clone(), stopped: None }
        }
    }

    /// Fails inside a statement-by-statement migration, `ran` of its statements having returned.
    fn stopped(&mut self, at: String, cause: impl Into<Cause>, index: usize, ran: usize) -> ApplyFailure {
        if std::mem::take(&mut self.created_history) {
            self.committed.insert(0, Committed::HistoryTable);
        }
        ApplyFailure::Partial {
            at,
            cause: cause.into(),
            committed: self.committed.clone(),
            stopped: Some((index, ran)),
        }
    }

    /// Opens a transaction, if none is open.
    fn begin(&mut self) -> Result<(), Cause> {
        if self.open {
            return Ok(());
        }
        self.effect();
        self.driver.begin()?;
        self.open = true;
        self.violations_before = None;
        Ok(())
    }

    /// Notes the foreign-key violations already there, before the open transaction's first
    /// migration runs.
    fn note_violations(&mut self) -> Result<(), Cause> {
        if self.violations_before.is_none() {
            self.violations_before = Some(self.driver.constraint_violations()?);
        }
        Ok(())
    }

    /// The rows that break a foreign key now and did not `before`, the first few described.
    fn broken_since(&mut self, before: &[Violation]) -> Result<Vec<Violation>, Cause> {
        let mut new = crate::db::new_violations(before, self.driver.constraint_violations()?);
        for violation in new.iter_mut().take(5) {
            violation.row = self.driver.describe(violation);
        }
        Ok(new)
    }

    /// Rolls the open transaction back, if one is open.
    fn rollback(&mut self) {
        if std::mem::take(&mut self.open) {
            let _ = self.driver.rollback();
        }
    }

    /// Commits the open transaction, if one is open, unless it broke a foreign key (then it is
    /// rolled back).
    fn commit(&mut self) -> Result<(), Cause> {
        if !self.open {
            return Ok(());
        }
        if let Some(before) = self.violations_before.take() {
            let new = match self.broken_since(&before) {
                Ok(new) => new,
                Err(e) => {
                    self.rollback();
                    return Err(e);
                }
            };
            if !new.is_empty() {
                self.rollback();
                return Err(Cause::ForeignKeys(new));
            }
        }
        self.effect();
        self.open = false;
        if let Err(e) = self.driver.commit() {
            let _ = self.driver.rollback();
            return Err(e.into());
        }
        self.created_history |= !self.cx.history_existed;
        self.committed.append(&mut self.in_transaction);
        Ok(())
    }
}

/// Runs the migrations and writes the assets.
pub fn apply(
    driver: &mut dyn Driver,
    cx: &ApplyContext<'_>,
    steps: &Steps,
    progress: &mut Progress,
) -> Result<Applied, ApplyFailure> {
    let mut run = Run {
        driver,
        cx,
        effects: 0,
        committed: Vec::new(),
        in_transaction: Vec::new(),
        open: false,
        created_history: false,
        violations_before: None,
    };
    let mut applied = Applied::default();
    let journal = Journal {
        format_version: JOURNAL_FORMAT_VERSION,
        migrations: steps
            .migrations
            .iter()
            .filter(|step| outside_transaction(step, run.driver) && step.start_at < step.statements.len())
            .map(|step| JournalMigration {
                version: step.version.clone(),
                revert: step.revert,
                statements: step.statements.iter().map(|s| s.sha256.clone()).collect(),
            })
            .collect(),
    };
    if !journal.migrations.is_empty() {
        run.effect();
        cx.target.write_journal(&journal).map_err(|e| run.fail("the journal".into(), e))?;
    }
    run.begin().map_err(|e| run.fail("the start of the transaction".into(), e))?;
    run.effect();
    // The table exists when the history was read (under the lock, nothing drops it since).
    if !cx.history_existed
        && let Err(e) = run.driver.ensure_history(cx.history_table)
    {
        run.rollback();
        return Err(run.fail("the history table".into(), e));
    }
    // Where DDL commits by itself (MySQL), the history table exists from here on.
    run.created_history = !cx.history_existed && !run.driver.transactional_ddl();
    for (index, step) in steps.migrations.iter().enumerate() {
        progress.item(index, || format!("{} `{}`", step.version, step.name));
        let started = Instant::now();
        let total = u32::try_from(step.statements.len()).unwrap_or(u32::MAX);
        let file_sha256 = step.file_sha256.to_string();
        let row = |done: usize, duration_ms: u64| NewRow {
            version: &step.version,
            name: &step.name,
            sha256: &file_sha256,
            statements_done: u32::try_from(done).unwrap_or(u32::MAX),
            statements_total: total,
            release_id: cx.release_id,
            applied_at: cx.now,
            duration_ms,
        };
        if !outside_transaction(step, run.driver) {
            run.begin().map_err(|e| run.fail(at(step, 1), e))?;
            if let Err(e) = run.note_violations() {
                run.rollback();
                return Err(run.fail(at(step, 1), e));
            }
            let texts: Vec<&str> = step.statements.iter().map(|s| step.text_of(s)).collect();
            run.effect();
            if let Err((e, failed)) = run.driver.execute_all(&texts) {
                run.rollback();
                let place = match failed.and_then(|i| step.statements.get(i)) {
                    Some(statement) => at(step, statement.line),
                    None => format!(
                        "migration {} `{}` ({}, statement not identified by the database)",
                        step.version, step.name, step.path
                    ),
                };
                return Err(run.fail(place, e));
            }
            run.effect();
            let recorded = if step.revert {
                run.driver.unrecord(cx.history_table, &step.version)
            } else {
                run.driver.record(cx.history_table, &row(step.statements.len(), elapsed_ms(started)))
            };
            if let Err(e) = recorded {
                run.rollback();
                return Err(run.fail(at(step, 1), e));
            }
            run.in_transaction.push(Committed::Migration { version: step.version.clone(), name: step.name.clone() });
        } else {
            // Commit what came before, then run this one statement by statement, each followed
            // by its progress row, so that a failure leaves a record of exactly what ran.
            run.commit().map_err(|e| run.fail(at(step, 1), e))?;
            let resumed = step.start_at;
            let n = step.statements.len();
            // Statements outside a transaction cannot be rolled back: what they break in the
            // foreign keys is reported after them (exit 4), not kept quiet.
            let violations_before = match run.driver.constraint_violations() {
                Ok(found) => found,
                Err(e) => return Err(run.fail(at(step, 1), e)),
            };
            // A fresh migration's row says 0 of n before its first statement; an adopted one
            // (`--baseline`), or one whose statements all ran before its row caught up, is
            // recorded complete.
            if !step.revert && (resumed == 0 || resumed == n) {
                run.effect();
                run.driver.record(cx.history_table, &row(resumed, 0)).map_err(|e| run.fail(at(step, 1), e))?;
                if resumed == n {
                    run.committed.push(Committed::Migration { version: step.version.clone(), name: step.name.clone() });
                }
            }
            for (k, statement) in step.statements.iter().enumerate().skip(resumed) {
                run.effect();
                if let Err(e) = run.driver.execute(step.text_of(statement)) {
                    if k > resumed {
                        return Err(run.stopped(at(step, statement.line), e, index, k));
                    }
                    // Nothing of this migration ran in this import: its fresh history row goes
                    // again, and the target is as far as before.
                    if !step.revert && resumed == 0 && run.driver.unrecord(cx.history_table, &step.version).is_err() {
                        return Err(run.stopped(at(step, statement.line), e, index, 0));
                    }
                    return Err(run.fail(at(step, statement.line), e));
                }
                match run.committed.last_mut() {
                    Some(Committed::Statements { version, to, .. }) if *version == step.version => *to = k + 1,
                    _ => run.committed.push(Committed::Statements {
                        version: step.version.clone(),
                        name: step.name.clone(),
                        from: k + 1,
                        to: k + 1,
                        of: n,
                    }),
                }
                if !step.revert {
                    run.effect();
                    if let Err(e) = run.driver.record(cx.history_table, &row(k + 1, elapsed_ms(started))) {
                        return Err(run.stopped(at(step, statement.line), e, index, k + 1));
                    }
                }
            }
            if step.revert {
                run.effect();
                if let Err(e) = run.driver.unrecord(cx.history_table, &step.version) {
                    return Err(run.stopped(at(step, 1), e, index, n));
                }
            }
            match run.broken_since(&violations_before) {
                Ok(new) if new.is_empty() => {}
                // The migration is complete and recorded so: the failure says what it broke.
                Ok(new) => return Err(run.fail(at(step, 1), Cause::ForeignKeys(new))),
                Err(e) => return Err(run.fail(at(step, 1), e)),
            }
            // Every statement of it ran in this import: one migration, for the report.
            if let Some(last) = run.committed.last_mut()
                && matches!(last, Committed::Statements { version, from: 1, to, .. } if *version == step.version && *to == n)
            {
                *last = Committed::Migration { version: step.version.clone(), name: step.name.clone() };
            }
        }
        applied.migrations += 1;
    }
    if run.open
        && let Some((row, exists)) = cx.identity
    {
        run.effect();
        let written = if exists { Ok(()) } else { run.driver.ensure_identity(cx.history_table) }
            .and_then(|()| run.driver.record_identity(cx.history_table, row));
        if let Err(e) = written {
            run.rollback();
            return Err(run.fail("the target's record".into(), e));
        }
        applied.identity_written = true;
    }
    run.commit().map_err(|e| run.fail("COMMIT".into(), e))?;

    progress.task("writing assets", steps.assets.len());
    for (index, step) in steps.assets.iter().enumerate() {
        progress.item(index, || step.id.to_string());
        run.effect();
        let result = match &step.member {
            Some(member) => match cx.members.get(member) {
                Some(text) => cx.target.write_asset(&step.id, text.as_bytes()),
                None => Err(TargetError::Io(format!("the bundle has no member `{member}`"))),
            },
            None => cx.target.delete_asset(&step.id),
        };
        if let Err(e) = result {
            return Err(run.fail(format!("asset `{}`", step.id), e));
        }
        run.committed.push(Committed::Asset(step.id.clone()));
        applied.assets += 1;
    }
    Ok(applied)
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
