//! `migrate check`.

use crate::core::check::check_project;
use crate::core::finding::{Severity, sort_findings};
use crate::core::plan::{PlanInput, shipped_migration_findings};
use crate::core::report::{CHECK_FORMAT_VERSION, CheckOutput, json, markdown, text};
use crate::exit::{Failure, Outcome};
use crate::settings::{Format, Opened, Settings, WORKTREE, read_failure};

/// Validate the project at one point
///
/// Reads every migration and asset: YAML syntax and types, header fields, schemas (from the
/// project's schemas/<kind>.schema.json), migration names and directives, duplicate versions,
/// unknown dependencies and cycles, unsafe identities. With --base or --env, also edits and
/// deletions of shipped migrations. Collects every finding; exits 1 when any is an error.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The point to check: a revision, or WORKTREE [default: WORKTREE in a work tree, HEAD in a
    /// bare repository]
    #[arg(long, value_name = "REV|WORKTREE")]
    pub rev: Option<String>,
    /// Also refuse edits of migrations shipped at this revision
    #[arg(long, value_name = "REV", conflicts_with = "env")]
    pub base: Option<String>,
    /// Also refuse edits of migrations that environment ENV holds
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
}

pub fn run_check(settings: &Settings, args: &CheckArgs) -> Result<Outcome, Failure> {
    let spec = args
        .rev
        .clone()
        .unwrap_or_else(|| if settings.repo.workdir().is_some() { WORKTREE.into() } else { "HEAD".into() });
    let point = settings.point(&spec)?;
    let opened = settings.open_required(&point)?;
    let failure = |e| read_failure(&opened.revision.spec, e);
    let report = check_project(&opened.project, opened.source(), settings.threads).map_err(failure)?;
    let state_id = report.state_id();
    let mut findings = report.findings;
    let records = opened.records()?;
    let (base_point, environment) =
        super::resolve_base(settings, &point, &opened, &records, args.base.as_deref(), args.env.as_deref(), false)?;
    let mut base_revision = None;
    if base_point.is_some() || !records.is_empty() {
        let base = match &base_point {
            Some(p) => settings.open(p)?,
            None => None,
        };
        base_revision = base.as_ref().map(|b| b.revision.clone());
        findings.extend(
            shipped_migration_findings(&PlanInput {
                base: base.as_ref().map(Opened::source),
                base_project: base.as_ref().map(|b| &b.project),
                base_revision: base_revision.clone(),
                records: &records,
                environment,
                ..PlanInput::new(&opened.project, opened.source(), opened.revision.clone(), settings.threads)
            })
            .map_err(failure)?,
        );
    }
    sort_findings(&mut findings);
    let errors = findings.iter().filter(|f| f.severity == Severity::Error).count();
    let output = CheckOutput {
        format_version: CHECK_FORMAT_VERSION,
        project: opened.project.config.project.clone(),
        revision: opened.revision.clone(),
        base: base_revision,
        migrations: report.migrations,
        assets: report.assets,
        errors,
        warnings: findings.iter().filter(|f| f.severity == Severity::Warning).count(),
        state_id: if errors == 0 { state_id } else { None },
        findings,
        ignored: report.ignored.iter().map(|p| opened.project.repo_path(p)).collect(),
    };
    let rendered = match settings.format {
        Format::Text => text::check(&output, settings.printer.style()),
        Format::Markdown => markdown::check(&output),
        Format::Json => json::check(&output),
    };
    settings.printer.product(&rendered);
    Ok(if output.errors > 0 { Outcome::Findings } else { Outcome::Success })
}
