//! Markdown for a pull-request comment: errors and hazards first, diffs folded, and never over
//! GitHub's 65,536-character limit — past it, diffs are shortened and the comment says so.

use std::fmt::Write as _;

use super::{CheckOutput, describe_revision, plural};
use crate::core::diff::diff_stat;
use crate::core::finding::{Finding, Severity};
use crate::core::plan::{AssetChangeKind, MigrationChangeKind, Plan, ReleaseKind};

/// GitHub refuses comments longer than this many characters.
pub const COMMENT_LIMIT: usize = 65_536;

/// Table rows shown per section before "… and N more".
const MAX_ROWS: usize = 300;

/// Renders a plan within `COMMENT_LIMIT` characters.
pub fn plan(plan: &Plan) -> String {
    plan_with_limit(plan, COMMENT_LIMIT)
}

/// Renders a plan within `limit` characters (a parameter so tests can use a small one).
pub fn plan_with_limit(plan: &Plan, limit: usize) -> String {
    let mut head = String::new();
    let base = plan.base.as_ref().map_or_else(|| "nothing".to_string(), describe_revision);
    let _ = writeln!(head, "## migrate plan: `{}`\n", plan.project);
    let kind = match plan.release.kind {
        ReleaseKind::None => "nothing to ship",
        ReleaseKind::Deployment => "**deployment** (assets only)",
        ReleaseKind::Migration => "**migration** (SQL runs)",
    };
    let version = plan.release.version.as_ref().map(|v| format!(" `{v}`")).unwrap_or_default();
    let bump = super::bump_words(plan.release.bump).map(|b| format!(", needs {b}")).unwrap_or_default();
    let _ = writeln!(head, "Release{version}: {kind}{bump} · `{base}` → `{}`", describe_revision(&plan.head));
    if let Some(env) = &plan.environment {
        let _ = writeln!(
            head,
            "\nEnvironment `{}`: planned against target `{}`, the least advanced of {}{}.",
            env.name,
            env.target_id,
            plural(env.targets, "target", "targets"),
            if env.targets_disagree {
                format!(" (the targets hold different releases: {})", env.describe_holdings())
            } else {
                String::new()
            }
        );
    }
    findings_section(&mut head, &plan.findings);

    let s = &plan.summary;
    let _ = writeln!(
        head,
        "\n### Changes\n\n{} added, {} modified, {} cosmetic, {} renamed, {} removed assets; {} added, {} edited, {} removed migrations.",
        s.assets_added,
        s.assets_modified,
        s.assets_cosmetic,
        s.assets_renamed,
        s.assets_removed,
        s.migrations_added,
        s.migrations_edited,
        s.migrations_removed
    );
    if !plan.migrations.is_empty() {
        let _ = writeln!(head, "\n| migration | dialect | change |\n|---|---|---|");
        for change in plan.migrations.iter().take(MAX_ROWS) {
            let what = match change.change {
                MigrationChangeKind::Added => "added",
                MigrationChangeKind::Edited => "**edited**",
                MigrationChangeKind::Removed => "**removed**",
                MigrationChangeKind::Reverted => "reverted (down section)",
            };
            let no_tx = if change.no_transaction { " (no transaction)" } else { "" };
            let _ = writeln!(head, "| `{}` | {} | {what}{no_tx} |", change.name, change.dialect);
        }
        more(&mut head, plan.migrations.len());
    }
    for change in &plan.session {
        let _ = writeln!(
            head,
            "\nSession statements for {} change ({} → {}): every import session runs them first.",
            change.dialect,
            change.before.len(),
            change.after.len()
        );
    }
    if !plan.assets.is_empty() {
        let _ = writeln!(head, "\n| asset | change | lines |\n|---|---|---|");
        for change in plan.assets.iter().take(MAX_ROWS) {
            let (added, removed) = diff_stat(&change.diff);
            let mut what = match (&change.change, &change.renamed_from) {
                (AssetChangeKind::Renamed, Some(from)) => format!("renamed from `{from}`"),
                (AssetChangeKind::Cosmetic, _) => "cosmetic (same data)".to_string(),
                (kind, _) => format!("{kind:?}").to_lowercase(),
            };
            let notes: Vec<String> =
                super::asset_notes(change).into_iter().filter(|n| !n.starts_with("same data")).collect();
            if !notes.is_empty() {
                what = format!("{what}: {}", notes.join("; "));
            }
            let _ = writeln!(head, "| `{}` | {what} | +{added} −{removed} |", change.id);
        }
        more(&mut head, plan.assets.len());
    }
    if !plan.ignored.is_empty() {
        let _ = writeln!(
            head,
            "\nIgnored (changed, never shipped): {}",
            plan.ignored.iter().take(MAX_ROWS).map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
        );
        if plan.ignored.len() > MAX_ROWS {
            let _ = writeln!(head, "… and {} more", plan.ignored.len() - MAX_ROWS);
        }
    }

    let mut seen = std::collections::BTreeSet::new();
    let diffs: Vec<(&str, &str)> = plan
        .migrations
        .iter()
        .map(|c| (c.path.as_str(), c.diff.as_str()))
        .chain(plan.assets.iter().map(|c| (c.path.as_str(), c.diff.as_str())))
        .chain(plan.session.iter().map(|c| ("migrate.yaml", c.diff.as_str())))
        .filter(|(_, d)| !d.is_empty() && seen.insert(*d))
        .collect();
    if diffs.is_empty() {
        return head;
    }
    let notice = "\n> [!NOTE]\n> Diffs are shortened to keep this comment under GitHub's 65,536-character limit; run `migrate plan` for all of them.\n";
    let full = diff_blocks(&diffs, None);
    if chars(&head) + chars(&full) <= limit {
        return head + &full;
    }
    // Shrink the per-diff line budget until everything fits; then, if even the headers do not
    // fit, drop diffs from the end.
    let budget = limit.saturating_sub(chars(&head) + chars(notice));
    let mut lines = 200;
    loop {
        let shortened = diff_blocks(&diffs, Some(lines));
        if chars(&shortened) <= budget || lines == 0 {
            if chars(&shortened) <= budget {
                return head + notice + &shortened;
            }
            break;
        }
        lines /= 2;
    }
    let mut out = head + notice;
    let mut shown = 0;
    for (path, diff) in &diffs {
        let block = diff_blocks(&[(path, diff)], Some(0));
        if chars(&out) + chars(&block) + 200 > limit {
            break;
        }
        out.push_str(&block);
        shown += 1;
    }
    let _ = writeln!(out, "\n{} not shown.", plural(diffs.len() - shown, "diff", "diffs"));
    out
}

