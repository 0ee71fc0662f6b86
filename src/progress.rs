//! Progress of a long import on stderr: one line, redrawn in place on a terminal, a line per
//! update elsewhere (`--progress always` in a CI log). Short imports print nothing: the line
//! first shows after a second, then at most ten times a second, so a thousand fast migrations
//! do not cost a thousand writes.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// When progress shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// On a terminal, for imports that last more than a second
    Auto,
    /// Always, every migration, a line each where stderr is not a terminal
    Always,
    /// Never
    Never,
}

pub struct Progress {
    enabled: bool,
    terminal: bool,
    total: usize,
    delay: Duration,
    started: Instant,
    last_drawn: Option<Instant>,
}

const REDRAW_EVERY: Duration = Duration::from_millis(100);

impl Progress {
    pub fn new(mode: ProgressMode, quiet: bool, total: usize) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let (enabled, delay) = match mode {
            ProgressMode::Auto => (terminal && !quiet, Duration::from_secs(1)),
            ProgressMode::Always => (true, Duration::ZERO),
            ProgressMode::Never => (false, Duration::ZERO),
        };
        Progress { enabled, terminal, total, delay, started: Instant::now(), last_drawn: None }
    }

    /// Migration `index` (from 0) of the total is starting.
    pub fn migration(&mut self, index: usize, label: impl FnOnce() -> String) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        let elapsed = now.duration_since(self.started);
        let due = match self.last_drawn {
            None => elapsed >= self.delay,
            Some(last) => self.delay.is_zero() || now.duration_since(last) >= REDRAW_EVERY,
        };
        if !due {
            return;
        }
        self.last_drawn = Some(now);
        let line = progress_line(index, self.total, &label(), elapsed);
        let mut stderr = std::io::stderr().lock();
        // A progress line that cannot be written is not worth failing an import for.
        let _ = if self.terminal { write!(stderr, "\r\x1b[K{line}") } else { writeln!(stderr, "{line}") };
        let _ = stderr.flush();
    }

    /// Clears the line on a terminal, so that the outcome prints on a clean one.
    pub fn finish(&mut self) {
        if self.enabled && self.terminal && self.last_drawn.is_some() {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }
}

/// `migrating [  37/1000]   3% 0037_add_index (4.2s)`: the count, padded so that the line does
/// not jump as it grows, then what is running.
pub fn progress_line(index: usize, total: usize, label: &str, elapsed: Duration) -> String {
    let width = total.to_string().len();
    let percent = (index * 100).checked_div(total).unwrap_or(100);
    format!("migrating [{:>width$}/{total}] {percent:>3}% {label} ({:.1}s)", index + 1, elapsed.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_pads_the_count_and_names_the_migration() {
        assert_eq!(
            progress_line(36, 1000, "37 `0037_add_index`", Duration::from_millis(4210)),
            "migrating [  37/1000]   3% 37 `0037_add_index` (4.2s)"
        );
        assert_eq!(progress_line(0, 1, "1 `a`", Duration::ZERO), "migrating [1/1]   0% 1 `a` (0.0s)");
    }

    #[test]
    fn never_draws_nothing_and_always_ignores_quiet() {
        assert!(!Progress::new(ProgressMode::Never, false, 10).enabled);
        assert!(Progress::new(ProgressMode::Always, true, 10).enabled);
        assert!(!Progress::new(ProgressMode::Auto, true, 10).enabled, "--quiet silences auto");
    }
}
