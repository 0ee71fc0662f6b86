//! SQL hazard analysis: the statements of a migration, parsed per dialect with `sqlparser`, checked
//! against the hazard rules (README: SQL hazards). Pure: text in, findings out.
//!
//! Each rule has a stable id `<category>/<rule>` and a default severity; `hazards:` in
//! `migrate.yaml` overrides by category or id (see `severity`). `-- migrate:allow <rule-id>
//! <reason>` on a statement's lines or in the comments right above it suppresses one finding of
//! that rule there; the reason is kept so that the plan can show it.

use std::collections::{BTreeMap, BTreeSet};

use sqlparser::ast::{
    AlterColumnOperation, AlterTableOperation, AlterTypeOperation, ColumnOption, ObjectType, Statement as Ast,
    TableConstraint,
};
use sqlparser::dialect::{Dialect as ParserDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;

use crate::core::model::Dialect;
use crate::core::sql_split::Statement;

pub use crate::core::project::RuleSeverity as Severity;

/// One rule: its id, default severity and what a finding says.
#[derive(Debug)]
pub struct Rule {
    pub id: &'static str,
    pub default: Severity,
    /// Why it is a hazard.
    pub explanation: &'static str,
    /// What to do instead.
    pub help: &'static str,
}

impl Rule {
    pub fn category(&self) -> &'static str {
        self.id.split_once('/').map_or(self.id, |(category, _)| category)
    }
}

use Severity::{Error, Info, Warning};

/// Every rule, by id. The defaults are per category (README: SQL hazards).
pub const RULES: &[Rule] = &[
    Rule {
        id: "destructive/drop-table",
        default: Warning,
        explanation: "dropping a table deletes its rows; a rollback cannot bring them back",
        help: "keep the table until nothing reads it, and back it up first",
    },
    Rule {
        id: "destructive/drop-column",
        default: Warning,
        explanation: "dropping a column deletes its values, and the running version may still read it",
        help: "stop reading the column in one release, drop it in a later one",
    },
    Rule {
        id: "destructive/drop-schema",
        default: Warning,
        explanation: "dropping a schema deletes everything in it",
        help: "make sure the schema is empty or backed up",
    },
    Rule {
        id: "destructive/truncate",
        default: Warning,
        explanation: "TRUNCATE deletes every row of the table",
        help: "delete only the rows meant, with a WHERE clause",
    },
    Rule {
        id: "destructive/delete-without-where",
        default: Warning,
        explanation: "DELETE without WHERE deletes every row of the table",
        help: "add a WHERE clause, or allow it with a reason",
    },
    Rule {
        id: "destructive/update-without-where",
        default: Warning,
        explanation: "UPDATE without WHERE changes every row of the table",
        help: "add a WHERE clause, or allow it with a reason",
    },
    Rule {
        id: "blue-green/rename-table",
        default: Warning,
        explanation: "the version still running queries the table by its old name",
        help: "create the new table (or a view), move readers over, drop the old name later",
    },
    Rule {
        id: "blue-green/rename-column",
        default: Warning,
        explanation: "the version still running queries the column by its old name",
        help: "add the new column, write both, move readers over, drop the old column later",
    },
    Rule {
        id: "blue-green/change-column-type",
        default: Warning,
        explanation: "the version still running may write values the new type refuses; the table may be rewritten",
        help: "add a column of the new type and backfill it, then switch readers",
    },
    Rule {
        id: "blue-green/add-column-not-null",
        default: Warning,
        explanation: "a NOT NULL column without a default makes the running version's INSERTs fail",
        help: "give the column a default, or add it nullable and set NOT NULL once every writer fills it",
    },
    Rule {
        id: "blue-green/set-not-null",
        default: Warning,
        explanation: "the running version may still insert NULL into the column",
        help: "set NOT NULL once every writer fills the column",
    },
    Rule {
        id: "locking/create-index",
        default: Warning,
        explanation: "CREATE INDEX without CONCURRENTLY blocks writes to the table while it builds",
        help: "use CREATE INDEX CONCURRENTLY in a `-- migrate:no-transaction` migration",
    },
    Rule {
        id: "locking/add-foreign-key",
        default: Warning,
        explanation: "adding a foreign key checks every row while holding locks on both tables",
        help: "add it NOT VALID, then VALIDATE CONSTRAINT in a later migration",
    },
    Rule {
        id: "locking/add-check",
        default: Warning,
        explanation: "adding a CHECK constraint scans the table while blocking writes",
        help: "add it NOT VALID, then VALIDATE CONSTRAINT in a later migration",
    },
    Rule {
        id: "locking/mysql-alter-table",
        default: Warning,
        explanation: "without ALGORITHM and LOCK, MySQL may copy the table and block writes while it does",
        help: "say ALGORITHM=INPLACE (or INSTANT), LOCK=NONE, so that MySQL refuses rather than lock",
    },
    Rule {
        id: "transaction/concurrently",
        default: Error,
        explanation: "CREATE/DROP INDEX CONCURRENTLY and REINDEX CONCURRENTLY cannot run inside a transaction",
        help: "put the statement in its own migration with `-- migrate:no-transaction`",
    },
    Rule {
        id: CONTROL_STATEMENT,
        default: Error,
        explanation: "a migration that begins, commits or rolls back a transaction itself breaks the one migrate runs it in: what is committed would no longer match the history",
        help: "remove the statement: migrate opens the transaction the migrations run in and records them in it (a statement that cannot run in a transaction goes in a `-- migrate:no-transaction` migration); this rule cannot be allowed or turned off",
    },
    Rule {
        id: "transaction/vacuum",
        default: Error,
        explanation: "VACUUM cannot run inside a transaction",
        help: "put the statement in its own migration with `-- migrate:no-transaction`",
    },
    Rule {
        id: "transaction/alter-type-add-value",
        default: Warning,
        explanation: "ALTER TYPE ... ADD VALUE cannot run in a transaction before PostgreSQL 12, and since then the new value cannot be used in the same transaction",
        help: "put it in its own `-- migrate:no-transaction` migration, before the migrations that use the value",
    },
    Rule {
        id: "not-rollbackable/mysql-ddl",
        default: Info,
        explanation: "MySQL commits every DDL statement by itself: a failure part-way leaves the earlier statements applied (import records such migrations statement by statement)",
        help: "keep one DDL statement per migration where you can",
    },
    Rule {
        id: "not-rollbackable/mysql-mixed",
        default: Warning,
        explanation: "this MySQL migration mixes DDL with data changes: the DDL commits the data changes before it, which then cannot be rolled back either",
        help: "put the data changes in a migration of their own",
    },
    Rule {
        id: "unparsed/statement",
        default: Warning,
        explanation: "the SQL parser could not read this statement, so it was not checked for hazards",
        help: "check it by hand; `-- migrate:allow unparsed/statement <reason>` records that you did",
    },
];

