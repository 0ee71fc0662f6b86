//! A database in memory for tests, stricter than the real ones: it keeps what is committed apart
//! from what an open transaction holds, counts every call any of its connections makes, and fails
//! or dies at the call a test names. Dying unwinds (a test catches it) and takes the
//! connection's open transaction with it, as a killed process's session does on a server.
//!
//! Two flavours: transactional DDL (SQLite, PostgreSQL: everything waits for COMMIT) and DDL
//! that commits by itself (MySQL: every statement commits what came before, and itself).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use super::{DbError, Driver, NewRow};
use crate::core::identity::IdentityRow;
use crate::core::model::{Dialect, Version};
use crate::core::state::HistoryRow;

/// What the database holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contents {
    pub history_table: bool,
    pub history: BTreeMap<Version, HistoryRow>,
    /// Every statement that took effect, in order.
    pub executed: Vec<String>,
    /// The target's identity row.
    pub identity: Option<IdentityRow>,
}

/// Where a call fails or dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The Nth call returns an error and has no effect.
    FailAt(usize),
    /// The process dies at the Nth call, before it has any effect.
    DieBefore(usize),
    /// The process dies at the Nth call, after its effect (a statement that committed by itself,
    /// whose answer never arrived).
    DieAfter(usize),
}

#[derive(Debug, Default)]
struct Server {
    committed: Contents,
    calls: usize,
    fault: Option<Fault>,
}

/// The database: shared by every connection a test opens.
#[derive(Debug, Clone, Default)]
pub struct FakeDb {
    server: Rc<RefCell<Server>>,
    transactional_ddl: bool,
}

impl FakeDb {
    pub fn new(transactional_ddl: bool) -> FakeDb {
        FakeDb { server: Rc::default(), transactional_ddl }
    }

    pub fn connect(&self) -> FakeDriver {
        FakeDriver { db: self.clone(), open: None }
    }

    pub fn committed(&self) -> Contents {
        self.server.borrow().committed.clone()
    }

    pub fn calls(&self) -> usize {
        self.server.borrow().calls
    }

    pub fn set_fault(&self, fault: Option<Fault>) {
        let mut server = self.server.borrow_mut();
        server.fault = fault;
        server.calls = 0;
    }
}

/// One connection.
pub struct FakeDriver {
    db: FakeDb,
    /// The open transaction's view of the contents.
    open: Option<Contents>,
}

impl FakeDriver {
    /// Counts the call and applies the fault that names it; `effect` changes the contents.
    fn call(&mut self, effect: impl FnOnce(&mut Contents) -> Result<(), DbError>) -> Result<(), DbError> {
        let fault = {
            let mut server = self.db.server.borrow_mut();
            server.calls += 1;
            let n = server.calls;
            match server.fault {
                Some(Fault::FailAt(k)) if k == n => Some(Fault::FailAt(k)),
                Some(Fault::DieBefore(k)) if k == n => Some(Fault::DieBefore(k)),
                Some(Fault::DieAfter(k)) if k == n => Some(Fault::DieAfter(k)),
                _ => None,
            }
        };
        match fault {
            Some(Fault::FailAt(n)) => return Err(DbError::Statement(format!("injected failure at call {n}"))),
            Some(Fault::DieBefore(n)) => panic!("injected death before call {n}"),
            _ => {}
        }
        let result = match &mut self.open {
            Some(open) => effect(open),
            None => effect(&mut self.db.server.borrow_mut().committed),
        };
        if let Some(Fault::DieAfter(n)) = fault {
            panic!("injected death after call {n}");
        }
        result
    }

    /// Where DDL commits by itself, a statement first commits the open transaction.
    fn implicit_commit(&mut self) {
        if !self.db.transactional_ddl
            && let Some(open) = self.open.take()
        {
            self.db.server.borrow_mut().committed = open;
        }
    }
}

impl Driver for FakeDriver {
    fn dialect(&self) -> Dialect {
        if self.db.transactional_ddl { Dialect::Postgres } else { Dialect::Mysql }
    }

    fn transactional_ddl(&self) -> bool {
        self.db.transactional_ddl
    }

    fn read_history(&mut self, _table: &str) -> Result<Option<Vec<HistoryRow>>, DbError> {
        let contents = match &self.open {
            Some(open) => open.clone(),
            None => self.db.committed(),
        };
        Ok(contents.history_table.then(|| contents.history.values().cloned().collect()))
    }

    fn has_other_tables(&mut self, _table: &str) -> Result<bool, DbError> {
        Ok(!self.db.committed().executed.is_empty())
    }

    fn begin(&mut self) -> Result<(), DbError> {
        if self.open.is_some() {
            return Err(DbError::Statement("a transaction is already open".into()));
        }
        self.call(|_| Ok(()))?;
        self.open = Some(self.db.committed());
        Ok(())
    }

    fn commit(&mut self) -> Result<(), DbError> {
        self.call(|_| Ok(()))?;
        if let Some(open) = self.open.take() {
            self.db.server.borrow_mut().committed = open;
        }
        Ok(())
    }

    fn rollback(&mut self) -> Result<(), DbError> {
        self.open = None;
        Ok(())
    }

    fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        self.implicit_commit();
        let sql = sql.to_string();
        self.call(move |contents| {
            contents.executed.push(sql);
            Ok(())
        })
    }

    fn ensure_history(&mut self, _table: &str) -> Result<(), DbError> {
        self.implicit_commit();
        self.call(|contents| {
            contents.history_table = true;
            Ok(())
        })
    }

    fn drop_history(&mut self, _table: &str) -> Result<(), DbError> {
        self.implicit_commit();
        self.call(|contents| {
            if !contents.history.is_empty() {
                return Err(DbError::Statement("the history table is not empty".into()));
            }
            contents.history_table = false;
            Ok(())
        })
    }

    fn record(&mut self, _table: &str, row: &NewRow<'_>) -> Result<(), DbError> {
        let row = HistoryRow {
            version: row.version.clone(),
            name: row.name.to_string(),
            sha256: crate::core::hash::ContentHash::try_from(row.sha256.to_string()).map_err(DbError::Statement)?,
            statements_done: row.statements_done,
            statements_total: row.statements_total,
            applied_by: "import".into(),
        };
        self.call(move |contents| {
            if !contents.history_table {
                return Err(DbError::Statement("there is no history table".into()));
            }
            contents.history.insert(row.version.clone(), row);
            Ok(())
        })
    }

    fn unrecord(&mut self, _table: &str, version: &Version) -> Result<(), DbError> {
        let version = version.clone();
        self.call(move |contents| {
            contents.history.remove(&version);
            Ok(())
        })
    }

    fn read_identity(&mut self, _table: &str) -> Result<Option<IdentityRow>, DbError> {
        Ok(match &self.open {
            Some(open) => open.identity.clone(),
            None => self.db.committed().identity,
        })
    }

    fn ensure_identity(&mut self, _table: &str) -> Result<(), DbError> {
        self.implicit_commit();
        self.call(|_| Ok(()))
    }

    fn record_identity(&mut self, _table: &str, row: &IdentityRow) -> Result<(), DbError> {
        let row = row.clone();
        self.call(move |contents| {
            contents.identity = Some(row);
            Ok(())
        })
    }
}
