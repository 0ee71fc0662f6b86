//! A migration file as `check`, `plan` and `export` read it, in every dialect: the `-- migrate:`
//! directives and up/down sections, the statement splitter, then the hazard analysis (the SQL
//! parser and the rules). Errors and findings are expected; a panic, abort, timeout or running
//! out of memory is a finding, and so is a statement whose text is not the input at its offset, or whose line and column
//! are not those of its offset.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use libfuzzer_sys::fuzz_target;
use migrate::core::catalog;
use migrate::core::hazard;
use migrate::core::model::Dialect;
use migrate::core::sql_split;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = catalog::normalised_text("migrations/0001_a.sql", data) else { return };
    let (migration, _findings) = catalog::parse_migration_text("migrations/0001_a.sql", &text);
    let overrides = BTreeMap::new();
    for dialect in Dialect::ALL {
        let mut created_tables = BTreeSet::new();
        for section in std::iter::once(migration.up()).chain(migration.down()) {
            let statements = sql_split::split(section, dialect);
            for statement in &statements {
                assert!(
                    section.get(statement.offset..).is_some_and(|rest| rest.starts_with(&statement.text)),
                    "statement text is verbatim at its offset"
                );
                let before = &section[..statement.offset];
                assert_eq!(statement.line, sql_split::line_of(section, statement.offset), "statement line");
                let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
                assert_eq!(statement.column, column, "statement column");
            }
            let mut context = hazard::Context {
                dialect,
                no_transaction: migration.no_transaction,
                overrides: &overrides,
                created_tables: &mut created_tables,
            };
            let _ = hazard::analyse(section, &statements, &mut context);
        }
    }
});
