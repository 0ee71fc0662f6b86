//! `migrate select`: the release manager's screen, as a model without a terminal. Rows are the
//! assets pending for an environment (from its plan); keys move, toggle and confirm; the outcome
//! is the `export` command line that ships the choice and the `skip_always` globs to add to
//! `migrate.yaml`. The shell draws it and reads keys.

use crate::core::hash::ContentHash;
use crate::core::model::ItemId;
use crate::core::plan::{AssetChange, AssetChangeKind, Plan};
use crate::core::selection::AssetAction;

/// What the release manager chose for one asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Ships with this release.
    Selected,
    /// Left as the target has it, this time; offered again next time.
    SkipThis,
    /// Never shipped to this environment (written to its `skip_always`).
    SkipAlways,
}

impl Choice {
    pub fn label(self) -> &'static str {
        match self {
            Choice::Selected => "selected",
            Choice::SkipThis => "skip this",
            Choice::SkipAlways => "skip always",
        }
    }
}

/// One pending asset.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: ItemId,
    pub change: AssetChangeKind,
    pub choice: Choice,
    /// `skip_always` in `migrate.yaml` already: shown, not changed here.
    pub configured_always: bool,
    pub skipped_earlier: bool,
    /// The copy the target holds.
    pub held: Option<ContentHash>,
    pub depends_on: Vec<ItemId>,
    pub diff: String,
}

impl Row {
    /// `added`, `modified`, …, `skipped earlier` where it applies.
    pub fn status(&self) -> String {
        let change = match self.change {
            AssetChangeKind::Added => "added",
            AssetChangeKind::Modified => "modified",
            AssetChangeKind::Cosmetic => "cosmetic",
            AssetChangeKind::Renamed => "renamed",
            AssetChangeKind::Removed => "removed",
        };
        if self.skipped_earlier { format!("{change}, skipped earlier") } else { change.to_string() }
    }
}

/// A key the screen understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Up,
    Down,
    /// Space: selected ↔ skip this.
    Toggle,
    /// `a`: skip always ↔ selected.
    Always,
    /// `J`/`K`, page keys: scroll the diff.
    DiffDown,
    DiffUp,
    /// Enter.
    Confirm,
    /// `q`, Esc.
    Quit,
}

/// What a key did to the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Continue,
    Confirmed,
    Quit,
}

/// The screen's state.
#[derive(Debug, Clone)]
pub struct Screen {
    pub environment: String,
    pub rows: Vec<Row>,
    pub cursor: usize,
    /// First line of the highlighted asset's diff on screen.
    pub diff_scroll: usize,
    /// A one-line message (why a key did nothing).
    pub message: Option<String>,
}

impl Screen {
    /// The screen for a plan made for `environment`: every asset change, as the plan chose it.
    pub fn new(environment: &str, plan: &Plan) -> Screen {
        let rows = plan.assets.iter().map(row).collect();
        Screen { environment: environment.to_string(), rows, cursor: 0, diff_scroll: 0, message: None }
    }

    pub fn current(&self) -> Option<&Row> {
        self.rows.get(self.cursor)
    }

    /// Applies one key.
    pub fn key(&mut self, key: Key) -> Outcome {
        self.message = None;
        match key {
            Key::Up => {
                self.cursor = self.cursor.saturating_sub(1);
                self.diff_scroll = 0;
            }
            Key::Down => {
                if self.cursor + 1 < self.rows.len() {
                    self.cursor += 1;
                }
                self.diff_scroll = 0;
            }
            Key::DiffDown => self.diff_scroll += 10,
            Key::DiffUp => self.diff_scroll = self.diff_scroll.saturating_sub(10),
            Key::Toggle | Key::Always => {
                let Some(row) = self.rows.get_mut(self.cursor) else { return Outcome::Continue };
                if row.configured_always {
                    self.message = Some(format!(
                        "`{}` is in `skip_always` of `{}` in migrate.yaml: edit it there",
                        row.id, self.environment
                    ));
                    return Outcome::Continue;
                }
                row.choice = match (key, row.choice) {
                    (Key::Toggle, Choice::Selected) => Choice::SkipThis,
                    (Key::Toggle, _) => Choice::Selected,
                    (_, Choice::SkipAlways) => Choice::Selected,
                    _ => Choice::SkipAlways,
                };
            }
            Key::Confirm => return Outcome::Confirmed,
            Key::Quit => return Outcome::Quit,
        }
        Outcome::Continue
    }

