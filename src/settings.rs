//! Raw arguments + `MIGRATE_*` environment + `migrate.yaml` → resolved settings: the repository
//! opened, revisions resolved to commits, the project read, the format chosen. Usage errors stop
//! here; nothing after this re-reads the environment.

use std::path::{Path, PathBuf};

use crate::core::plan::Revision;
use crate::core::project::{PROJECT_FILE, Project};
use crate::core::record::EnvironmentRecord;
use crate::core::source::{Source, diff_listings};
use crate::exit::Failure;
use crate::git::{Commit, GitRepo, GitSource};
use crate::output::Printer;

/// The keyword for the files on disk.
pub const WORKTREE: &str = "WORKTREE";

/// The folder of environment records, relative to `migrate.yaml`.
pub const ENVIRONMENTS_DIR: &str = "environments";

/// Output formats of reporting commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people; colour on a terminal unless NO_COLOR is set
    Text,
    /// For a pull-request comment (at most 65,536 characters)
    Markdown,
    /// For machines; versioned, with its JSON Schema in schemas/
    Json,
}

/// Options every command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// The git repository [default: the one around the current directory]
    #[arg(long, global = true, value_name = "PATH", env = "MIGRATE_REPO")]
    pub repo: Option<PathBuf>,
    /// The folder of migrate.yaml, relative to the repository root [default: the nearest
    /// migrate.yaml from the current folder up]
    #[arg(long, global = true, value_name = "PATH", env = "MIGRATE_PROJECT")]
    pub project: Option<String>,
    /// Output format
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Print debug lines on stderr
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Print nothing on stderr but errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// What every command starts from.
pub struct Settings {
    pub repo: GitRepo,
    /// Where `migrate.yaml` sits: `""` or `"sub/dir/"`.
    pub prefix: String,
    pub format: Format,
    pub printer: Printer,
    /// Threads for reading and parsing changed files.
    pub threads: usize,
}

impl Settings {
    pub fn resolve(args: &GlobalArgs, no_color: bool) -> Result<Settings, Failure> {
        let printer = Printer::new(args.quiet, args.verbose, no_color);
        let start = args.repo.clone().unwrap_or_else(|| PathBuf::from("."));
        let repo = GitRepo::discover(&start)?;
        let prefix = match args.project.as_deref().map(|p| p.trim_matches('/')) {
            None => discover_project(&repo, &start, &printer)?,
            Some("") | Some(".") => String::new(),
            Some(p) if p.split('/').any(|s| s == ".." || s.is_empty()) => {
                return Err(Failure::usage(miette::miette!(
                    code = "migrate::bad_project_path",
                    help = "give the folder of migrate.yaml relative to the repository root, like `services/inventory`",
                    "`--project {p}` is not a folder inside the repository"
                )));
            }
            Some(p) => format!("{p}/"),
        };
        printer.debug(|| format!("repository {:?}, project folder {prefix:?}", repo.workdir()));
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(Settings { repo, prefix, format: args.format, printer, threads })
    }

    /// Resolves `WORKTREE` or a revision.
    pub fn point(&self, spec: &str) -> Result<Point, Failure> {
        if spec == WORKTREE {
            if self.repo.workdir().is_none() {
                return Err(Failure::usage(miette::miette!(
                    code = "migrate::no_worktree",
                    help = "name a revision instead, like `HEAD`",
                    "`WORKTREE` needs a work tree, and this repository is bare"
                )));
            }
            return Ok(Point::Worktree);
        }
        Ok(Point::Commit(self.repo.resolve(spec)?))
    }

