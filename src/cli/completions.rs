//! `migrate completions SHELL` and `migrate man`: generated from the same clap definitions as
//! the parser, so they cannot drift from it.

use clap::CommandFactory;

use crate::exit::{Failure, Outcome};
use crate::output::Printer;

/// Print a shell completion script
///
/// For example `migrate completions bash > /etc/bash_completion.d/migrate`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn run_completions(args: &CompletionsArgs, printer: &Printer) -> Result<Outcome, Failure> {
    let mut command = super::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "migrate", &mut script);
    printer.product(&String::from_utf8_lossy(&script));
    Ok(Outcome::Success)
}

/// Print the manual page (roff)
///
/// For example `migrate man > migrate.1; man ./migrate.1`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {}

pub fn run_man(printer: &Printer) -> Result<Outcome, Failure> {
    let mut page = Vec::new();
    clap_mangen::Man::new(super::Cli::command())
        .render(&mut page)
        .map_err(|e| Failure::usage(miette::miette!(code = "migrate::internal", "cannot render the manual: {e}")))?;
    printer.product(&String::from_utf8_lossy(&page));
    Ok(Outcome::Success)
}