    /// The dependencies of a selected row that the target would not have (a warning on screen;
    /// `export` refuses such a release).
    pub fn missing_dependencies<'a>(&self, row: &'a Row) -> Vec<&'a ItemId> {
        if row.choice != Choice::Selected || row.change == AssetChangeKind::Removed {
            return Vec::new();
        }
        row.depends_on
            .iter()
            .filter(|dep| {
                self.rows.iter().any(|other| {
                    &other.id == *dep
                        && other.choice != Choice::Selected
                        && other.held.is_none()
                        && other.change != AssetChangeKind::Removed
                })
            })
            .collect()
    }

    /// The assets this release leaves out that `migrate.yaml` does not already: each is a
    /// `--skip` of the export.
    pub fn skipped(&self) -> Vec<&ItemId> {
        self.rows.iter().filter(|r| r.choice != Choice::Selected && !r.configured_always).map(|r| &r.id).collect()
    }

    /// The `skip_always` globs to add to the environment in `migrate.yaml`.
    pub fn new_skip_always(&self, assets_dir: &str) -> Vec<String> {
        self.rows
            .iter()
            .filter(|r| r.choice == Choice::SkipAlways && !r.configured_always)
            .map(|r| format!("{assets_dir}{}.yaml", r.id))
            .collect()
    }

    /// The `migrate export` command line that ships this choice (the project's own options are
    /// passed on by the caller).
    pub fn export_arguments(&self, output: &str) -> Vec<String> {
        let mut args = vec!["export".to_string(), "--env".to_string(), self.environment.clone()];
        for id in self.skipped() {
            args.extend(["--skip".to_string(), id.to_string()]);
        }
        args.extend(["-o".to_string(), output.to_string()]);
        args
    }
}

fn row(change: &AssetChange) -> Row {
    let choice = match change.action {
        AssetAction::Ship => Choice::Selected,
        AssetAction::Skip => Choice::SkipThis,
        AssetAction::SkipAlways => Choice::SkipAlways,
    };
    Row {
        id: change.id.clone(),
        change: change.change,
        choice,
        configured_always: change.action == AssetAction::SkipAlways,
        skipped_earlier: change.skipped_earlier,
        held: change.sha256_before.clone(),
        depends_on: change.depends_on.clone(),
        diff: change.diff.clone(),
    }
}

