//! Renderers: plans, check reports and findings become text, markdown or JSON strings. They take a
//! `Style` value and never ask whether stdout is a terminal.

pub mod import;
pub mod json;
pub mod markdown;
pub mod text;

use std::sync::Arc;

use serde::Serialize;

use crate::core::finding::{Finding, Severity};
use crate::core::plan::Revision;

/// How text output looks.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
    pub width: usize,
}

impl Default for Style {
    fn default() -> Self {
        Style { color: false, width: 100 }
    }
}

/// The format version of `check --format json`.
pub const CHECK_FORMAT_VERSION: u32 = 1;

/// What `check` reports; also the `--format json` document.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(title = "migrate check --format json")]
pub struct CheckOutput {
    /// Format version of this document; `1`.
    pub format_version: u32,
    pub project: String,
    pub revision: Revision,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<Revision>,
    pub migrations: usize,
    pub assets: usize,
    pub errors: usize,
    pub warnings: usize,
    /// The state id of the project at this revision; absent when the check found errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_id: Option<crate::core::hash::ContentHash>,
    pub findings: Vec<Finding>,
    pub ignored: Vec<String>,
}

/// A finding as a miette diagnostic, for the graphical renderer.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct FindingDiagnostic {
    message: String,
    code: String,
    severity: miette::Severity,
    help: Option<String>,
    source_code: Option<miette::NamedSource<Arc<str>>>,
    label: Option<miette::LabeledSpan>,
}

impl miette::Diagnostic for FindingDiagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(&self.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source_code.as_ref().map(|s| s as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.label.clone().map(|l| Box::new(std::iter::once(l)) as Box<dyn Iterator<Item = _>>)
    }
}

/// Renders one finding as miette draws diagnostics: code, message, the source line, help.
pub fn render_finding(finding: &Finding, style: Style) -> String {
    let location = finding.location.as_ref();
    let (source, label) = match location.and_then(|l| Some((l.source.clone()?, l.span?))) {
        Some((text, (offset, len))) => {
            let path = location.map(|l| l.path.clone()).unwrap_or_default();
            let named = miette::NamedSource::new(path, text);
            (Some(named), Some(miette::LabeledSpan::new(finding.label.clone(), offset, len)))
        }
        None => (None, None),
    };
    let mut message = finding.message.clone();
    if source.is_none()
        && let Some(l) = location
        && !message.contains(&format!("`{}`", l.path))
    {
        message = format!("{}: {message}", l.path);
    }
    let diagnostic = FindingDiagnostic {
        message,
        code: finding.code.clone(),
        severity: match finding.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Info => miette::Severity::Advice,
        },
        help: finding.help.clone(),
        source_code: source,
        label,
    };
    render_diagnostic(&diagnostic, style)
}

/// Renders any diagnostic with the house theme.
pub fn render_diagnostic(diagnostic: &dyn miette::Diagnostic, style: Style) -> String {
    let theme = if style.color { miette::GraphicalTheme::unicode() } else { miette::GraphicalTheme::unicode_nocolor() };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_links(false).with_width(style.width);
    let mut out = String::new();
    if handler.render_report(&mut out, diagnostic).is_err() {
        out = format!("{diagnostic}\n");
    }
    out
}

/// Returns `name (short id)` for a revision.
pub fn describe_revision(revision: &Revision) -> String {
    match &revision.commit {
        Some(commit) if revision.spec != *commit => {
            format!("{} ({})", revision.spec, &commit[..commit.len().min(12)])
        }
        Some(commit) => commit[..commit.len().min(12)].to_string(),
        None => revision.spec.clone(),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// "a minor version bump", for a plan's release line; nothing when nothing ships.
pub fn bump_words(bump: crate::core::plan::Bump) -> Option<&'static str> {
    use crate::core::plan::Bump;
    match bump {
        Bump::None => None,
        Bump::Patch => Some("a patch version bump"),
        Bump::Minor => Some("a minor version bump"),
        Bump::Major => Some("a major version bump"),
    }
}

/// What a plan says about one asset besides its change: skipped, kept, ignored, dependencies.
pub fn asset_notes(change: &crate::core::plan::AssetChange) -> Vec<String> {
    use crate::core::selection::AssetAction;
    let mut notes = Vec::new();
    if change.change == crate::core::plan::AssetChangeKind::Cosmetic {
        notes.push("same data: formatting only".to_string());
    }
    let holds = match &change.sha256_before {
        Some(sha) => format!("target holds sha256:{}", sha.short()),
        None => "target has no copy".to_string(),
    };
    match change.action {
        AssetAction::Ship if change.skipped_earlier => notes.push(format!("skipped earlier, {holds}")),
        AssetAction::Ship => {}
        AssetAction::Skip if change.skipped_earlier => notes.push(format!("skipped earlier and again, {holds}")),
        AssetAction::Skip => notes.push(format!("skipped, {holds}")),
        AssetAction::SkipAlways => notes.push(format!("skip always (never shipped or deleted here), {holds}")),
    }
    if change.ignored {
        notes.push("ignored now: deleted where an import put it".to_string());
    }
    if !change.depends_on.is_empty() {
        let list: Vec<String> = change.depends_on.iter().map(ToString::to_string).collect();
        notes.push(format!("depends on {}", list.join(", ")));
    }
    notes
}
