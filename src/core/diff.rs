//! Unified diffs of normalised text, as `git diff -U3` prints them (without git's function
//! context after `@@`).

use similar::TextDiff;

/// Returns the unified diff from `before` to `after`; `None` is the absent side of an add or
/// removal (`/dev/null`). Identical texts give an empty string.
pub fn unified_diff(old_path: &str, before: Option<&str>, new_path: &str, after: Option<&str>) -> String {
    let old_header = if before.is_some() { format!("a/{old_path}") } else { "/dev/null".to_string() };
    let new_header = if after.is_some() { format!("b/{new_path}") } else { "/dev/null".to_string() };
    let diff = TextDiff::configure()
        .timeout(std::time::Duration::from_secs(2))
        .diff_lines(before.unwrap_or(""), after.unwrap_or(""));
    diff.unified_diff().context_radius(3).missing_newline_hint(true).header(&old_header, &new_header).to_string()
}

/// Counts added and removed lines of a unified diff.
pub fn diff_stat(diff: &str) -> (usize, usize) {
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