/// Adds `globs` to the `skip_always` of `environment` in the text of `migrate.yaml`, rewriting
/// only its top-level `environments:` block (in the map form; comments inside that block are
/// not kept). Returns the new text, or why it cannot.
pub fn add_skip_always(
    text: &str,
    environments: &crate::core::project::Environments,
    environment: &str,
    globs: &[String],
) -> Result<String, String> {
    if globs.is_empty() {
        return Ok(text.to_string());
    }
    if !environments.contains(environment) {
        return Err(format!("`{environment}` is not listed under `environments`"));
    }
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut block = String::from("environments:\n");
    for (name, options) in &environments.0 {
        let mut skip: Vec<String> = options.skip_always.clone();
        if name == environment {
            for glob in globs {
                if !skip.contains(glob) {
                    skip.push(glob.clone());
                }
            }
        }
        if skip.is_empty() {
            block.push_str(&format!("  {name}: {{}}\n"));
        } else {
            let list: Vec<String> = skip.iter().map(|g| quote(g)).collect();
            block.push_str(&format!("  {name}: {{ skip_always: [{}] }}\n", list.join(", ")));
        }
    }
    // The block runs from its key to the next top-level line that is not a comment or blank.
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(start) = lines.iter().position(|l| l.starts_with("environments:")) else {
        let mut out = text.to_string();
        if !out.ends_with('\n') && !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&block);
        return Ok(out);
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| {
            let first = l.chars().next();
            first.is_some_and(|c| !c.is_whitespace() && c != '#')
        })
        .map_or(lines.len(), |offset| start + 1 + offset);
    Ok(format!("{}{block}{}", lines[..start].concat(), lines[end..].concat()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::project::Project;

    fn change(id: &str, kind: AssetChangeKind, depends_on: &[&str], held: bool) -> AssetChange {
        AssetChange {
            id: ItemId::parse(id).unwrap(),
            change: kind,
            renamed_from: None,
            path: format!("assets/{id}.yaml"),
            sha256_before: held.then(|| ContentHash::of(b"old")),
            sha256: Some(ContentHash::of(b"new")),
            diff: format!("--- a/{id}\n"),
            action: AssetAction::Ship,
            skipped_earlier: false,
            ignored: false,
            depends_on: depends_on.iter().map(|d| ItemId::parse(d).unwrap()).collect(),
        }
    }

    fn screen(changes: Vec<AssetChange>) -> Screen {
        let rows = changes.iter().map(row).collect();
        Screen { environment: "prod".into(), rows, cursor: 0, diff_scroll: 0, message: None }
    }

    #[test]
    fn keys_toggle_choices_and_the_outcome_is_an_export_command() {
        let mut always = change("experimental/x", AssetChangeKind::Added, &[], false);
        always.action = AssetAction::SkipAlways;
        let mut s = screen(vec![
            change("model/m", AssetChangeKind::Added, &[], false),
            change("query/q", AssetChangeKind::Modified, &[], true),
            change("workflow/w", AssetChangeKind::Added, &["model/m"], false),
            always,
        ]);
        assert_eq!(s.key(Key::Toggle), Outcome::Continue);
        assert_eq!(s.rows[0].choice, Choice::SkipThis);
        assert_eq!(s.missing_dependencies(&s.rows[2]), [&ItemId::parse("model/m").unwrap()]);
        s.key(Key::Down);
        s.key(Key::Always);
        assert_eq!(s.rows[1].choice, Choice::SkipAlways);
        s.key(Key::Down);
        s.key(Key::Down);
        s.key(Key::Toggle);
        assert_eq!(s.rows[3].choice, Choice::SkipAlways, "what migrate.yaml says is changed there");
        assert!(s.message.as_deref().unwrap_or_default().contains("edit it there"));
        s.key(Key::Down);
        assert_eq!(s.cursor, 3, "the cursor stays on the last row");
        assert_eq!(s.export_arguments("r.tar").join(" "), "export --env prod --skip model/m --skip query/q -o r.tar");
        assert_eq!(s.new_skip_always("assets/"), ["assets/query/q.yaml"]);
        s.cursor = 0;
        s.key(Key::Toggle);
        assert!(s.missing_dependencies(&s.rows[2]).is_empty());
        assert_eq!(s.key(Key::Confirm), Outcome::Confirmed);
        assert_eq!(s.key(Key::Quit), Outcome::Quit);
    }

    #[test]
    fn skip_always_is_written_into_the_environments_block_only() {
        let text =
            "version: 1\nproject: p\ndialects: [sqlite]\n# promotion order\nenvironments: [test, prod]\nignore: []\n";
        let project = Project::parse("migrate.yaml", "", text.as_bytes()).unwrap();
        let out = add_skip_always(text, &project.config.environments, "prod", &["assets/a/b.yaml".into()]).unwrap();
        assert_eq!(
            out,
            "version: 1\nproject: p\ndialects: [sqlite]\n# promotion order\nenvironments:\n  test: {}\n  prod: { skip_always: [\"assets/a/b.yaml\"] }\nignore: []\n"
        );
        let again = Project::parse("migrate.yaml", "", out.as_bytes()).unwrap();
        assert!(again.skips_always("prod", "assets/a/b.yaml") && !again.skips_always("test", "assets/a/b.yaml"));
        // A map form keeps its other options, and a glob is added once.
        let out2 = add_skip_always(
            &out,
            &again.config.environments,
            "prod",
            &["assets/a/b.yaml".into(), "assets/c.yaml".into()],
        )
        .unwrap();
        assert!(
            out2.contains("prod: { skip_always: [\"assets/a/b.yaml\", \"assets/c.yaml\"] }\nignore: []\n"),
            "{out2}"
        );
        assert!(add_skip_always(text, &project.config.environments, "nope", &["x".into()]).is_err());
    }
}
