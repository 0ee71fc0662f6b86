//! Hazard analysis of a first release: 5,000 generated migrations (the shapes of
//! `scripts/bench.sh`, each also touching a table older than the release, so that rules fire),
//! analysed per dialect as `plan` does. Prints the time per migration.
//!
//! `cargo bench --bench hazards`

// A benchmark prints its table.
#![allow(clippy::print_stdout)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use migrate::core::hazard::{Context, analyse};
use migrate::core::model::Dialect;
use migrate::core::sql_split::split;

const MIGRATIONS: usize = 5_000;
const RUNS: usize = 5;

fn migration(v: usize) -> String {
    // `legacy_*` tables predate the release, so the locking and blue/green rules apply to them.
    let (table, previous) = (format!("t_{v:05}"), format!("legacy_{:03}", v % 100));
    let mut body = vec![
        format!("-- migration {v:05}"),
        format!("CREATE TABLE {table} (id BIGINT PRIMARY KEY, name TEXT NOT NULL, created_at TIMESTAMP NOT NULL);"),
    ];
    body.push(match v % 5 {
        0 => format!("CREATE INDEX idx_{previous}_name ON {previous} (name);"),
        1 => format!("ALTER TABLE {previous} ADD COLUMN note TEXT;"),
        2 => format!("INSERT INTO {table} (id, name, created_at) VALUES ({v}, 'seed-{v}', CURRENT_TIMESTAMP);"),
        3 => format!("ALTER TABLE {previous} ADD CONSTRAINT ck_{previous}_id CHECK (id > 0);"),
        _ => format!("DELETE FROM {previous};"),
    });
    body.join("\n") + "\n"
}

fn main() {
    let texts: Vec<String> = (1..=MIGRATIONS).map(migration).collect();
    let statements: usize = texts.iter().map(|t| split(t, Dialect::Postgres).len()).sum();
    println!("## Hazard analysis of a first release: {MIGRATIONS} migrations, {statements} statements\n");
    println!("| dialect | median ms (of {RUNS}) | µs per migration | hazards found |");
    println!("|---|---:|---:|---:|");
    for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql] {
        let overrides = BTreeMap::new();
        let mut times = Vec::new();
        let mut found = 0;
        for _ in 0..RUNS {
            let started = Instant::now();
            let mut created = BTreeSet::new();
            found = 0;
            for text in &texts {
                let statements = split(text, dialect);
                let mut context =
                    Context { dialect, no_transaction: false, overrides: &overrides, created_tables: &mut created };
                found += analyse(text, &statements, &mut context).len();
            }
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        let median = times[RUNS / 2];
        println!("| {} | {median:.1} | {:.1} | {found} |", dialect.name(), median * 1000.0 / MIGRATIONS as f64);
    }
}
