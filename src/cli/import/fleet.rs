//! `import --fleet FILE`: every target of a fleet, wave by wave, with its failure budget, receipts
//! and summary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::ImportArgs;
use crate::cli::import;
use crate::core::fleet::{FailureBudget, Shard, Target, Wave};
use crate::core::manifest::Manifest;
use crate::core::record::Receipt;
use crate::core::rollout::{Rollout, TargetError, TargetResult, TargetRun, WaveRun};
use crate::db::postgres::{Postgres, Sessions};
use crate::exit::{Failure, Outcome};
use crate::fleet_file::{locate, read};
use crate::output::Printer;
use crate::progress::{Progress, ProgressMode};
use crate::settings::Format;

/// `import BUNDLE --fleet FILE`: the bundle verified once, then each target's own import (the
/// same decision as `import --target`), `parallel` at a time, wave after wave; a wave over its
/// failure budget stops the rollout. Every target gets its receipt in `--receipts`; the summary
/// is the product, and the exit code is 0 only when every target holds the release.
pub fn run_fleet_import(args: &ImportArgs, format: Format, printer: &Printer) -> Result<Outcome, Failure> {
    let Some(path) = &args.fleet else {
        return Err(usage("migrate::no_target", "which target? `import` needs `--target DIR` or `--fleet FILE`"));
    };
    let Some(environment) = args.env.as_deref() else {
        return Err(Failure::usage(miette::miette!(
            code = "migrate::fleet_needs_env",
            help = "pass `--env NAME`: the environment every target of the fleet belongs to",
            "a fleet run writes a receipt for each target, and a receipt names its environment"
        )));
    };
    if args.db.is_some() {
        printer.status(
            "note: `--db` (or MIGRATE_DATABASE_URL) is not used with `--fleet`: each target names its own database",
        );
    }
    let fleet = read(path)?;
    let shard = match &args.shard {
        Some(text) => Some(Shard::parse(text).map_err(|e| usage("migrate::bad_shard", &e))?),
        None => None,
    };
    let budget = match &args.max_failures {
        Some(text) => Some(FailureBudget::parse(text).map_err(|e| usage("migrate::bad_budget", &e))?),
        None => None,
    };
    if args.parallel == Some(0) {
        return Err(usage("migrate::bad_parallel", "`--parallel 0` runs nothing: give at least 1"));
    }
    if let Some(wave) = &args.wave
        && !fleet.waves.iter().any(|w| &w.name == wave)
    {
        let names: Vec<&str> = fleet.waves.iter().map(|w| w.name.as_str()).collect();
        return Err(usage(
            "migrate::unknown_wave",
            &format!("the fleet has no wave `{wave}`; its waves: {}", names.join(", ")),
        ));
    }
    let common = import::Common::from_args(args)?;
    let bundle = crate::bundle_file::open_bundle(&args.file, &args.trust)?;
    let members: BTreeMap<String, Arc<str>> = bundle
        .members
        .iter()
        .map(|(path, bytes)| (path.clone(), Arc::from(String::from_utf8_lossy(bytes).as_ref())))
        .collect();
    std::fs::create_dir_all(&args.receipts).map_err(|e| {
        usage("migrate::receipt_unwritten", &format!("cannot create `{}`: {e}", args.receipts.display()))
    })?;
    let run =
        FleetRun { path, args, environment, common: &common, manifest: &bundle.manifest, members: &members, printer };
    let selected: Vec<(&Wave, Vec<&Target>)> = fleet
        .waves
        .iter()
        .filter(|w| args.wave.as_ref().is_none_or(|name| &w.name == name))
        .map(|w| (w, w.targets.iter().filter(|t| shard.is_none_or(|s| s.holds(&t.name))).collect()))
        .collect();
    let total = selected.iter().map(|(_, targets)| targets.len()).sum();
    let progress = Mutex::new(Progress::for_printer(args.progress, printer));
    if let Ok(mut progress) = progress.lock() {
        progress.task("importing", total);
    }
    let done = AtomicUsize::new(0);
    let mut waves = Vec::new();
    let mut stopped = false;
    for (wave, targets) in selected {
        let parallel = args.parallel.unwrap_or(wave.parallel);
        let budget = budget.unwrap_or(wave.max_failures);
        let runs = if stopped {
            targets.iter().map(|t| run.not_run(t)).collect()
        } else {
            run.wave(&targets, parallel, budget, &|name| {
                let index = done.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut progress) = progress.lock() {
                    progress.item(index, || name.to_string());
                }
            })
        };
        let wave = WaveRun::new(&wave.name, parallel, budget, runs);
        stopped |= !wave.within_budget;
        waves.push(wave);
    }
    if let Ok(mut progress) = progress.lock() {
        progress.finish();
    }
    let rollout = Rollout::new(&bundle.manifest, environment, args.shard.clone(), waves);
    printer.product(&match format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&rollout).unwrap_or_default()),
        Format::Text | Format::Markdown => rollout.text(),
    });
    match rollout.exit_code {
        0 => Ok(Outcome::Success),
        code => Err(Failure {
            kind: crate::exit::kind_of_code(code),
            report: miette::miette!(
                code = "migrate::fleet_not_converged",
                help = "the summary names each target's failure; fix what it says and run again with `--resume`",
                "not every target of the fleet holds the release"
            ),
        }),
    }
}