/// The rule for transaction control inside a migration: always an error, never allowed, because
/// `import` refuses such a migration whatever `migrate.yaml` says.
pub const CONTROL_STATEMENT: &str = "transaction/control-statement";

/// Returns what a top-level statement does to the transaction, if it is transaction control:
/// `BEGIN`, `START TRANSACTION`, `COMMIT`, `END`, `ROLLBACK`, `ABORT`, `SAVEPOINT`, `RELEASE`,
/// PostgreSQL's `PREPARE TRANSACTION`, MySQL's `XA` and `SET autocommit`. A routine's body is
/// part of its `CREATE` statement and never top-level here; MariaDB's `BEGIN NOT ATOMIC … END`
/// is a block, not a transaction.
pub fn transaction_control(dialect: Dialect, text: &str) -> Option<&'static str> {
    if dialect == Dialect::Mysql && sets_autocommit(text) {
        return Some("SET autocommit");
    }
    let mut words = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_uppercase)
        .filter(|w| !matches!(w.as_str(), "SESSION" | "LOCAL"));
    let first = words.next()?;
    let second = words.next().unwrap_or_default();
    let mysql = dialect == Dialect::Mysql;
    Some(match (first.as_str(), second.as_str()) {
        ("BEGIN", "NOT") if mysql => return None,
        ("BEGIN", _) => "BEGIN",
        ("START", "TRANSACTION") => "START TRANSACTION",
        ("COMMIT", _) => "COMMIT",
        ("END", _) if !mysql => "END",
        ("ROLLBACK", _) => "ROLLBACK",
        ("ABORT", _) if dialect == Dialect::Postgres => "ABORT",
        ("SAVEPOINT", _) => "SAVEPOINT",
        ("RELEASE", _) => "RELEASE",
        ("PREPARE", "TRANSACTION") if dialect == Dialect::Postgres => "PREPARE TRANSACTION",
        ("XA", _) if mysql => "XA",
        // LOCK TABLES commits what came before, and then no other table (the history among
        // them) may be touched until UNLOCK TABLES.
        ("LOCK", "TABLE" | "TABLES") if mysql => "LOCK TABLES",
        ("UNLOCK", _) if mysql => "UNLOCK TABLES",
        _ => return None,
    })
}

