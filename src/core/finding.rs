//! Findings: what `check` and `plan` find in a project. They are data, not errors: every one is
//! collected, rendered by `report/`, and turned into exit 1 when any is an error.

use std::sync::Arc;

use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

/// Where a finding is: a file, and a byte span in its normalised text.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Location {
    /// Path relative to the repository root.
    pub path: String,
    /// 1-based line, or absent when the finding is about the whole file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column in characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    #[serde(skip)]
    pub span: Option<(usize, usize)>,
    /// The file's normalised text, shared by every finding in it, for the source excerpt.
    #[serde(skip)]
    #[schemars(skip)]
    pub source: Option<Arc<str>>,
}

impl Location {
    pub fn file(path: impl Into<String>) -> Location {
        Location { path: path.into(), line: None, column: None, span: None, source: None }
    }

    /// Points at `len` bytes from `offset` of `source`, computing line and column.
    pub fn at(path: impl Into<String>, source: &Arc<str>, offset: usize, len: usize) -> Location {
        let offset = floor_char_boundary(source, offset.min(source.len()));
        let len = len.min(source.len() - offset);
        let (line, column) = crate::core::hash::line_column(source.as_bytes(), offset);
        Location {
            path: path.into(),
            line: Some(line),
            column: Some(column),
            span: Some((offset, len)),
            source: Some(Arc::clone(source)),
        }
    }

    /// Points at the given 1-based line (the whole line).
    pub fn line(path: impl Into<String>, source: &Arc<str>, line: usize) -> Location {
        let offset = source.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum::<usize>();
        let len = source[offset.min(source.len())..].find('\n').unwrap_or(source.len() - offset.min(source.len()));
        Location::at(path, source, offset, len)
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// One thing `check` or `plan` found.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Finding {
    /// Stable code, e.g. `migrate::shipped_migration_edited`.
    pub code: String,
    pub severity: Severity,
    /// The asset identity or migration the finding is about, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    pub message: String,
    /// What the user can do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Text for the label under the source excerpt.
    #[serde(skip)]
    pub label: Option<String>,
}

impl Finding {
    pub fn error(code: &str, message: impl Into<String>) -> Finding {
        Finding::new(Severity::Error, code, message)
    }

    pub fn warning(code: &str, message: impl Into<String>) -> Finding {
        Finding::new(Severity::Warning, code, message)
    }

    pub fn new(severity: Severity, code: &str, message: impl Into<String>) -> Finding {
        Finding {
            code: format!("migrate::{code}"),
            severity,
            item: None,
            location: None,
            message: message.into(),
            help: None,
            label: None,
        }
    }

    pub fn at(mut self, location: Location) -> Finding {
        self.location = Some(location);
        self
    }

    pub fn item(mut self, item: impl Into<String>) -> Finding {
        self.item = Some(item.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Finding {
        self.help = Some(help.into());
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> Finding {
        self.label = Some(label.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Sorts findings for output: errors first, then by file and line.
pub fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        let key = |f: &Finding| {
            (
                f.severity,
                f.location.as_ref().map(|l| l.path.clone()),
                f.location.as_ref().and_then(|l| l.line),
                f.location.as_ref().and_then(|l| l.column),
                f.code.clone(),
                f.message.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
}
