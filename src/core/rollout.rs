//! One release rolled out to a fleet (`import --fleet`): what happened to each target, wave by
//! wave, and what the run as a whole exits with. Pure: the shell runs the imports and hands
//! their outcomes here.

use std::fmt::Write as _;

use serde::Serialize;

use crate::core::fleet::FailureBudget;
use crate::core::manifest::Manifest;
use crate::core::record::{MigrationStatus, Receipt};

/// Format version of the fleet summary (`import --fleet --format json`).
pub const ROLLOUT_FORMAT_VERSION: u32 = 1;

/// The summary of a fleet run: every target of the waves that were asked for, in order.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Rollout {
    /// Format version of this document; `1`.
    pub format_version: u32,
    /// The bundle's release id.
    pub release: String,
    /// The bundle's human release version, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_version: Option<String>,
    pub environment: String,
    /// `I/N` when the run took one share of the fleet (`--shard`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Whether every target of the run holds the release now (converged, or skipped by
    /// `--resume` because its receipt shows the release).
    pub converged: bool,
    /// 0 when every target converged, else the most severe exit code of the targets that failed
    /// (4 > 3 > 2 > 1 > 5): the command's own.
    pub exit_code: u8,
    /// The wave whose failures went over its budget; the rollout stopped there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<String>,
    pub waves: Vec<WaveRun>,
}

/// One wave of the run.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct WaveRun {
    pub name: String,
    /// How many of its targets ran at once.
    pub parallel: u32,
    /// Its failure budget as written: a count (`2`) or a share (`2%`) of its targets.
    pub max_failures: String,
    /// How many of its targets failed.
    pub failed: usize,
    /// Whether the failures stayed within the budget (a wave over it stops the rollout: its
    /// targets not yet started and every later wave are `not_run`).
    pub within_budget: bool,
    pub targets: Vec<TargetRun>,
}

/// What happened to one target.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TargetRun {
    pub name: String,
    pub result: TargetResult,
    /// The import's decision: `initialise`, `upgrade`, `resume`, `downgrade`, `nothing_to_do`;
    /// absent when it failed before deciding or did not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// The exit code `migrate import` gives for this target alone; absent when it did not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u8>,
    /// How long its import took, in milliseconds.
    pub duration_ms: u64,
    /// The database, without its password (`embedded` for the folder's own SQLite database).
    pub database: String,
    pub folder: String,
    /// The receipt written for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<TargetError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetResult {
    /// The import succeeded: the target holds the release.
    Converged,
    /// The import failed; `exit_code` says whether anything was committed.
    Failed,
    /// `--resume`: its receipt already shows the release; not connected to.
    Skipped,
    /// The rollout stopped before it (a wave over its failure budget).
    NotRun,
}

/// Why a target failed: the diagnostic's stable code and its message (no secrets).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TargetError {
    pub code: String,
    pub message: String,
}

impl TargetRun {
    /// A target the rollout did not reach.
    pub fn not_run(name: &str, database: String, folder: String) -> TargetRun {
        TargetRun {
            name: name.to_string(),
            result: TargetResult::NotRun,
            decision: None,
            exit_code: None,
            duration_ms: 0,
            database,
            folder,
            receipt: None,
            error: None,
        }
    }

    pub fn failed(&self) -> bool {
        self.result == TargetResult::Failed
    }
}

impl WaveRun {
    /// A wave's outcome from its targets' outcomes and its budget.
    pub fn new(name: &str, parallel: u32, budget: FailureBudget, targets: Vec<TargetRun>) -> WaveRun {
        let failed = targets.iter().filter(|t| t.failed()).count();
        WaveRun {
            name: name.to_string(),
            parallel,
            max_failures: budget.to_string(),
            failed,
            within_budget: budget.allows(failed, targets.len()),
            targets,
        }
    }
}

impl Rollout {
    /// The run's summary: converged when every target holds the release, and its exit code.
    pub fn new(manifest: &Manifest, environment: &str, shard: Option<String>, waves: Vec<WaveRun>) -> Rollout {
        Rollout::of_release(
            manifest.release.id.to_string(),
            manifest.release.version.clone(),
            environment,
            shard,
            waves,
        )
    }

    fn of_release(
        release: String,
        release_version: Option<String>,
        environment: &str,
        shard: Option<String>,
        waves: Vec<WaveRun>,
    ) -> Rollout {
        let targets = || waves.iter().flat_map(|w| &w.targets);
        let converged = targets().all(|t| matches!(t.result, TargetResult::Converged | TargetResult::Skipped));
        let codes = targets().filter(|t| t.failed()).filter_map(|t| t.exit_code);
        let exit_code = if converged { 0 } else { most_severe(codes) };
        Rollout {
            format_version: ROLLOUT_FORMAT_VERSION,
            release,
            release_version,
            environment: environment.to_string(),
            shard,
            converged,
            // Not converged without a failure cannot happen; 1 rather than a false 0 if it did.
            exit_code: if !converged && exit_code == 0 { 1 } else { exit_code },
            stopped_at: waves.iter().find(|w| !w.within_budget).map(|w| w.name.clone()),
            waves,
        }
    }

