//! `migrate init [DIR]`: a new project with one example of everything, ready for `migrate check`.

use std::path::{Path, PathBuf};

use crate::exit::{Failure, Outcome};
use crate::output::Printer;

/// Start a project with an example of everything
///
/// Writes migrate.yaml (and its JSON Schema, for editors), an example migration and asset,
/// environments/ and a GitHub workflow that comments the plan on pull requests. Writes nothing
/// if any of these files already exists.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The project folder (created if missing)
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// The project's name [default: the folder's name]
    #[arg(long)]
    pub name: Option<String>,
}

const MIGRATE_YAML: &str = "# yaml-language-server: $schema=./migrate.schema.json
version: 1
project: {name}
dialects: [sqlite, postgres]
migrations: migrations
assets: assets
environments: [staging, prod]
";

const MIGRATION: &str = "-- The first migration. Shipped migrations never change: write a new one instead.
CREATE TABLE example (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);

-- migrate:down
DROP TABLE example;
";

const ASSET: &str = "# assets/<kind>/<name>.yaml: the asset `query/example`.
spec:
  sql: SELECT id, name FROM example
";

const WORKFLOW: &str = include_str!("../../docs/examples/github-plan-comment.yml");

/// The files `init` writes, relative to the project folder.
fn files(name: &str) -> Vec<(&'static str, String)> {
    vec![
        ("migrate.yaml", MIGRATE_YAML.replace("{name}", name)),
        ("migrate.schema.json", include_str!("../../schemas/migrate.schema.json").to_string()),
        ("migrations/0001_create_example.sql", MIGRATION.to_string()),
        ("assets/query/example.yaml", ASSET.to_string()),
        ("environments/.gitkeep", String::new()),
        (".github/workflows/migrate-plan.yml", WORKFLOW.to_string()),
    ]
}

pub fn run_init(args: &InitArgs, printer: &Printer) -> Result<Outcome, Failure> {
    let dir = &args.dir;
    let folder_name = std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()));
    let name = args.name.clone().or(folder_name).unwrap_or_else(|| "project".to_string());
    if !crate::core::project::is_project_name(&name) {
        return Err(Failure::usage(miette::miette!(
            code = "migrate::bad_project_name",
            help = "pass `--name` with letters, digits, `.`, `_` and `-`",
            "`{name}` cannot be a project name"
        )));
    }
    let files = files(&name);
    let existing: Vec<&str> = files.iter().map(|(p, _)| *p).filter(|p| dir.join(p).exists()).collect();
    if !existing.is_empty() {
        return Err(Failure::refused(miette::miette!(
            code = "migrate::init_exists",
            help = "init only starts new projects; remove or move these files first",
            "`{}` already has {}: nothing was written",
            dir.display(),
            existing.join(", ")
        )));
    }
    for (path, text) in &files {
        write(&dir.join(path), text)?;
    }
    printer.status(&format!(
        "started project `{name}` in `{}`: edit migrate.yaml, then `git add` it all and run `migrate check`",
        dir.display()
    ));
    Ok(Outcome::Success)
}

fn write(path: &Path, text: &str) -> Result<(), Failure> {
    let fail = |e: std::io::Error| {
        Failure::usage(miette::miette!(code = "migrate::init_write", "cannot write `{}`: {e}", path.display()))
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    // `create_new`: a file that appeared since the check is not overwritten either.
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(fail)?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(fail)
}