/// Whether a MySQL `SET` statement assigns `autocommit`, among any other assignments
/// (`SET sql_mode = '', autocommit = 0`), in any scope (`@@autocommit`, `SESSION autocommit`,
/// `@@session.autocommit`). Values are skipped, so a string that says autocommit is not one.
fn sets_autocommit(text: &str) -> bool {
    let trimmed = text.trim_start();
    if !trimmed.get(..3).is_some_and(|w| w.eq_ignore_ascii_case("SET"))
        || !trimmed[3..].starts_with(|c: char| c.is_whitespace())
    {
        return false;
    }
    // The assignments, split at commas outside quotes and parentheses.
    let (mut depth, mut quote, mut start) = (0usize, None, 3usize);
    let mut assignments = Vec::new();
    for (i, c) in trimmed.char_indices().skip(3) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth = depth.saturating_sub(1),
            (None, ',') if depth == 0 => {
                assignments.push(&trimmed[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    assignments.push(&trimmed[start..]);
    assignments.iter().any(|assignment| {
        let target = assignment.split(['=', ':']).next().unwrap_or("").trim().trim_start_matches('@');
        let target = target.rsplit(['.', ' ']).next().unwrap_or("");
        target.eq_ignore_ascii_case("autocommit")
    })
}

pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// The severity in force: `hazards:` overrides by rule id, else by category, else the default.
pub fn severity(rule: &Rule, overrides: &BTreeMap<String, Severity>) -> Severity {
    if rule.id == CONTROL_STATEMENT {
        return Error;
    }
    overrides.get(rule.id).or_else(|| overrides.get(rule.category())).copied().unwrap_or(rule.default)
}

/// A hazard found in one statement (or, for the per-migration rules, at the migration's first).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Hazard {
    pub rule: &'static str,
    pub severity: Severity,
    /// 1-based line and column in the section's text.
    pub line: usize,
    pub column: usize,
    /// What the statement does, e.g. "DROP TABLE users".
    pub message: String,
    /// The reason of a `-- migrate:allow` that suppresses it; then it does not count.
    pub allowed: Option<String>,
}

/// What a migration's analysis needs to know beyond its text.
pub struct Context<'a> {
    pub dialect: Dialect,
    pub no_transaction: bool,
    /// `hazards:` of `migrate.yaml`.
    pub overrides: &'a BTreeMap<String, Severity>,
    /// Tables created earlier in the same release (lower-cased, unqualified); statements add to it.
    pub created_tables: &'a mut BTreeSet<String>,
}

/// A statement as read: a rule its first words decide (what the parser may not read), its
/// syntax tree, or why the parser could not read it. Parsing is the costly part and needs no
/// context, so callers with many migrations may parse them in parallel.
#[derive(Debug)]
pub enum Parsed {
    Keyword {
        rule: &'static str,
        message: &'static str,
    },
    /// A statement some rule looks into.
    Ast(Box<Ast>),
    /// A statement no rule looks into (an INSERT, a SELECT…): only whether it is DDL or changes
    /// data is kept, so that a data migration of a million statements holds no syntax trees.
    Plain {
        ddl: bool,
        data: bool,
    },
    Unparsed(String),
}

/// Reads one statement.
pub fn parse(dialect: Dialect, statement: &Statement) -> Parsed {
    if let Some(message) = transaction_control(dialect, &statement.text) {
        return Parsed::Keyword { rule: CONTROL_STATEMENT, message };
    }
    let words = leading_words(&statement.text, 4);
    let word = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    match (word(0), word(1), word(2)) {
        ("VACUUM", ..) => return Parsed::Keyword { rule: "transaction/vacuum", message: "VACUUM" },
        ("REINDEX", ..) if words.iter().any(|w| w == "CONCURRENTLY") => {
            return Parsed::Keyword { rule: "transaction/concurrently", message: "REINDEX CONCURRENTLY" };
        }
        ("DROP", "INDEX", "CONCURRENTLY") => {
            return Parsed::Keyword { rule: "transaction/concurrently", message: "DROP INDEX CONCURRENTLY" };
        }
        _ => {}
    }
    match Parser::parse_sql(parser_dialect(dialect).as_ref(), &statement.text) {
        Ok(mut asts) if asts.len() == 1 => {
            let ast = asts.remove(0);
            if has_rules(&ast) {
                Parsed::Ast(Box::new(ast))
            } else {
                let (ddl, data) = kind(&ast);
                Parsed::Plain { ddl, data }
            }
        }
        Ok(_) => Parsed::Unparsed("the parser read this as more or less than one statement".into()),
        Err(e) => Parsed::Unparsed(format!("the parser could not read it: {e}")),
    }
}

/// Whether a rule of `statement_hazards` looks into this kind of statement.
fn has_rules(ast: &Ast) -> bool {
    matches!(
        ast,
        Ast::CreateTable(_)
            | Ast::Drop { .. }
            | Ast::Truncate(_)
            | Ast::Delete(_)
            | Ast::Update(_)
            | Ast::RenameTable(_)
            | Ast::CreateIndex(_)
            | Ast::AlterType(_)
            | Ast::AlterTable(_)
    )
}

/// Where a statement is, which is all its hazards need of it once it is read: its start, and
/// its last line (a `-- migrate:allow` applies between the previous statement and that line).
#[derive(Debug, Clone, Copy)]
pub struct Place {
    pub line: usize,
    pub column: usize,
    pub last_line: usize,
}

impl Place {
    pub fn of(statement: &Statement) -> Place {
        Place { line: statement.line, column: statement.column, last_line: last_line(statement) }
    }
}

/// Analyses the statements of one migration section (`text` is what they were split from),
/// parsing one statement at a time.
pub fn analyse(text: &str, statements: &[Statement], context: &mut Context<'_>) -> Vec<Hazard> {
    let dialect = context.dialect;
    analyse_parsed(text, statements.iter().map(|s| (Place::of(s), parse(dialect, s))), context)
}

/// `analyse`, over statements the caller splits and parses (in order: where each is, and its
/// reading), so that no caller need hold a section's statements or syntax trees together.
pub fn analyse_parsed(
    text: &str,
    statements: impl IntoIterator<Item = (Place, Parsed)>,
    context: &mut Context<'_>,
) -> Vec<Hazard> {
    let allows = allow_directives(text);
    // Each hazard with its statement's place and the last line of the statement before it.
    let mut found: Vec<(Place, usize, &'static str, String)> = Vec::new();
    let mut ddl: Option<(Place, usize)> = None;
    let mut data = false;
    let mut previous_end = 0;
    for (place, read) in statements {
        let after = std::mem::replace(&mut previous_end, place.last_line);
        let mut add = |rule: &'static str, message: String| found.push((place, after, rule, message));
        match &read {
            Parsed::Keyword { rule, message } => {
                let in_transaction = !context.no_transaction
                    && (context.dialect == Dialect::Postgres
                        || (context.dialect == Dialect::Sqlite && *rule == "transaction/vacuum"));
                if *rule == CONTROL_STATEMENT || in_transaction {
                    add(rule, message.to_string());
                }
            }
            Parsed::Unparsed(why) => add("unparsed/statement", why.clone()),
            Parsed::Plain { ddl: is_ddl, data: is_data } => {
                if *is_ddl && ddl.is_none() {
                    ddl = Some((place, after));
                }
                data |= is_data;
            }
            Parsed::Ast(ast) => {
                statement_hazards(ast, context, &mut add);
                let (is_ddl, is_data) = kind(ast);
                if is_ddl && ddl.is_none() {
                    ddl = Some((place, after));
                }
                data |= is_data;
            }
        }
    }
    if context.dialect == Dialect::Mysql
        && let Some((place, after)) = ddl
    {
        found.push((place, after, "not-rollbackable/mysql-ddl", "DDL commits by itself".into()));
        if data {
            found.push((place, after, "not-rollbackable/mysql-mixed", "DDL and data changes in one migration".into()));
        }
    }
    let mut hazards = Vec::new();
    for (place, previous_end, rule_id, message) in found {
        let Some(rule) = rule(rule_id) else { continue };
        let severity = severity(rule, context.overrides);
        if severity == Severity::Off {
            continue;
        }
        let allowed = allows
            .iter()
            .find(|a| a.rule == rule_id && a.line > previous_end && a.line <= place.last_line)
            .filter(|_| rule_id != CONTROL_STATEMENT)
            .map(|a| a.reason.clone());
        hazards.push(Hazard { rule: rule.id, severity, line: place.line, column: place.column, message, allowed });
    }
    hazards
}

fn parser_dialect(dialect: Dialect) -> Box<dyn ParserDialect> {
    match dialect {
        Dialect::Sqlite => Box::new(SQLiteDialect {}),
        Dialect::Postgres => Box::new(PostgreSqlDialect {}),
        Dialect::Mysql => Box::new(MySqlDialect {}),
    }
}

/// The last line a statement's text reaches, counting a trailing comment on that line.
fn last_line(statement: &Statement) -> usize {
    statement.line + statement.text.matches('\n').count()
}

/// The first `n` words of a statement, upper-cased.
fn leading_words(text: &str, n: usize) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == '(' || c == ';')
        .filter(|w| !w.is_empty())
        .take(n)
        .map(str::to_ascii_uppercase)
        .collect()
}