    /// The summary for people: one line per target, wave by wave, and the totals.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let width = self.waves.iter().flat_map(|w| &w.targets).map(|t| t.name.len()).max().unwrap_or(0);
        for wave in &self.waves {
            let _ = writeln!(
                out,
                "wave {} ({} target{}, {} at a time, failure budget {}): {}",
                wave.name,
                wave.targets.len(),
                plural(wave.targets.len()),
                wave.parallel,
                wave.max_failures,
                counts(&wave.targets)
            );
            for target in &wave.targets {
                let what = match target.result {
                    TargetResult::Converged => {
                        format!("{} ({})", target.decision.as_deref().unwrap_or("done"), seconds(target.duration_ms))
                    }
                    TargetResult::Skipped => "skipped: its receipt shows the release (--resume)".to_string(),
                    TargetResult::NotRun => "not run: the rollout stopped".to_string(),
                    TargetResult::Failed => format!(
                        "FAILED, exit {} ({}): {}",
                        target.exit_code.unwrap_or(2),
                        seconds(target.duration_ms),
                        target.error.as_ref().map_or(String::new(), |e| format!("{}: {}", e.code, e.message))
                    ),
                };
                let _ = writeln!(out, "  {:width$}  {what}", target.name);
            }
            if !wave.within_budget {
                let _ = writeln!(
                    out,
                    "wave {} failed {} target{}, over its budget of {}: the rollout stopped here",
                    wave.name,
                    wave.failed,
                    plural(wave.failed),
                    wave.max_failures
                );
            }
        }
        let all: Vec<TargetRun> = self.waves.iter().flat_map(|w| w.targets.iter().cloned()).collect();
        let release = self.release_version.as_ref().map_or(self.release.clone(), |v| format!("{v} ({})", self.release));
        let verdict = if self.converged { "every target holds it" } else { "not every target holds it" };
        let _ = writeln!(
            out,
            "release {release} to `{}`: {}; {verdict} (exit {})",
            self.environment,
            counts(&all),
            self.exit_code
        );
        out
    }
}

/// The most severe of several targets' exit codes: something committed (4) over rolled back (3)
/// over unusable input (2) over refused (1) over temporarily unable (5), which retrying may fix,
/// over success (0).
pub fn most_severe(codes: impl IntoIterator<Item = u8>) -> u8 {
    let rank = |code: u8| [0u8, 5, 1, 2, 3, 4].iter().position(|c| *c == code).unwrap_or(usize::MAX);
    codes.into_iter().max_by_key(|code| rank(*code)).unwrap_or(0)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn seconds(ms: u64) -> String {
    format!("{:.2} s", ms as f64 / 1000.0)
}

fn counts(targets: &[TargetRun]) -> String {
    let count = |result: TargetResult| targets.iter().filter(|t| t.result == result).count();
    let mut parts = vec![format!("{} converged", count(TargetResult::Converged))];
    for (result, name) in
        [(TargetResult::Failed, "failed"), (TargetResult::Skipped, "skipped"), (TargetResult::NotRun, "not run")]
    {
        if count(result) > 0 {
            parts.push(format!("{} {name}", count(result)));
        }
    }
    parts.join(", ")
}

/// `--resume`: whether a target's last receipt shows that it holds this bundle's release, for
/// this project and environment, with no migration left part-way, so that it need not be
/// connected to again.
pub fn receipt_holds(receipt: &Receipt, manifest: &Manifest, environment: &str) -> bool {
    receipt.project == manifest.project
        && receipt.environment == environment
        && receipt.release.id == manifest.release.id
        && receipt.migrations.values().flatten().all(|m| m.status == MigrationStatus::Applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, result: TargetResult, exit_code: Option<u8>) -> TargetRun {
        TargetRun { result, exit_code, ..TargetRun::not_run(name, "embedded".into(), name.into()) }
    }

    #[test]
    fn a_wave_over_its_budget_stops_the_rollout_and_the_worst_code_is_the_runs() {
        let summary = |waves| Rollout::of_release("sha256:00".into(), None, "prod", None, waves);
        let canary =
            WaveRun::new("canary", 1, FailureBudget::Count(0), vec![run("t0", TargetResult::Converged, Some(0))]);
        let rest = WaveRun::new(
            "rest",
            2,
            FailureBudget::Percent(10.0),
            vec![
                run("t1", TargetResult::Failed, Some(5)),
                run("t2", TargetResult::Failed, Some(3)),
                run("t3", TargetResult::Converged, Some(0)),
                run("t4", TargetResult::NotRun, None),
            ],
        );
        let rollout = summary(vec![canary, rest]);
        assert!(!rollout.converged);
        assert_eq!(rollout.exit_code, 3, "rolled back is more severe than temporarily unable");
        assert_eq!(rollout.stopped_at.as_deref(), Some("rest"));
        let text = rollout.text();
        assert!(text.contains("wave rest failed 2 targets, over its budget of 10%"), "{text}");
        assert!(text.contains("2 converged, 2 failed, 1 not run"), "{text}");

        let within = WaveRun::new(
            "rest",
            2,
            FailureBudget::Count(1),
            vec![run("t1", TargetResult::Failed, Some(5)), run("t2", TargetResult::Skipped, None)],
        );
        assert!(within.within_budget);
        let rollout = summary(vec![within]);
        assert_eq!((rollout.converged, rollout.exit_code, rollout.stopped_at), (false, 5, None));

        let done = WaveRun::new("all", 1, FailureBudget::Count(0), vec![run("t1", TargetResult::Skipped, None)]);
        let rollout = summary(vec![done]);
        assert_eq!((rollout.converged, rollout.exit_code), (true, 0));
    }
}