    /// Opens the project at a point; `Ok(None)` when that commit has no `migrate.yaml` there.
    pub fn open(&self, point: &Point) -> Result<Option<Opened>, Failure> {
        let project_file = format!("{}{PROJECT_FILE}", self.prefix);
        match point {
            Point::Commit(commit) => {
                let Some(source) = self.repo.project_at(commit, &self.prefix)? else {
                    return Ok(None);
                };
                let Some(object) = source.lookup(PROJECT_FILE).map_err(|e| read_failure(&commit.spec, e))? else {
                    return Ok(None);
                };
                let bytes = source.read(PROJECT_FILE, &object).map_err(|e| read_failure(&commit.spec, e))?;
                let project = Project::parse(&project_file, &self.prefix, &bytes).map_err(|e| Failure::usage(*e))?;
                let revision = Revision { spec: commit.spec.clone(), commit: Some(commit.id.to_string()) };
                Ok(Some(Opened {
                    project,
                    revision,
                    files: Files::Git(Box::new(source)),
                    commit: Some(commit.clone()),
                }))
            }
            Point::Worktree => {
                let root = self.repo.workdir().map(PathBuf::from).unwrap_or_default();
                let dir = root.join(&self.prefix);
                let path = dir.join(PROJECT_FILE);
                let bytes = match std::fs::read(&path) {
                    Ok(bytes) => bytes,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(read_failure(WORKTREE, e.into())),
                };
                let project = Project::parse(&project_file, &self.prefix, &bytes).map_err(|e| Failure::usage(*e))?;
                let folders = [
                    project.config.migrations.as_str(),
                    project.config.assets.as_str(),
                    ENVIRONMENTS_DIR,
                    crate::core::check::SCHEMAS_DIR,
                ];
                let tracked = self.repo.tracked_files(&self.prefix)?;
                let source = crate::worktree::read_project(&root, &dir, &folders, &[PROJECT_FILE], &tracked)
                    .map_err(|e| read_failure(WORKTREE, e))?;
                let revision = Revision { spec: WORKTREE.to_string(), commit: None };
                Ok(Some(Opened { project, revision, files: Files::Worktree(source), commit: None }))
            }
        }
    }

    /// Opens the project at a point, or fails saying where `migrate.yaml` was expected.
    pub fn open_required(&self, point: &Point) -> Result<Opened, Failure> {
        match self.open(point)? {
            Some(opened) => Ok(opened),
            None => {
                let at = match point {
                    Point::Worktree => "in the work tree".to_string(),
                    Point::Commit(c) => format!("at `{}`", c.spec),
                };
                Err(Failure::usage(miette::miette!(
                    code = "migrate::no_project",
                    help = "run `migrate init`, or pass `--project PATH` for a project in a sub-folder",
                    "there is no `{}{PROJECT_FILE}` {at}",
                    self.prefix
                )))
            }
        }
    }
}

