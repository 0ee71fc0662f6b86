//! Text for people: findings as miette draws them, then what changes, then the diffs.

use std::fmt::Write as _;

use super::{CheckOutput, Style, describe_revision, plural, render_finding};
use crate::core::diff::diff_stat;
use crate::core::plan::{AssetChangeKind, MigrationChangeKind, Plan, ReleaseKind};

/// Renders a plan.
pub fn plan(plan: &Plan, style: Style) -> String {
    let mut out = String::new();
    for finding in &plan.findings {
        out.push_str(&render_finding(finding, style));
        out.push('\n');
    }
    let base = plan.base.as_ref().map_or_else(|| "nothing".to_string(), describe_revision);
    let _ = writeln!(out, "plan for `{}`: {} → {}", plan.project, base, describe_revision(&plan.head));
    if let Some(env) = &plan.environment {
        let _ = writeln!(
            out,
            "environment `{}`: base is target `{}` (release {}), the least advanced of {}",
            env.name,
            env.target_id,
            env.release_id.short(),
            plural(env.targets, "target", "targets")
        );
        if env.targets_disagree {
            let _ = writeln!(
                out,
                "note: the targets of `{}` hold different releases: {}; the plan is for the least advanced",
                env.name,
                env.describe_holdings()
            );
        }
    }
    let kind = match plan.release.kind {
        ReleaseKind::None => "nothing to ship",
        ReleaseKind::Deployment => "deployment (assets only)",
        ReleaseKind::Migration => "migration (SQL runs)",
    };
    let version = plan.release.version.as_ref().map(|v| format!(" {v}")).unwrap_or_default();
    let bump = super::bump_words(plan.release.bump).map(|b| format!(", needs {b}")).unwrap_or_default();
    let _ = writeln!(out, "release{version}: {kind}{bump}");

    if !plan.assets.is_empty() {
        let _ = writeln!(out, "\nassets:");
        for change in &plan.assets {
            let (added, removed) = diff_stat(&change.diff);
            let what = match change.change {
                AssetChangeKind::Added => "added",
                AssetChangeKind::Modified => "modified",
                AssetChangeKind::Cosmetic => "cosmetic",
                AssetChangeKind::Renamed => "renamed",
                AssetChangeKind::Removed => "removed",
            };
            let id = match &change.renamed_from {
                Some(from) => format!("{from} → {}", change.id),
                None => change.id.to_string(),
            };
            let mut notes = super::asset_notes(change);
            let stat = if change.diff.is_empty() {
                notes.insert(0, "same content".to_string());
                String::new()
            } else {
                format!("  +{added} -{removed}")
            };
            let note = if notes.is_empty() { String::new() } else { format!("  ({})", notes.join("; ")) };
            let _ = writeln!(out, "  {what:<9} {id}{stat}{note}");
        }
    }
    if !plan.migrations.is_empty() {
        let _ = writeln!(out, "\nmigrations:");
        for change in &plan.migrations {
            let what = match change.change {
                MigrationChangeKind::Added => "added",
                MigrationChangeKind::Edited => "edited",
                MigrationChangeKind::Removed => "removed",
                MigrationChangeKind::Reverted => "reverted",
            };
            let no_tx = if change.no_transaction { "  (no transaction)" } else { "" };
            let _ = writeln!(out, "  {what:<9} {:<9} {}{no_tx}", change.dialect.name(), change.name);
        }
    }
    if !plan.session.is_empty() {
        let _ = writeln!(out, "\nsession (run first by every import session):");
        for change in &plan.session {
            let _ = writeln!(
                out,
                "  changed   {:<9} {} → {}",
                change.dialect.name(),
                plural(change.before.len(), "statement", "statements"),
                plural(change.after.len(), "statement", "statements")
            );
        }
    }
    if !plan.ignored.is_empty() {
        let _ = writeln!(out, "\nignored (changed, not shipped):");
        for path in &plan.ignored {
            let _ = writeln!(out, "  {path}");
        }
    }
    let mut shown = std::collections::BTreeSet::new();
    let diffs = plan
        .assets
        .iter()
        .map(|c| &c.diff)
        .chain(plan.migrations.iter().map(|c| &c.diff))
        .chain(plan.session.iter().map(|c| &c.diff));
    let mut first = true;
    for diff in diffs {
        // Dialects that share a generic file share its diff: show it once.
        if diff.is_empty() || !shown.insert(diff) {
            continue;
        }
        if first {
            out.push('\n');
            first = false;
        }
        out.push_str(diff);
    }
    let s = &plan.summary;
    let _ = writeln!(
        out,
        "\n{}, {}; {}, {}",
        plural(plan.assets.len(), "asset change", "asset changes"),
        plural(plan.migrations.len(), "migration change", "migration changes"),
        plural(s.errors, "error", "errors"),
        plural(s.warnings, "warning", "warnings"),
    );
    out
}

