//! Progress of long work on stderr: an indicatif bar on a terminal, a line per update elsewhere
//! when asked (`--progress always` in a CI log), nothing when piped or with `--quiet` or `-v`.
//! stdout is never touched, so `--format json | jq` always works.
//!
//! Work is either a phase (`validating the head`: a spinner, since its length is unknown) or a
//! counted task (`migrating 37/1000`). A counted task on a terminal first shows after a second,
//! so a short import prints nothing; indicatif then redraws at most twenty times a second, so a
//! thousand fast migrations do not cost a thousand writes.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// When progress shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// On a terminal, not with --quiet or -v
    Auto,
    /// Always: a bar on a terminal, a line per update elsewhere
    Always,
    /// Never
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Draw {
    Nothing,
    Bar,
    Lines,
}

pub struct Progress {
    draw: Draw,
    /// How long a counted task runs before its bar shows.
    delay: Duration,
    task: &'static str,
    total: usize,
    started: Instant,
    bar: Option<ProgressBar>,
    /// Lines: the percentage and time of the last line, so a task of 100,000 items writes
    /// about a hundred lines, and one of ten a line each.
    last_line: Option<(usize, Instant)>,
    /// With `-v`, each phase and task is a debug line, timed from the start.
    debug: Option<(crate::output::Printer, Instant)>,
}

impl Progress {
    /// Progress as `mode` asks, for a command run with `printer`'s `--quiet` and `-v`.
    pub fn for_printer(mode: ProgressMode, printer: &crate::output::Printer) -> Progress {
        // `-v`'s debug lines are the progress then; a bar between them would be torn.
        let mut progress = Progress::new(mode, printer.quiet || printer.verbose);
        if printer.verbose {
            progress.debug = Some((*printer, Instant::now()));
        }
        progress
    }

    /// A debug line with `-v`, timed from the start; nothing otherwise.
    pub fn log(&self, what: impl FnOnce() -> String) {
        if let Some((printer, started)) = &self.debug {
            printer.debug(|| format!("{} ms: {}", started.elapsed().as_millis(), what()));
        }
    }

    pub fn new(mode: ProgressMode, quiet: bool) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let draw = match mode {
            ProgressMode::Auto if terminal && !quiet => Draw::Bar,
            ProgressMode::Always if terminal => Draw::Bar,
            ProgressMode::Always => Draw::Lines,
            ProgressMode::Auto | ProgressMode::Never => Draw::Nothing,
        };
        let delay = if mode == ProgressMode::Auto { Duration::from_secs(1) } else { Duration::ZERO };
        Progress { draw, delay, task: "", total: 0, started: Instant::now(), bar: None, last_line: None, debug: None }
    }

    /// A step of unknown length begins, e.g. `validating the head`.
    pub fn phase(&mut self, what: &str) {
        self.log(|| what.to_string());
        match self.draw {
            Draw::Nothing => {}
            Draw::Lines => line(what),
            Draw::Bar => {
                // A counted bar left by a task gives way to the spinner; it is cleared first.
                if self.bar.as_ref().is_some_and(|b| b.length().is_some()) {
                    self.finish();
                }
                self.bar.get_or_insert_with(spinner).set_message(what.to_string());
            }
        }
    }

    /// A task of `total` items begins, e.g. `migrating`; `item` reports each.
    pub fn task(&mut self, task: &'static str, total: usize) {
        self.log(|| format!("{task}: {total} items"));
        self.task = task;
        self.total = total;
        self.started = Instant::now();
        self.last_line = None;
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// Item `index` (from 0) of the task's total is starting.
    pub fn item(&mut self, index: usize, label: impl FnOnce() -> String) {
        match self.draw {
            Draw::Nothing => {}
            Draw::Lines => {
                let percent = percent(index, self.total);
                let now = Instant::now();
                let due = match self.last_line {
                    None => true,
                    Some((last, at)) => percent != last || now.duration_since(at) >= Duration::from_secs(1),
                };
                if due {
                    self.last_line = Some((percent, now));
                    line(&progress_line(self.task, index, self.total, &label(), self.started.elapsed()));
                }
            }
            Draw::Bar => {
                if self.bar.is_none() && self.started.elapsed() >= self.delay {
                    self.bar = Some(counter(self.task, self.total));
                }
                if let Some(bar) = &self.bar {
                    bar.set_position(index as u64);
                    bar.set_message(label());
                }
            }
        }
    }

    /// Clears the bar, so that what prints next starts on a clean line.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

fn spinner() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

fn counter(task: &str, total: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    let template = format!(
        "{task} [{{bar:30}}] {{pos:>{w}}}/{{len}} {{percent:>3}}% {{wide_msg}} ({{elapsed}})",
        w = total.to_string().len()
    );
    bar.set_style(
        ProgressStyle::with_template(&template)
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn line(text: &str) {
    // A progress line that cannot be written is not worth failing the work for.
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{text}");
}

/// `migrating [  37/1000]   3% 0037_add_index (4.2s)`: the count, padded so that the line does
/// not jump as it grows, then what is running.
pub fn progress_line(task: &str, index: usize, total: usize, label: &str, elapsed: Duration) -> String {
    let width = total.to_string().len();
    let percent = percent(index, total);
    format!("{task} [{:>width$}/{total}] {percent:>3}% {label} ({:.1}s)", index + 1, elapsed.as_secs_f64())
}

fn percent(index: usize, total: usize) -> usize {
    (index * 100).checked_div(total).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_pads_the_count_and_names_the_item() {
        assert_eq!(
            progress_line("migrating", 36, 1000, "37 `0037_add_index`", Duration::from_millis(4210)),
            "migrating [  37/1000]   3% 37 `0037_add_index` (4.2s)"
        );
        assert_eq!(progress_line("archiving", 0, 1, "a", Duration::ZERO), "archiving [1/1]   0% a (0.0s)");
    }

    #[test]
    fn never_draws_nothing_and_always_ignores_quiet() {
        assert_eq!(Progress::new(ProgressMode::Never, false).draw, Draw::Nothing);
        assert_ne!(Progress::new(ProgressMode::Always, true).draw, Draw::Nothing);
        assert_eq!(Progress::new(ProgressMode::Auto, true).draw, Draw::Nothing, "--quiet silences auto");
    }
}
