//! The one table from outcome to exit code (README.md, docs/guide.md and docs/reference.md give
//! the same table).

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
        Ok(Outcome::Findings) => 1,
        Err(failure) => code_of(failure),
    })
}

/// The exit code of a failure.
pub fn code_of(failure: &Failure) -> u8 {
    match failure.kind {
        FailureKind::Refused => 1,
        FailureKind::Usage | FailureKind::Internal => 2,
        FailureKind::RolledBack => 3,
        FailureKind::Partial => 4,
        FailureKind::Temporary => 5,
    }
}

/// The most severe of several targets' exit codes, as a fleet reports it.
pub use crate::core::rollout::most_severe;

/// The kind of failure an exit code above 1 stands for (a fleet exits with its targets' worst).
pub fn kind_of_code(code: u8) -> FailureKind {
    match code {
        3 => FailureKind::RolledBack,
        4 => FailureKind::Partial,
        5 => FailureKind::Temporary,
        1 => FailureKind::Refused,
        _ => FailureKind::Usage,
    }
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_most_severe_code_of_a_fleet() {
        use super::most_severe;
        assert_eq!(most_severe([]), 0);
        assert_eq!(most_severe([0, 5, 0]), 5);
        assert_eq!(most_severe([5, 1]), 1, "a refusal outweighs a target that may work on retry");
        assert_eq!(most_severe([1, 2, 5]), 2);
        assert_eq!(most_severe([4, 3, 5, 2]), 4, "something committed outweighs everything");
    }
}
