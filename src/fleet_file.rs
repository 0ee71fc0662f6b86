//! A fleet file (`--fleet FILE`): read and checked, and each target's folder and database found.

use std::path::{Path, PathBuf};

use crate::core::fleet::{DatabaseSource, Fleet, Target};
use crate::exit::Failure;

/// Reads and checks a fleet file; a problem is shown at its place in the file.
pub fn read(path: &Path) -> Result<Fleet, Failure> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| {
        Failure::usage(miette::miette!(code = "migrate::fleet_unreadable", "cannot read `{shown}`: {e}"))
    })?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    crate::core::fleet::parse(&text).map_err(|problem| {
        let source = miette::NamedSource::new(&shown, text.clone());
        let labels = problem.span.map(|(offset, len)| miette::LabeledSpan::at(offset..offset + len, "here"));
        Failure::usage(
            miette::miette!(
                code = "migrate::fleet_invalid",
                help = problem.help,
                labels = labels.into_iter().collect::<Vec<_>>(),
                "`{shown}` is not a usable fleet file: {}",
                problem.reason
            )
            .with_source_code(source),
        )
    })
}

/// A target's folder and database URL. The folder is the target's `folder`, else one named after
/// the target beside the fleet file; relative paths are relative to the fleet file's folder. The
/// URL comes from `db`, the variable `db_env` names, or the file `db_file` names (its first
/// line); `None` is the folder's embedded database.
pub fn locate(fleet: &Path, target: &Target) -> Result<(PathBuf, Option<String>), Failure> {
    let base = fleet.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let folder = match &target.folder {
        Some(folder) => base.join(folder),
        None => base.join(&target.name),
    };
    let missing = |what: String| {
        Failure::usage(miette::miette!(
            code = "migrate::fleet_database",
            help = "set it where the rollout runs, or give the target `db`",
            "target `{}`: {what}",
            target.name
        ))
    };
    let db = match &target.database {
        DatabaseSource::Url(url) => Some(url.clone()),
        DatabaseSource::Env(variable) => {
            Some(std::env::var(variable).map_err(|_| missing(format!("the variable `{variable}` is not set")))?)
        }
        DatabaseSource::File(file) => {
            let path = base.join(file);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| missing(format!("cannot read `{}`: {e}", path.display())))?;
            Some(text.lines().next().unwrap_or_default().trim().to_string())
        }
        DatabaseSource::Embedded => None,
    };
    Ok((folder, db))
}
