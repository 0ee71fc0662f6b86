//! Unified diffs of normalised text, as `git diff -U3` prints them (without git's function
//! context after `@@`).

use similar::TextDiff;

/// A diff is shown up to this many bytes; the rest is counted, not kept (a data migration of
/// 56 MB would otherwise be a 67 MB diff and a 113 MB report).
pub const DIFF_SHOWN_BYTES: usize = 1 << 20;

/// The trailer of a cut diff: `\ diff cut at N bytes: L more lines, +A -R in all`.
const CUT: &str = "\\ diff cut at ";

/// Returns the unified diff from `before` to `after`; `None` is the absent side of an add or
/// removal (`/dev/null`). Identical texts give an empty string. A diff longer than
/// `DIFF_SHOWN_BYTES` is cut at a line end and ends with a trailer that counts the lines left out
/// and the whole diff's added and removed lines (which `diff_stat` reads).
pub fn unified_diff(old_path: &str, before: Option<&str>, new_path: &str, after: Option<&str>) -> String {
    let old_header = if before.is_some() { format!("a/{old_path}") } else { "/dev/null".to_string() };
    let new_header = if after.is_some() { format!("b/{new_path}") } else { "/dev/null".to_string() };
    let diff = TextDiff::configure()
        .timeout(std::time::Duration::from_secs(2))
        .diff_lines(before.unwrap_or(""), after.unwrap_or(""));
    let mut out = Capped { shown: String::new(), line: String::new(), cut: false, more: 0, added: 0, removed: 0 };
    let mut unified = diff.unified_diff();
    unified.context_radius(3).missing_newline_hint(true).header(&old_header, &new_header);
    let _ = std::fmt::Write::write_fmt(&mut out, format_args!("{unified}"));
    out.finish()
}

/// Keeps the first `DIFF_SHOWN_BYTES` of a diff as it is written, line by line, and counts the
/// rest.
struct Capped {
    shown: String,
    /// The line being written.
    line: String,
    cut: bool,
    more: usize,
    added: usize,
    removed: usize,
}

impl Capped {
    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        if line.starts_with('+') && !line.starts_with("+++") {
            self.added += 1;
        } else if line.starts_with('-') && !line.starts_with("---") {
            self.removed += 1;
        }
        if !self.cut && self.shown.len() + line.len() <= DIFF_SHOWN_BYTES {
            self.shown.push_str(&line);
        } else {
            self.cut = true;
            self.more += 1;
        }
    }

    fn finish(mut self) -> String {
        if !self.line.is_empty() {
            self.end_line();
        }
        if self.cut {
            self.shown.push_str(&format!(
                "{CUT}{DIFF_SHOWN_BYTES} bytes: {} more lines, +{} -{} in all\n",
                self.more, self.added, self.removed
            ));
        }
        self.shown
    }
}

impl std::fmt::Write for Capped {
    fn write_str(&mut self, mut s: &str) -> std::fmt::Result {
        while let Some(end) = s.find('\n') {
            self.line.push_str(&s[..=end]);
            self.end_line();
            s = &s[end + 1..];
        }
        self.line.push_str(s);
        Ok(())
    }
}

/// Counts added and removed lines of a unified diff (of a cut one, its trailer says).
pub fn diff_stat(diff: &str) -> (usize, usize) {
    if let Some(trailer) = diff.lines().last().and_then(|l| l.strip_prefix(CUT)) {
        let counts = trailer.rsplit(", ").next().unwrap_or("");
        let mut words = counts.split(' ');
        let number = |w: Option<&str>, sign: char| w.and_then(|w| w.strip_prefix(sign)).and_then(|n| n.parse().ok());
        if let (Some(added), Some(removed)) = (number(words.next(), '+'), number(words.next(), '-')) {
            return (added, removed);
        }
    }
    let mut added = 0;
    let mut removed = 0;
    for line in diff.lines() {
        if line.starts_with('+') && !line.starts_with("+++") {
            added += 1;
        } else if line.starts_with('-') && !line.starts_with("---") {
            removed += 1;
        }
    }
    (added, removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_diff_is_cut_and_counted() {
        let after: String = (0..200_000).map(|i| format!("INSERT INTO t VALUES ({i});\n")).collect();
        let diff = unified_diff("big.sql", None, "big.sql", Some(&after));
        assert!(diff.len() <= DIFF_SHOWN_BYTES + 200, "{} bytes", diff.len());
        let last = diff.lines().last().unwrap();
        assert!(last.starts_with("\\ diff cut at 1048576 bytes: ") && last.ends_with(", +200000 -0 in all"), "{last}");
        assert_eq!(diff_stat(&diff), (200_000, 0), "the stat counts the whole diff");
        // The shown part is the diff's beginning, cut at a line end.
        let full_start = "--- /dev/null\n+++ b/big.sql\n@@ -0,0 +1,200000 @@\n+INSERT INTO t VALUES (0);\n";
        assert!(diff.starts_with(full_start), "{}", &diff[..200]);
        // The control: a short diff is whole and has no trailer.
        let short = unified_diff("a", Some("x\n"), "a", Some("y\n"));
        assert_eq!(short, "--- a/a\n+++ b/a\n@@ -1 +1 @@\n-x\n+y\n");
        assert_eq!(diff_stat(&short), (1, 1));
    }

    #[test]
    fn modification_addition_removal() {
        assert_eq!(
            unified_diff("a.yaml", Some("x: 1\ny: 2\n"), "a.yaml", Some("x: 1\ny: 3\n")),
            "--- a/a.yaml\n+++ b/a.yaml\n@@ -1,2 +1,2 @@\n x: 1\n-y: 2\n+y: 3\n"
        );
        assert_eq!(
            unified_diff("n.yaml", None, "n.yaml", Some("a\n")),
            "--- /dev/null\n+++ b/n.yaml\n@@ -0,0 +1 @@\n+a\n"
        );
        assert_eq!(
            unified_diff("o.yaml", Some("a\n"), "o.yaml", None),
            "--- a/o.yaml\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n"
        );
        assert_eq!(unified_diff("s", Some("a\n"), "s", Some("a\n")), "");
        assert_eq!(diff_stat("--- a\n+++ b\n@@\n-x\n+y\n+z\n"), (2, 1));
    }
}
