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

/// The files `init` writes: paths relative to the project folder, and the workflow's path.
fn files(name: &str, dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files: Vec<(PathBuf, String)> = [
        ("migrate.yaml", MIGRATE_YAML.replace("{name}", name)),
        ("migrate.schema.json", include_str!("../../schemas/migrate.schema.json").to_string()),
        ("migrations/0001_create_example.sql", MIGRATION.to_string()),
        ("assets/query/example.yaml", ASSET.to_string()),
        ("environments/.gitkeep", String::new()),
    ]
    .into_iter()
    .map(|(path, text)| (dir.join(path), text))
    .collect();
    files.push(workflow(name, dir));
    files
}

/// GitHub runs the workflows of the repository's root only: in a sub-folder of a repository,
/// the workflow goes there, named after the project, with `--project` and a `paths` filter.
fn workflow(name: &str, dir: &Path) -> (PathBuf, String) {
    let root = std::fs::canonicalize(dir).ok().and_then(|here| {
        gix::discover(&here).ok().and_then(|r| r.workdir().and_then(|w| w.canonicalize().ok())).map(|root| (here, root))
    });
    let Some((here, root)) = root else {
        return (dir.join(".github/workflows/migrate-plan.yml"), WORKFLOW.to_string());
    };
    let Ok(relative) = here.strip_prefix(&root) else {
        return (dir.join(".github/workflows/migrate-plan.yml"), WORKFLOW.to_string());
    };
    let prefix: Vec<String> = relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    if prefix.is_empty() {
        return (root.join(".github/workflows/migrate-plan.yml"), WORKFLOW.to_string());
    }
    let prefix = prefix.join("/");
    let text = WORKFLOW
        .replacen("name: migrate plan\n", &format!("name: migrate plan ({prefix})\n"), 1)
        .replacen("  pull_request:\n", &format!("  pull_request:\n    paths: [\"{prefix}/**\"]\n"), 1)
        .replace("migrate plan --base", &format!("migrate plan --project {prefix} --base"));
    (root.join(format!(".github/workflows/migrate-plan-{name}.yml")), text)
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
    // Where the project will be: `init` creates its folder first, so that the workflow finds
    // the repository around it.
    std::fs::create_dir_all(dir).map_err(|e| {
        Failure::usage(miette::miette!(code = "migrate::init_write", "cannot create `{}`: {e}", dir.display()))
    })?;
    let files = files(&name, dir);
    let existing: Vec<String> =
        files.iter().filter(|(p, _)| p.exists()).map(|(p, _)| p.display().to_string()).collect();
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
        write(path, text)?;
    }
    let workflow = files.last().map(|(p, _)| p.display().to_string()).unwrap_or_default();
    printer.status(&format!(
        "started project `{name}` in `{}`, and its pull-request workflow `{workflow}` (set the repository variable MIGRATE_RELEASE_URL where the release archive is published): edit migrate.yaml, then `git add` it all and run `migrate check`",
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