/// The project's folder when `--project` is not given, as cargo finds `Cargo.toml`: the nearest
/// folder holding `migrate.yaml` from `start` up to the work tree's root; else, when the
/// repository tracks one project, that one; when it tracks several, an error listing them. A
/// bare repository, or a start outside the work tree, is the root (`""`).
fn discover_project(repo: &GitRepo, start: &Path, printer: &Printer) -> Result<String, Failure> {
    let Some(root) = repo.workdir() else { return Ok(String::new()) };
    let (Ok(root), Ok(here)) = (root.canonicalize(), start.canonicalize()) else { return Ok(String::new()) };
    let Ok(relative) = here.strip_prefix(&root) else { return Ok(String::new()) };
    let prefix_of = |dir: &Path| {
        let parts: Vec<String> = dir.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        if parts.is_empty() { String::new() } else { format!("{}/", parts.join("/")) }
    };
    let mut dir = relative.to_path_buf();
    loop {
        if root.join(&dir).join(PROJECT_FILE).is_file() {
            return Ok(prefix_of(&dir));
        }
        if !dir.pop() {
            break;
        }
    }
    let projects = repo.project_folders()?;
    match projects.as_slice() {
        [] => Ok(String::new()),
        [only] => {
            printer.debug(|| {
                format!("no `{PROJECT_FILE}` above `{}`: the repository's one project, `{only}`", here.display())
            });
            Ok(only.clone())
        }
        several => Err(Failure::usage(miette::miette!(
            code = "migrate::several_projects",
            help = "run migrate from inside one of them, or pass `--project PATH` (or set MIGRATE_PROJECT)",
            "there is no `{PROJECT_FILE}` here or above, and the repository has {} projects: {}",
            several.len(),
            several
                .iter()
                .map(|p| format!("`{}`", if p.is_empty() { "." } else { p.trim_end_matches('/') }))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// A point of the history, or the work tree.
#[derive(Debug, Clone)]
pub enum Point {
    Worktree,
    Commit(Commit),
}

/// A project opened at a point.
pub struct Opened {
    pub project: Project,
    pub revision: Revision,
    pub files: Files,
    pub commit: Option<Commit>,
}

/// The files of an opened project: a commit's tree, or the work tree read into memory.
pub enum Files {
    Git(Box<GitSource>),
    Worktree(crate::worktree::WorktreeSource),
}

impl Opened {
    /// Reads every environment record (`environments/*.json`).
    pub fn records(&self) -> Result<Vec<EnvironmentRecord>, Failure> {
        let entries = self.source().list(ENVIRONMENTS_DIR).map_err(|e| read_failure(&self.revision.spec, e))?;
        let mut records = Vec::new();
        for entry in entries {
            let Some(name) =
                entry.path.strip_prefix(&format!("{ENVIRONMENTS_DIR}/")).and_then(|n| n.strip_suffix(".json"))
            else {
                continue;
            };
            if name.contains('/') {
                continue;
            }
            let bytes = self.source().read(&entry.path, &entry.id).map_err(|e| read_failure(&self.revision.spec, e))?;
            let path = self.project.repo_path(&entry.path);
            records.push(EnvironmentRecord::parse(&path, name, &bytes).map_err(Failure::usage)?);
        }
        Ok(records)
    }

    pub fn source(&self) -> &dyn Source {
        match &self.files {
            Files::Git(source) => source.as_ref(),
            Files::Worktree(source) => source,
        }
    }
}

/// A failure to read git objects or files: unreadable input.
pub fn read_failure(at: &str, error: crate::core::source::SourceError) -> Failure {
    Failure::usage(miette::miette!(code = "migrate::read_failed", "cannot read the project at `{at}`: {error}"))
}

/// What changed where the items are: the paths under the assets folder that differ, and the
/// links and submodules at head that would not ship — every one under the migrations folder,
/// and those the change brings under the assets folder.
pub fn changes(head: &Opened, base: Option<&Opened>) -> Result<Changes, Failure> {
    let (assets, found) = changed_assets(head, base)?;
    let mut specials =
        head.source().specials(&head.project.config.migrations).map_err(|e| read_failure(&head.revision.spec, e))?;
    specials.extend(found);
    Ok(Changes { assets, specials })
}

/// The paths under the assets folder that differ (a tree diff between two commits, or a
/// comparison of listings when one side is the work tree), and the links and submodules among
/// what the change brings there.
pub fn changed_assets(
    head: &Opened,
    base: Option<&Opened>,
) -> Result<(Vec<crate::core::source::PathChange>, Vec<crate::core::source::Special>), Failure> {
    let folder = &head.project.config.assets;
    let failure = |e| read_failure(&head.revision.spec, e);
    match (base.map(|b| &b.files), &head.files) {
        (Some(Files::Git(old)), Files::Git(new)) => old.diff_dir(new, folder).map_err(failure),
        (base_files, _) => {
            let old = match base_files {
                Some(_) => base.map(|b| b.source().list(folder)).transpose().map_err(failure)?.unwrap_or_default(),
                None => Vec::new(),
            };
            let new = head.source().list(folder).map_err(failure)?;
            let specials = head.source().specials(folder).map_err(failure)?;
            Ok((diff_listings(&old, &new), specials))
        }
    }
}

/// See `changes`.
pub struct Changes {
    pub assets: Vec<crate::core::source::PathChange>,
    pub specials: Vec<crate::core::source::Special>,
}