fn usage(code: &'static str, message: &str) -> Failure {
    Failure::usage(miette::miette!(code = code, "{message}"))
}

/// What every target's import shares.
struct FleetRun<'a> {
    path: &'a Path,
    args: &'a ImportArgs,
    environment: &'a str,
    common: &'a import::Common,
    manifest: &'a Manifest,
    members: &'a BTreeMap<String, Arc<str>>,
    printer: &'a Printer,
}

impl FleetRun<'_> {
    /// Runs a wave's targets, `parallel` at a time, each thread taking the next target when it is
    /// done with one. Once the failures go over the budget no target starts; those not started
    /// are `not_run`.
    fn wave(
        &self,
        targets: &[&Target],
        parallel: u32,
        budget: FailureBudget,
        done: &(dyn Fn(&str) + Sync),
    ) -> Vec<TargetRun> {
        let next = AtomicUsize::new(0);
        let failed = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let results: Mutex<Vec<Option<TargetRun>>> = Mutex::new(vec![None; targets.len()]);
        let workers = (parallel as usize).clamp(1, targets.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..workers {
                let worker = || {
                    // Server sessions this worker reuses from one target to the next.
                    let sessions = Rc::new(Sessions::default());
                    while !stop.load(Ordering::SeqCst) {
                        let index = next.fetch_add(1, Ordering::SeqCst);
                        let Some(target) = targets.get(index) else { break };
                        let run = self.target(target, &sessions);
                        if run.failed() {
                            let failed = failed.fetch_add(1, Ordering::SeqCst) + 1;
                            if !budget.allows(failed, targets.len()) {
                                stop.store(true, Ordering::SeqCst);
                            }
                        }
                        done(&target.name);
                        if let Ok(mut results) = results.lock()
                            && let Some(slot) = results.get_mut(index)
                        {
                            *slot = Some(run);
                        }
                    }
                };
                // Deep enough for what the main thread does (8 MiB, as its default).
                let spawned = std::thread::Builder::new().stack_size(8 << 20).spawn_scoped(scope, worker);
                if spawned.is_err() {
                    // No thread to be had: the targets left run on the ones that started, or
                    // show as not run.
                    break;
                }
            }
        });
        let results = results.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
        results.into_iter().zip(targets).map(|(run, target)| run.unwrap_or_else(|| self.not_run(target))).collect()
    }

    fn not_run(&self, target: &Target) -> TargetRun {
        let (folder, database) = shown(&locate(self.path, target));
        TargetRun::not_run(&target.name, database, folder)
    }

    /// One target's import, as `migrate import --target` runs it, with its receipt.
    fn target(&self, target: &Target, sessions: &Rc<Sessions>) -> TargetRun {
        let started = Instant::now();
        // Located once: a `db_file` or `db_env` is read once per target.
        let located = locate(self.path, target);
        let (folder_shown, database) = shown(&located);
        let receipt = self.args.receipts.join(format!("{}.json", target.name));
        let mut run = TargetRun {
            result: TargetResult::Converged,
            receipt: Some(receipt.display().to_string()),
            ..TargetRun::not_run(&target.name, database, folder_shown)
        };
        if self.args.resume && self.receipt_holds(&receipt) {
            run.result = TargetResult::Skipped;
            return run;
        }
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.import(located, &receipt, sessions)))
                .unwrap_or_else(|_| {
                    Err(Failure::internal(miette::miette!(
                        code = "migrate::internal",
                        help = "this is a bug in migrate: please report it, with the summary",
                        "the import of this target stopped on an internal error"
                    )))
                });
        run.duration_ms = started.elapsed().as_millis() as u64;
        match outcome {
            Ok(imported) => {
                run.decision = Some(imported.decision.to_string());
                run.exit_code = Some(0);
            }
            Err(failure) => {
                let code = crate::exit::code_of(&failure);
                run.result = TargetResult::Failed;
                run.exit_code = Some(code);
                run.error = Some(TargetError {
                    code: failure.report.code().map_or("migrate::error".into(), |c| c.to_string()),
                    message: failure.report.to_string(),
                });
                if !std::fs::exists(&receipt).unwrap_or(false) {
                    run.receipt = None;
                }
                // One target's diagnostic at a time, whole.
                if let Ok(_guard) = PRINTING.lock() {
                    self.printer.status(&format!("target `{}` failed (exit {code}):", target.name));
                    self.printer.failure(&failure.report);
                }
            }
        }
        run
    }

    fn import(&self, located: Located, receipt: &Path, sessions: &Rc<Sessions>) -> Result<import::Imported, Failure> {
        let (folder, db) = located?;
        let folder = crate::target::Target::new(&folder);
        // A target that trusts keys of its own refuses a bundle none of them signed.
        let keys = folder.trusted_keys();
        if !keys.is_empty() {
            let mut trust = self.args.trust.clone();
            trust.extend(keys);
            let again = crate::bundle_file::open_bundle(&self.args.file, &trust)?;
            if again.manifest.to_bytes() != self.manifest.to_bytes() {
                return Err(Failure::refused(miette::miette!(
                    code = "migrate::bundle_changed",
                    "the bundle `{}` changed while the fleet was being imported",
                    self.args.file.display()
                )));
            }
        }
        let request = import::ImportRequest {
            target: &folder,
            env: Some(self.environment),
            db: db.as_deref(),
            connection: &self.args.connection,
            dry_run: false,
            receipt: Some(receipt),
            baseline: self.common.baseline.clone(),
            allow_downgrade: self.args.allow_downgrade,
            lock_timeout: Duration::from_secs(self.args.lock_timeout),
            format: Format::Text,
        };
        let table = &self.manifest.history_table;
        let mut open = |url: &str, read_only: bool| -> Result<Box<dyn crate::db::Driver>, crate::db::DbError> {
            let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
            if postgres && self.args.sqlite_extensions.is_empty() {
                let driver = Postgres::connect_reusing(url, table, read_only, request.lock_timeout, sessions)?;
                return Ok(Box::new(driver));
            }
            crate::db::open_driver(url, &folder, table, read_only, request.lock_timeout, &self.args.sqlite_extensions)
        };
        let mut progress = Progress::new(ProgressMode::Never, true);
        import::import_bundle(&request, self.manifest, self.members, &mut open, self.printer, &mut progress)
    }

    /// `--resume`: the target's receipt shows this release (and nothing part-way).
    fn receipt_holds(&self, receipt: &Path) -> bool {
        std::fs::read(receipt)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Receipt>(&bytes).ok())
            .is_some_and(|r| crate::core::rollout::receipt_holds(&r, self.manifest, self.environment))
    }
}

/// A target's folder and database URL, or why they cannot be found.
type Located = Result<(PathBuf, Option<String>), Failure>;

/// The folder and database as the summary shows them (no password); what cannot be located
/// shows as the target's failure when it runs.
fn shown(located: &Located) -> (String, String) {
    match located {
        Ok((folder, db)) => {
            (folder.display().to_string(), db.as_deref().map_or("embedded".into(), crate::core::redact::redact))
        }
        Err(_) => (String::new(), String::new()),
    }
}

static PRINTING: Mutex<()> = Mutex::new(());
