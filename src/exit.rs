//! The one table from outcome to exit code (SPEC.md and STYLE.md hold the same table).

use std::process::ExitCode;

/// How a command that ran to its end came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Success, or nothing to do.
    Success,
    /// The check found errors.
    Findings,
}

/// Why a command could not do its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Usage error or unreadable input: unknown REV, missing or invalid `migrate.yaml`, shallow
    /// history, a file that is not what it should be.
    Usage,
    /// Refused before changing anything: a tampered, unsigned or unknown bundle, a plan with
    /// errors that cannot be exported.
    Refused,
    /// Apply failed and was rolled back: the target is exactly as before.
    RolledBack,
    /// Apply failed after some changes were committed; what is committed is recorded.
    Partial,
    /// Temporarily unable, nothing changed, retrying may help: the target or the database is
    /// busy, a lock wait timed out, the database cannot be reached.
    Temporary,
    /// A broken invariant: a bug, reported with a request to report it.
    Internal,
}

/// A failure with its diagnostic.
#[derive(Debug)]
pub struct Failure {
    pub kind: FailureKind,
    pub report: miette::Report,
}

impl Failure {
    pub fn usage(report: impl Into<miette::Report>) -> Failure {
        Failure { kind: FailureKind::Usage, report: report.into() }
    }

    pub fn refused(report: impl Into<miette::Report>) -> Failure {
        Failure { kind: FailureKind::Refused, report: report.into() }
    }

    pub fn temporary(report: impl Into<miette::Report>) -> Failure {
        Failure { kind: FailureKind::Temporary, report: report.into() }
    }

    pub fn internal(report: impl Into<miette::Report>) -> Failure {
        Failure { kind: FailureKind::Internal, report: report.into() }
    }
}

/// Turns a command's result into its exit code.
pub fn exit_code(result: &Result<Outcome, Failure>) -> ExitCode {
    ExitCode::from(match result {
        Ok(Outcome::Success) => 0,
        Ok(Outcome::Findings) | Err(Failure { kind: FailureKind::Refused, .. }) => 1,
        Err(Failure { kind: FailureKind::Usage | FailureKind::Internal, .. }) => 2,
        Err(Failure { kind: FailureKind::RolledBack, .. }) => 3,
        Err(Failure { kind: FailureKind::Partial, .. }) => 4,
        Err(Failure { kind: FailureKind::Temporary, .. }) => 5,
    })
}

/// The exit-code table shown in `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success, nothing to do, or a dry run whose real run would proceed
  1  the check found errors, or the operation was refused before changing anything
  2  usage error or unreadable input (bad migrate.yaml, unknown REV, shallow history); internal error
  3  apply failed and was rolled back: the target is exactly as before
  4  apply failed after some changes were committed; a re-run resumes
  5  temporarily unable, nothing changed, retrying may help: target busy, lock timeout, database unreachable";
