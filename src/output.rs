//! `Printer`: stdout carries only the product; status, debug lines and diagnostics go to stderr.
//! Colour only on a terminal and never with `NO_COLOR`. The only module allowed to print.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal, Write};

use crate::core::report::{Style, render_diagnostic};

/// Where output goes.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub color: bool,
    pub quiet: bool,
    pub verbose: bool,
}

impl Printer {
    /// Decides colour from the terminal and `NO_COLOR`, once.
    pub fn new(quiet: bool, verbose: bool, no_color: bool) -> Printer {
        let color = !no_color && std::io::stdout().is_terminal();
        Printer { color, quiet, verbose }
    }

    pub fn style(&self) -> Style {
        Style { color: self.color, width: 100 }
    }

    /// Writes the product to stdout. A closed pipe (`| head`) ends the output quietly.
    pub fn product(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
    }

    /// A status line on stderr, unless `--quiet`.
    pub fn status(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// A debug line on stderr with `-v`.
    pub fn debug(&self, text: impl FnOnce() -> String) {
        if self.verbose {
            eprintln!("debug: {}", text());
        }
    }

    /// The style for diagnostics on stderr: colour only when stderr is a terminal.
    pub fn stderr_style(&self) -> Style {
        Style { color: self.color && std::io::stderr().is_terminal(), width: 100 }
    }

    /// A rendered diagnostic on stderr (findings that stop a command that writes a file).
    pub fn diagnostic(&self, text: &str) {
        eprint!("{text}");
    }

    /// A failure's diagnostic on stderr.
    pub fn failure(&self, report: &miette::Report) {
        eprint!("{}", render_diagnostic(report.as_ref(), self.stderr_style()));
    }
}