struct Allow {
    line: usize,
    rule: String,
    reason: String,
}

/// Every `-- migrate:allow <rule-id> <reason>` in the text, with its line. One without a reason
/// is not an allowance (catalog reports it).
fn allow_directives(text: &str) -> Vec<Allow> {
    let mut allows = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let Some(at) = line.find("-- migrate:allow") else { continue };
        let mut rest = line[at + "-- migrate:allow".len()..].split_whitespace();
        let (Some(rule), reason) = (rest.next(), rest.collect::<Vec<_>>().join(" ")) else { continue };
        if !reason.is_empty() {
            allows.push(Allow { line: index + 1, rule: rule.to_string(), reason });
        }
    }
    allows
}

/// Whether a statement is DDL, and whether it changes data.
fn kind(ast: &Ast) -> (bool, bool) {
    match ast {
        Ast::Insert(_) | Ast::Update(_) | Ast::Delete(_) => (false, true),
        Ast::Query(_) | Ast::Set(_) | Ast::Call(_) => (false, false),
        _ => (true, false),
    }
}

fn unqualified(name: &sqlparser::ast::ObjectName) -> String {
    name.0.last().map(|part| part.to_string().trim_matches(['"', '`']).to_ascii_lowercase()).unwrap_or_default()
}

fn statement_hazards(ast: &Ast, context: &mut Context<'_>, add: &mut impl FnMut(&'static str, String)) {
    let dialect = context.dialect;
    match ast {
        Ast::CreateTable(create) => {
            context.created_tables.insert(unqualified(&create.name));
        }
        Ast::Drop { object_type, names, .. } => {
            let list = || names.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            match object_type {
                ObjectType::Table => add("destructive/drop-table", format!("DROP TABLE {}", list())),
                ObjectType::Schema => add("destructive/drop-schema", format!("DROP SCHEMA {}", list())),
                _ => {}
            }
        }
        Ast::Truncate(truncate) => {
            let tables = truncate.table_names.iter().map(|t| t.name.to_string()).collect::<Vec<_>>().join(", ");
            add("destructive/truncate", format!("TRUNCATE {tables}"));
        }
        Ast::Delete(delete) if delete.selection.is_none() => {
            add("destructive/delete-without-where", "DELETE without WHERE".into());
        }
        Ast::Update(update) if update.selection.is_none() => {
            add("destructive/update-without-where", format!("UPDATE {} without WHERE", update.table));
        }
        Ast::RenameTable(renames) => {
            for rename in renames {
                add("blue-green/rename-table", format!("RENAME TABLE {} TO {}", rename.old_name, rename.new_name));
            }
        }
        Ast::CreateIndex(index) if dialect == Dialect::Postgres => {
            if index.concurrently {
                if !context.no_transaction {
                    add("transaction/concurrently", "CREATE INDEX CONCURRENTLY".into());
                }
            } else if !context.created_tables.contains(&unqualified(&index.table_name)) {
                add("locking/create-index", format!("CREATE INDEX on {}", index.table_name));
            }
        }
        Ast::AlterType(alter) if dialect == Dialect::Postgres => {
            if let AlterTypeOperation::AddValue(_) = alter.operation {
                add("transaction/alter-type-add-value", format!("ALTER TYPE {} ADD VALUE", alter.name));
            }
        }
        Ast::AlterTable(alter) => {
            let table = &alter.name;
            let new_table = context.created_tables.contains(&unqualified(table));
            let mut algorithm_or_lock = false;
            for operation in &alter.operations {
                match operation {
                    AlterTableOperation::DropColumn { column_names, .. } => {
                        for column in column_names {
                            add("destructive/drop-column", format!("DROP COLUMN {table}.{column}"));
                        }
                    }
                    AlterTableOperation::RenameColumn { old_column_name, new_column_name } => add(
                        "blue-green/rename-column",
                        format!("RENAME COLUMN {table}.{old_column_name} TO {new_column_name}"),
                    ),
                    AlterTableOperation::RenameTable { table_name } => {
                        add("blue-green/rename-table", format!("RENAME TABLE {table} TO {table_name}"))
                    }
                    AlterTableOperation::ChangeColumn { old_name, new_name, .. } if old_name != new_name => {
                        add("blue-green/rename-column", format!("CHANGE COLUMN {table}.{old_name} TO {new_name}"))
                    }
                    AlterTableOperation::ChangeColumn { old_name, .. } => {
                        add("blue-green/change-column-type", format!("CHANGE COLUMN {table}.{old_name}"))
                    }
                    AlterTableOperation::ModifyColumn { col_name, .. } => {
                        add("blue-green/change-column-type", format!("MODIFY COLUMN {table}.{col_name}"))
                    }
                    AlterTableOperation::AlterColumn { column_name, op } => match op {
                        AlterColumnOperation::SetDataType { .. } => {
                            add("blue-green/change-column-type", format!("ALTER COLUMN {table}.{column_name} TYPE"))
                        }
                        AlterColumnOperation::SetNotNull if !new_table => {
                            add("blue-green/set-not-null", format!("SET NOT NULL on {table}.{column_name}"))
                        }
                        _ => {}
                    },
                    AlterTableOperation::AddColumn { column_def, .. } if !new_table => {
                        let options = || column_def.options.iter().map(|o| &o.option);
                        let not_null = options().any(|o| matches!(o, ColumnOption::NotNull));
                        let default =
                            options().any(|o| matches!(o, ColumnOption::Default(_) | ColumnOption::Generated { .. }));
                        if not_null && !default {
                            add(
                                "blue-green/add-column-not-null",
                                format!("ADD COLUMN {table}.{} NOT NULL without a default", column_def.name),
                            );
                        }
                    }
                    AlterTableOperation::AddConstraint { constraint, not_valid }
                        if dialect == Dialect::Postgres && !not_valid && !new_table =>
                    {
                        match constraint {
                            TableConstraint::ForeignKey(_) => {
                                add("locking/add-foreign-key", format!("ADD FOREIGN KEY on {table} without NOT VALID"))
                            }
                            TableConstraint::Check(_) => {
                                add("locking/add-check", format!("ADD CHECK on {table} without NOT VALID"))
                            }
                            _ => {}
                        }
                    }
                    AlterTableOperation::Algorithm { .. } | AlterTableOperation::Lock { .. } => {
                        algorithm_or_lock = true;
                    }
                    _ => {}
                }
            }
            if dialect == Dialect::Mysql && !algorithm_or_lock && !new_table {
                add("locking/mysql-alter-table", format!("ALTER TABLE {table} without ALGORITHM/LOCK"));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::sql_split::split;

    fn rules_of(dialect: Dialect, sql: &str, no_transaction: bool, created: &[&str]) -> Vec<&'static str> {
        hazards_of(dialect, sql, no_transaction, created).into_iter().map(|h| h.rule).collect()
    }

    fn hazards_of(dialect: Dialect, sql: &str, no_transaction: bool, created: &[&str]) -> Vec<Hazard> {
        let mut created_tables: BTreeSet<String> = created.iter().map(|t| t.to_string()).collect();
        let overrides = BTreeMap::new();
        let mut context =
            Context { dialect, no_transaction, overrides: &overrides, created_tables: &mut created_tables };
        analyse(sql, &split(sql, dialect), &mut context)
    }

    use Dialect::{Mysql, Postgres, Sqlite};

    /// (dialect, SQL, the rules it must raise); an empty list is a negative case.
    const CASES: &[(Dialect, &str, &[&str])] = &[
        // destructive
        (Postgres, "DROP TABLE users;", &["destructive/drop-table"]),
        (Sqlite, "DROP TABLE IF EXISTS users;", &["destructive/drop-table"]),
        (Mysql, "DROP TABLE users;", &["destructive/drop-table", "not-rollbackable/mysql-ddl"]),
        (Postgres, "DROP VIEW v;", &[]),
        (Postgres, "DROP SCHEMA app CASCADE;", &["destructive/drop-schema"]),
        (Postgres, "ALTER TABLE users DROP COLUMN email;", &["destructive/drop-column"]),
        (Sqlite, "ALTER TABLE users DROP COLUMN email;", &["destructive/drop-column"]),
        (Postgres, "TRUNCATE users;", &["destructive/truncate"]),
        (Mysql, "TRUNCATE TABLE users;", &["destructive/truncate", "not-rollbackable/mysql-ddl"]),
        (Postgres, "DELETE FROM users;", &["destructive/delete-without-where"]),
        (Postgres, "DELETE FROM users WHERE id = 1;", &[]),
        (Sqlite, "UPDATE users SET a = 1;", &["destructive/update-without-where"]),
        (Sqlite, "UPDATE users SET a = 1 WHERE id = 2;", &[]),
        (Mysql, "UPDATE users SET a = 1;", &["destructive/update-without-where"]),
        // blue-green
        (Postgres, "ALTER TABLE users RENAME TO people;", &["blue-green/rename-table"]),
        (Mysql, "RENAME TABLE users TO people;", &["blue-green/rename-table", "not-rollbackable/mysql-ddl"]),
        (Postgres, "ALTER TABLE users RENAME COLUMN a TO b;", &["blue-green/rename-column"]),
        (Postgres, "ALTER TABLE users ALTER COLUMN a TYPE bigint;", &["blue-green/change-column-type"]),
        (
            Mysql,
            "ALTER TABLE users MODIFY COLUMN a BIGINT, ALGORITHM=INPLACE, LOCK=NONE;",
            &["blue-green/change-column-type", "not-rollbackable/mysql-ddl"],
        ),
        (Postgres, "ALTER TABLE users ADD COLUMN a int NOT NULL;", &["blue-green/add-column-not-null"]),
        (Postgres, "ALTER TABLE users ADD COLUMN a int NOT NULL DEFAULT 0;", &[]),
        (Postgres, "ALTER TABLE users ADD COLUMN a int;", &[]),
        (Postgres, "ALTER TABLE users ALTER COLUMN a SET NOT NULL;", &["blue-green/set-not-null"]),
        // locking
        (Postgres, "CREATE INDEX users_a ON users (a);", &["locking/create-index"]),
        (Sqlite, "CREATE INDEX users_a ON users (a);", &[]),
        (Postgres, "ALTER TABLE a ADD CONSTRAINT fk FOREIGN KEY (b) REFERENCES b (id);", &["locking/add-foreign-key"]),
        (Postgres, "ALTER TABLE a ADD CONSTRAINT fk FOREIGN KEY (b) REFERENCES b (id) NOT VALID;", &[]),
        (Postgres, "ALTER TABLE a ADD CONSTRAINT c CHECK (b > 0);", &["locking/add-check"]),
        (Postgres, "ALTER TABLE a ADD CONSTRAINT c CHECK (b > 0) NOT VALID;", &[]),
        (Mysql, "ALTER TABLE a ADD COLUMN b INT;", &["locking/mysql-alter-table", "not-rollbackable/mysql-ddl"]),
        (Mysql, "ALTER TABLE a ADD COLUMN b INT, ALGORITHM=INSTANT;", &["not-rollbackable/mysql-ddl"]),
        // transaction
        (Postgres, "CREATE INDEX CONCURRENTLY users_a ON users (a);", &["transaction/concurrently"]),
        (Postgres, "DROP INDEX CONCURRENTLY users_a;", &["transaction/concurrently"]),
        (Postgres, "REINDEX INDEX CONCURRENTLY users_a;", &["transaction/concurrently"]),
        (Postgres, "VACUUM users;", &["transaction/vacuum"]),
        (Postgres, "ALTER TYPE mood ADD VALUE 'meh';", &["transaction/alter-type-add-value"]),
        (
            Sqlite,
            "INSERT INTO t VALUES (1);\nCOMMIT;\nBEGIN IMMEDIATE TRANSACTION;",
            &[CONTROL_STATEMENT, CONTROL_STATEMENT],
        ),
        (
            Sqlite,
            "SAVEPOINT a;\nRELEASE a;\nEND TRANSACTION;",
            &[CONTROL_STATEMENT, CONTROL_STATEMENT, CONTROL_STATEMENT],
        ),
        (Postgres, "BEGIN;\nCREATE TABLE t (id int);\nEND;", &[CONTROL_STATEMENT, CONTROL_STATEMENT]),
        (Postgres, "START TRANSACTION ISOLATION LEVEL SERIALIZABLE;", &[CONTROL_STATEMENT]),
        (
            Postgres,
            "ROLLBACK TO SAVEPOINT a;\nABORT;\nPREPARE TRANSACTION 'x';",
            &[CONTROL_STATEMENT, CONTROL_STATEMENT, CONTROL_STATEMENT],
        ),
        (Mysql, "START TRANSACTION;\nINSERT INTO t VALUES (1);\nCOMMIT;", &[CONTROL_STATEMENT, CONTROL_STATEMENT]),
        (
            Mysql,
            "SET autocommit = 0;\nSET SESSION autocommit=1;\nXA START 'x';",
            &[CONTROL_STATEMENT, CONTROL_STATEMENT, CONTROL_STATEMENT],
        ),
        (Mysql, "BEGIN WORK;\nROLLBACK;", &[CONTROL_STATEMENT, CONTROL_STATEMENT]),
        // ... but a routine body, MariaDB's anonymous block and look-alike names are not
        (Mysql, "CREATE PROCEDURE p() BEGIN START TRANSACTION; COMMIT; END;", &["unparsed/statement"]),
        (Mysql, "BEGIN NOT ATOMIC SELECT 1; END;", &["unparsed/statement"]),
        (Postgres, "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;", &["unparsed/statement"]),
        (Postgres, "DO $$ BEGIN COMMIT; END $$;", &["unparsed/statement"]),
        (Mysql, "SET @autocommit_seen = 1;", &[]),
        (Sqlite, "CREATE TABLE commits (id INTEGER);\nINSERT INTO commits VALUES (1);", &[]),
        // not-rollbackable
        (
            Mysql,
            "CREATE TABLE t (id INT);\nINSERT INTO t VALUES (1);",
            &["not-rollbackable/mysql-ddl", "not-rollbackable/mysql-mixed"],
        ),
        (Mysql, "INSERT INTO t VALUES (1);", &[]),
        (Postgres, "CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);", &[]),
        // negatives for the rest: what looks alike but is safe
        (Postgres, "DROP INDEX users_a;", &[]),
        (Postgres, "CREATE SCHEMA app;", &[]),
        (Sqlite, "DELETE FROM users WHERE 1 = 0;", &[]),
        (Postgres, "ALTER TABLE users ADD COLUMN nickname text;", &[]),
        (Postgres, "ALTER TABLE users ALTER COLUMN a DROP NOT NULL;", &[]),
        (Postgres, "ALTER TABLE users ALTER COLUMN a SET DEFAULT 0;", &[]),
        (Postgres, "ALTER TYPE mood RENAME VALUE 'meh' TO 'fine';", &[]),
        (Postgres, "ALTER TABLE a ADD CONSTRAINT u UNIQUE (b);", &[]),
        (Sqlite, "CREATE TABLE t (id INTEGER);\nALTER TABLE t RENAME TO u;", &["blue-green/rename-table"]),
        (Sqlite, "SELECT 1;", &[]),
        // unparsed
        (Postgres, "FROBNICATE THE DATABASE;", &["unparsed/statement"]),
    ];

    #[test]
    fn every_case_raises_exactly_its_rules() {
        for (dialect, sql, expected) in CASES {
            let mut got = rules_of(*dialect, sql, false, &[]);
            got.sort_unstable();
            let mut expected = expected.to_vec();
            expected.sort_unstable();
            assert_eq!(got, expected, "{dialect:?}: {sql}");
        }
    }

    #[test]
    fn every_rule_has_a_positive_case() {
        for rule in RULES {
            assert!(CASES.iter().any(|(_, _, rules)| rules.contains(&rule.id)), "{} has no case", rule.id);
        }
    }

    #[test]
    fn no_transaction_migrations_may_run_what_a_transaction_cannot() {
        for sql in ["CREATE INDEX CONCURRENTLY i ON t (a);", "VACUUM t;", "DROP INDEX CONCURRENTLY i;"] {
            assert_eq!(rules_of(Postgres, sql, true, &[]), Vec::<&str>::new(), "{sql}");
        }
    }

    #[test]
    fn tables_created_in_the_release_are_not_locked_by_their_first_indexes_and_columns() {
        let sql = "CREATE TABLE t (id int);\nCREATE INDEX t_id ON t (id);\nALTER TABLE t ADD COLUMN a int NOT NULL;";
        assert_eq!(rules_of(Postgres, sql, false, &[]), Vec::<&str>::new());
        // ...also when an earlier migration of the release created it.
        assert_eq!(rules_of(Postgres, "CREATE INDEX t_id ON t (id);", false, &["t"]), Vec::<&str>::new());
    }

    #[test]
    fn allow_needs_a_reason_and_applies_to_its_statement_only() {
        let sql = "-- migrate:allow destructive/drop-table the table moved to the archive db\nDROP TABLE old;\nDROP TABLE other;\nDELETE FROM t; -- migrate:allow destructive/delete-without-where emptied on purpose\n-- migrate:allow destructive/truncate\nTRUNCATE x;\n";
        let hazards = hazards_of(Postgres, sql, false, &[]);
        let summary: Vec<(&str, usize, Option<&str>)> =
            hazards.iter().map(|h| (h.rule, h.line, h.allowed.as_deref())).collect();
        assert_eq!(
            summary,
            [
                ("destructive/drop-table", 2, Some("the table moved to the archive db")),
                ("destructive/drop-table", 3, None),
                ("destructive/delete-without-where", 4, Some("emptied on purpose")),
                ("destructive/truncate", 6, None),
            ]
        );
    }

    #[test]
    fn severities_override_by_rule_then_category() {
        let mut overrides = BTreeMap::new();
        overrides.insert("destructive".to_string(), Severity::Error);
        overrides.insert("destructive/truncate".to_string(), Severity::Off);
        let sql = "DROP TABLE a;\nTRUNCATE b;";
        let mut created = BTreeSet::new();
        let mut context =
            Context { dialect: Postgres, no_transaction: false, overrides: &overrides, created_tables: &mut created };
        let hazards = analyse(sql, &split(sql, Postgres), &mut context);
        assert_eq!(hazards.len(), 1);
        assert_eq!((hazards[0].rule, hazards[0].severity), ("destructive/drop-table", Severity::Error));
    }

    #[test]
    fn rule_defaults_are_their_category_defaults_and_overrides_name_known_rules() {
        // The issue asks for a warning where the category says otherwise: ADD VALUE may be fine on
        // the server's version, and mixed MySQL migrations lose data rollback, not just DDL's.
        let exceptions = ["transaction/alter-type-add-value", "not-rollbackable/mysql-mixed"];
        for rule in RULES {
            let category = crate::core::project::HAZARD_CATEGORIES.iter().find(|(c, _)| *c == rule.category());
            assert!(category.is_some(), "{}", rule.id);
            if !exceptions.contains(&rule.id) {
                assert_eq!(category.map(|(_, s)| *s), Some(rule.default), "{}", rule.id);
            }
        }
        assert!(rule("destructive/drop-table").is_some() && rule("destructive/drop-tabel").is_none());
    }

    #[test]
    fn transaction_control_can_be_neither_allowed_nor_turned_off() {
        let sql = "-- migrate:allow transaction/control-statement we commit early\nCOMMIT;\nDROP TABLE t;";
        for overrides in [
            BTreeMap::new(),
            BTreeMap::from([("transaction".to_string(), Severity::Off)]),
            BTreeMap::from([
                (CONTROL_STATEMENT.to_string(), Severity::Info),
                ("destructive".to_string(), Severity::Off),
            ]),
        ] {
            for no_transaction in [false, true] {
                let mut created = BTreeSet::new();
                let mut context =
                    Context { dialect: Sqlite, no_transaction, overrides: &overrides, created_tables: &mut created };
                let found = analyse(sql, &split(sql, Sqlite), &mut context);
                let control: Vec<_> = found.iter().filter(|h| h.rule == CONTROL_STATEMENT).collect();
                assert_eq!(control.len(), 1, "{overrides:?}: {found:?}");
                assert_eq!((control[0].severity, control[0].allowed.is_none(), control[0].line), (Error, true, 2));
            }
        }
    }

    #[test]
    fn the_readme_lists_every_rule() {
        let readme = include_str!("../../README.md");
        for rule in RULES {
            assert!(readme.contains(&format!("| `{}` |", rule.id)), "README lacks {}", rule.id);
        }
    }

    #[test]
    fn findings_point_at_the_statement() {
        let hazards = hazards_of(Postgres, "SELECT 1;\n\n  DROP TABLE t;", false, &[]);
        assert_eq!((hazards[0].line, hazards[0].column), (3, 3));
        assert_eq!(hazards[0].message, "DROP TABLE t");
    }
}
