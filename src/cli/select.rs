//! `migrate select`.

use std::io::IsTerminal as _;
use std::path::PathBuf;

use crate::core::select::{Outcome as ScreenOutcome, Screen, add_skip_always};
use crate::exit::{Failure, Outcome};
use crate::settings::Settings;

/// Pick what ships to an environment, on a terminal
///
/// Lists every asset pending for ENV (added, modified, cosmetic, renamed, removed, skipped
/// earlier, skip always), with its dependencies and the diff of the highlighted one. Space toggles
/// selected / skip this, `a` skip always, enter confirms, q quits. On confirm it prints the
/// `migrate export` command line that ships the choice (so CI can repeat it), writes the bundle
/// with -o, and adds skip-always choices to the environment's `skip_always` in migrate.yaml, as
/// a change to commit.
#[derive(Debug, clap::Args)]
pub struct SelectArgs {
    /// The environment to select for
    #[arg(long, value_name = "ENV")]
    pub env: String,
    /// The head revision
    #[arg(long, value_name = "REV", default_value = "HEAD")]
    pub head: String,
    /// Write the bundle on confirm (`.tar`, or `.tar.gz`/`.tgz` for gzip)
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run_select(settings: &Settings, args: &SelectArgs) -> Result<Outcome, Failure> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(Failure::usage(miette::miette!(
            code = "migrate::not_a_terminal",
            help = "in scripts, use `migrate plan --env ENV --skip ID` and `migrate export --env ENV --skip ID`",
            "`migrate select` needs a terminal"
        )));
    }
    let plan_args = super::plan::PlanArgs {
        base: None,
        env: Some(args.env.clone()),
        head: args.head.clone(),
        release_version: None,
        selection: super::SelectionArgs::default(),
        skip_promotion: None,
    };
    let plan = super::plan::compute(settings, &plan_args)?;
    if plan.has_errors() {
        for finding in plan.findings.iter().filter(|f| f.is_error()) {
            let style = settings.printer.stderr_style();
            settings.printer.diagnostic(&crate::core::report::render_finding(finding, style));
        }
        return Err(Failure::refused(miette::miette!(
            code = "migrate::select_refused",
            help = "fix the errors above (`migrate plan --env` shows them too); nothing was written",
            "the release for `{}` has errors, so there is nothing to select",
            args.env
        )));
    }
    let mut screen = Screen::new(&args.env, &plan);
    let head = settings.open_required(&settings.point(&args.head)?)?;
    let title = format!(
        "migrate select — `{}` for `{}` at {}",
        plan.project,
        args.env,
        crate::core::report::describe_revision(&plan.head)
    );
    let outcome = if screen.rows.is_empty() {
        settings.printer.status(&format!("no asset is pending for `{}`", args.env));
        ScreenOutcome::Confirmed
    } else {
        crate::tui::run(&mut screen, &title).map_err(|e| {
            Failure::usage(miette::miette!(code = "migrate::terminal_failed", "the terminal failed: {e}"))
        })?
    };
    if outcome == ScreenOutcome::Quit {
        settings.printer.status("nothing selected, nothing written");
        return Ok(Outcome::Success);
    }

    let globs = screen.new_skip_always(&head.project.assets_dir());
    if !globs.is_empty() {
        write_skip_always(settings, &head.project.config.environments, &args.env, &globs)?;
    }
    let output = args.output.as_ref().map_or_else(|| "release.tar".to_string(), |p| p.display().to_string());
    let mut command = vec!["migrate".to_string()];
    if !settings.prefix.is_empty() {
        command.extend(["--project".to_string(), settings.prefix.trim_end_matches('/').to_string()]);
    }
    command.extend(screen.export_arguments(&output));
    if args.head != "HEAD" {
        command.extend(["--head".to_string(), args.head.clone()]);
    }
    settings.printer.product(&format!("{}\n", command.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ")));
    let Some(output) = &args.output else { return Ok(Outcome::Success) };
    let export = super::export::ExportArgs {
        base: None,
        env: Some(args.env.clone()),
        head: args.head.clone(),
        output: Some(output.clone()),
        selection: super::SelectionArgs {
            skip: screen.skipped().into_iter().map(ToString::to_string).collect(),
            only: Vec::new(),
        },
        skip_promotion: None,
        release_version: None,
        sign: None,
        sql: None,
        dialect: None,
        progress: crate::progress::ProgressMode::Never,
    };
    super::export::run_export(settings, &export)
}

/// Adds the globs to the environment's `skip_always` in the work tree's `migrate.yaml`.
fn write_skip_always(
    settings: &Settings,
    environments: &crate::core::project::Environments,
    env: &str,
    globs: &[String],
) -> Result<(), Failure> {
    let Some(root) = settings.repo.workdir() else {
        return Err(Failure::usage(miette::miette!(
            code = "migrate::no_worktree",
            "skip always is written to migrate.yaml in a work tree, and this repository is bare"
        )));
    };
    let path = root.join(&settings.prefix).join(crate::core::project::PROJECT_FILE);
    let failed = |e: String| {
        Failure::usage(miette::miette!(code = "migrate::config_unwritten", "cannot update `{}`: {e}", path.display()))
    };
    let text = std::fs::read_to_string(&path).map_err(|e| failed(e.to_string()))?;
    let updated = add_skip_always(&text, environments, env, globs).map_err(failed)?;
    crate::archive::write_file(&path, updated.as_bytes()).map_err(|e| failed(e.to_string()))?;
    settings.printer.status(&format!(
        "added to `skip_always` of `{env}` in `{}{}`: {} (commit it for the next releases)",
        settings.prefix,
        crate::core::project::PROJECT_FILE,
        globs.join(", ")
    ));
    Ok(())
}

/// Quotes an argument for a POSIX shell when it needs it.
fn shell_quote(arg: &str) -> String {
    if !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c)) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}