/// Renders a check report.
pub fn check(report: &CheckOutput, style: Style) -> String {
    let mut out = String::new();
    for finding in &report.findings {
        out.push_str(&render_finding(finding, style));
        out.push('\n');
    }
    let base = report.base.as_ref().map(|b| format!(" against {}", describe_revision(b))).unwrap_or_default();
    let _ = writeln!(
        out,
        "checked `{}` at {}{base}: {} and {}, {} ignored; {}, {}",
        report.project,
        describe_revision(&report.revision),
        plural(report.migrations, "migration", "migrations"),
        plural(report.assets, "asset", "assets"),
        report.ignored.len(),
        plural(report.errors, "error", "errors"),
        plural(report.warnings, "warning", "warnings"),
    );
    if let Some(state_id) = &report.state_id {
        let _ = writeln!(out, "state id: {state_id}");
    }
    out
}

/// Renders a bundle's manifest for people.
pub fn manifest(manifest: &crate::core::manifest::Manifest, signed: bool) -> String {
    use crate::core::manifest::{Action, BundleKind, ItemType, ReleaseKind};
    let mut out = String::new();
    let kind = match manifest.release.kind {
        ReleaseKind::Deployment => "deployment (assets only)",
        ReleaseKind::Migration => "migration (SQL runs)",
    };
    let bundle = match manifest.release.bundle {
        BundleKind::Full => "full",
        BundleKind::Incremental => "incremental",
        BundleKind::Downgrade => "downgrade",
    };
    let version = manifest.release.version.as_ref().map(|v| format!(" {v}")).unwrap_or_default();
    let _ = writeln!(out, "bundle for `{}`: {bundle} release{version}, {kind}", manifest.project);
    let _ = writeln!(out, "release id: {}", manifest.release.id);
    match &manifest.requires.release_id {
        Some(id) => {
            let _ = writeln!(out, "requires:   the target to hold release {id}");
        }
        None => {
            let _ = writeln!(out, "requires:   nothing (any target that is behind converges)");
        }
    }
    let head = &manifest.source.head;
    match &manifest.source.base {
        Some(base) => {
            let _ = writeln!(
                out,
                "source:     {} ({}) → {} ({}), depth {}",
                base.reference,
                &base.commit[..base.commit.len().min(12)],
                head.reference,
                &head.commit[..head.commit.len().min(12)],
                manifest.source.head_depth
            );
        }
        None => {
            let _ = writeln!(
                out,
                "source:     {} ({}), depth {}",
                head.reference,
                &head.commit[..head.commit.len().min(12)],
                manifest.source.head_depth
            );
        }
    }
    if let Some(env) = &manifest.environment {
        let _ = writeln!(out, "environment: {env}");
    }
    let dialects: Vec<&str> = manifest.dialects.iter().map(|d| d.name()).collect();
    let _ = writeln!(out, "dialects:   {}; history table `{}`", dialects.join(", "), manifest.history_table);
    let _ = writeln!(out, "signature:  {}", if signed { "present" } else { "none" });
    for (dialect, session) in &manifest.session {
        let _ = writeln!(out, "session ({dialect}, run first by every import): {}", session.sha256);
        for statement in &session.statements {
            let _ = writeln!(out, "  {statement};");
        }
    }
    let action = |a: Action| match a {
        Action::Apply => "apply",
        Action::Revert => "revert",
        Action::Upsert => "upsert",
        Action::Delete => "delete",
        Action::Skip => "skip",
        Action::Include => "include",
    };
    for (item_type, title) in
        [(ItemType::Migration, "migrations"), (ItemType::Asset, "assets"), (ItemType::Script, "offline scripts")]
    {
        let items: Vec<_> = manifest.items.iter().filter(|i| i.item_type == item_type).collect();
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title}:");
        for item in items {
            let what = match (&item.migration, &item.path) {
                (Some(m), _) => {
                    let tx = if m.transactional { "" } else { ", no transaction" };
                    let n = m.statements.len();
                    format!(
                        "{:<9} {}  ({n} statement{}{tx})",
                        item.dialect.map(|d| d.name()).unwrap_or(""),
                        m.name,
                        if n == 1 { "" } else { "s" }
                    )
                }
                (None, Some(path)) if item_type == ItemType::Script => path.clone(),
                _ => item.identity.clone(),
            };
            let _ = writeln!(out, "  {:<8} {what}  {}", action(item.action), item.sha256.short());
        }
    }
    out
}