fn more(out: &mut String, total: usize) {
    if total > MAX_ROWS {
        let _ = writeln!(out, "\n… and {} more", total - MAX_ROWS);
    }
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

/// Folded diff blocks, each cut to `max_lines` lines when given.
fn diff_blocks(diffs: &[(&str, &str)], max_lines: Option<usize>) -> String {
    let mut out = String::new();
    for (path, diff) in diffs {
        let (added, removed) = diff_stat(diff);
        let total = diff.lines().count();
        let body: String = match max_lines {
            Some(max) if total > max => {
                let mut cut: String = diff.lines().take(max).map(|l| format!("{l}\n")).collect();
                let _ = writeln!(cut, "… {} more lines", total - max);
                cut
            }
            _ => diff.to_string(),
        };
        let fence = "`".repeat(longest_backtick_run(&body).max(2) + 1);
        let _ = write!(
            out,
            "\n<details><summary><code>{}</code> +{added} −{removed}</summary>\n\n{fence}diff\n{body}{fence}\n</details>\n",
            html_escape(path)
        );
    }
    out
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn findings_section(out: &mut String, findings: &[Finding]) {
    if findings.is_empty() {
        let _ = writeln!(out, "\nNo errors or warnings.");
    }
    for (severity, title) in [(Severity::Error, "Errors"), (Severity::Warning, "Warnings"), (Severity::Info, "Notes")] {
        let group: Vec<&Finding> = findings.iter().filter(|f| f.severity == severity).collect();
        if group.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n### {title} ({})\n", group.len());
        for finding in group.iter().take(MAX_ROWS) {
            let location = finding
                .location
                .as_ref()
                .map(|l| match l.line {
                    Some(line) => format!(" `{}:{line}`", l.path),
                    None if finding.message.contains(&format!("`{}`", l.path)) => String::new(),
                    None => format!(" `{}`", l.path),
                })
                .unwrap_or_default();
            let label = finding.label.as_ref().map(|l| format!(" ({l})")).unwrap_or_default();
            let help = finding.help.as_ref().map(|h| format!(" — {h}")).unwrap_or_default();
            let _ = writeln!(out, "- **`{}`**{location}: {}{label}{help}", finding.code, finding.message);
        }
        more(out, group.len());
    }
}

/// Renders a check report.
pub fn check(report: &CheckOutput) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## migrate check: `{}` at `{}`\n", report.project, describe_revision(&report.revision));
    let _ = writeln!(
        out,
        "{} and {}; {}, {}.",
        plural(report.migrations, "migration", "migrations"),
        plural(report.assets, "asset", "assets"),
        plural(report.errors, "error", "errors"),
        plural(report.warnings, "warning", "warnings")
    );
    if let Some(state_id) = &report.state_id {
        let _ = writeln!(out, "\nState id: `{state_id}`");
    }
    findings_section(&mut out, &report.findings);
    out
}
