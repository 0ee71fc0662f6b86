//! `migrate.yaml`: its bytes become a `Project`, or a diagnostic that points at the line.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::core::model::Dialect;
use crate::core::yaml;

/// The name of the project file.
pub const PROJECT_FILE: &str = "migrate.yaml";

/// The format version of `migrate.yaml` this build reads.
pub const CONFIG_VERSION: u32 = 1;

/// Whether `name` can name a project: letters, digits, `.`, `_` or `-`.
pub fn is_project_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// Hazard categories and their default severities (docs/guide.md: hazard rules).
pub const HAZARD_CATEGORIES: [(&str, RuleSeverity); 6] = [
    ("destructive", RuleSeverity::Warning),
    ("blue-green", RuleSeverity::Warning),
    ("locking", RuleSeverity::Warning),
    ("transaction", RuleSeverity::Error),
    ("not-rollbackable", RuleSeverity::Info),
    ("unparsed", RuleSeverity::Warning),
];

/// `migrate.yaml`, as the user writes it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "migrate.yaml", description = "The project file of a `migrate` project")]
pub struct ProjectConfig {
    /// Format version of this file; `1`.
    pub version: u32,
    /// Project name; travels in manifests and receipts.
    pub project: String,
    /// The dialects migrations are written for; each has its own history.
    pub dialects: Vec<Dialect>,
    /// Folder of versioned SQL migrations, relative to `migrate.yaml`.
    #[serde(default = "default_migrations")]
    pub migrations: String,
    /// Folder of assets (`<kind>/<name>.yaml`), relative to `migrate.yaml`.
    #[serde(default = "default_assets")]
    pub assets: String,
    /// Name of the history table on targets.
    #[serde(default = "default_history_table")]
    pub history_table: String,
    /// Environments in promotion order: a list of names, or a map from name to its options.
    #[serde(default)]
    pub environments: Environments,
    /// Globs (relative to `migrate.yaml`) of items that are never diffed, exported or imported.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Allow a new migration older than the newest shipped one.
    #[serde(default)]
    pub allow_out_of_order: bool,
    /// Severity per hazard category or rule id.
    #[serde(default)]
    pub hazards: BTreeMap<String, RuleSeverity>,
    /// Per dialect, statements that run at the start of every import session (and at the top
    /// of the offline script, before its guard), e.g. `SET lock_timeout = '5s'`. One statement
    /// per entry; they travel in the bundle and are part of the release id.
    #[serde(default)]
    pub session: BTreeMap<Dialect, Vec<String>>,
    /// Release rules that `plan` and `export` enforce.
    #[serde(default)]
    pub policy: Policy,
}

/// `environments:`, in promotion order (`[test, prod]`, or `{test: {}, prod: {skip_always: [...]}}`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Environments(pub Vec<(String, EnvironmentOptions)>);

/// What one environment does differently.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentOptions {
    /// Globs (relative to `migrate.yaml`) of assets never shipped to this environment's targets
    /// and never deleted there: each target keeps its own copy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_always: Vec<String>,
}

impl Environments {
    /// The names, in promotion order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(name, _)| name.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names().any(|n| n == name)
    }

    /// The environment before `name` in promotion order.
    pub fn before(&self, name: &str) -> Option<&str> {
        let names: Vec<&str> = self.names().collect();
        let index = names.iter().position(|n| *n == name)?;
        index.checked_sub(1).map(|i| names[i])
    }
}

impl<'de> Deserialize<'de> for Environments {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Environments;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of environment names, or a map from name to options")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Environments, A::Error> {
                let mut list = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    list.push((name, EnvironmentOptions::default()));
                }
                Ok(Environments(list))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Environments, A::Error> {
                let mut list = Vec::new();
                while let Some((name, options)) = map.next_entry::<String, Option<EnvironmentOptions>>()? {
                    list.push((name, options.unwrap_or_default()));
                }
                Ok(Environments(list))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl Serialize for Environments {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        if self.0.iter().all(|(_, options)| *options == EnvironmentOptions::default()) {
            return serializer.collect_seq(self.names());
        }
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, options) in &self.0 {
            map.serialize_entry(name, options)?;
        }
        map.end()
    }
}

impl schemars::JsonSchema for Environments {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Environments".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let options = generator.subschema_for::<EnvironmentOptions>();
        schemars::json_schema!({
            "description": "Environments in promotion order: a list of names, or a map from name to its options (in promotion order).",
            "oneOf": [
                { "type": "array", "items": { "type": "string" } },
                { "type": "object", "additionalProperties": { "anyOf": [options, { "type": "null" }] } }
            ]
        })
    }
}

/// `policy:` in `migrate.yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// `error`: a `--release-version` too small for the change is an error in `plan` and `export`
    /// (default `warning`).
    #[serde(default)]
    pub version_bump: PolicyLevel,
    /// `enforce`: `export --env E` refuses a release that the environment before E in
    /// `environments` does not hold yet (unless `--skip-promotion REASON`); `warning` (the
    /// default) says so; `off` says nothing.
    #[serde(default)]
    pub promotion: Promotion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PolicyLevel {
    #[default]
    Warning,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Promotion {
    Off,
    #[default]
    Warning,
    Enforce,
}

fn default_migrations() -> String {
    "migrations".to_string()
}
fn default_assets() -> String {
    "assets".to_string()
}
fn default_history_table() -> String {
    "migrate_history".to_string()
}

/// Severity of a hazard rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuleSeverity {
    Error,
    Warning,
    Info,
    Off,
}

impl RuleSeverity {
    /// The word `migrate.yaml` and the reports use.
    pub fn name(self) -> &'static str {
        match self {
            RuleSeverity::Error => "error",
            RuleSeverity::Warning => "warning",
            RuleSeverity::Info => "info",
            RuleSeverity::Off => "off",
        }
    }
}

/// A parsed and validated project.
#[derive(Debug, Clone)]
pub struct Project {
    pub config: ProjectConfig,
    /// Where `migrate.yaml` sits in the repository: `""` or `"sub/dir/"`.
    pub prefix: String,
    ignore: globset::GlobSet,
    /// Each environment's `skip_always`.
    skip_always: BTreeMap<String, globset::GlobSet>,
    /// `session:` per dialect, each statement as the splitter reads it (without its `;`).
    pub session: BTreeMap<Dialect, Vec<String>>,
}

impl Project {
    /// Returns the repository-relative path of a project-relative one, for messages.
    pub fn repo_path(&self, path: &str) -> String {
        format!("{}{}", self.prefix, path)
    }

    /// Returns whether a project-relative path is ignored.
    pub fn is_ignored(&self, path: &str) -> bool {
        self.ignore.is_match(path)
    }

    /// Returns whether the environment's `skip_always` holds a project-relative path.
    pub fn skips_always(&self, environment: &str, path: &str) -> bool {
        self.skip_always.get(environment).is_some_and(|globs| globs.is_match(path))
    }

    /// The migrations folder with a trailing `/`.
    pub fn migrations_dir(&self) -> String {
        format!("{}/", self.config.migrations)
    }

    /// The assets folder with a trailing `/`.
    pub fn assets_dir(&self) -> String {
        format!("{}/", self.config.assets)
    }
}

/// `migrate.yaml` cannot be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("`{path}` is not a valid project file")]
#[diagnostic(code(migrate::config_invalid))]
pub struct ConfigError {
    pub path: String,
    #[source_code]
    pub source_code: miette::NamedSource<Arc<str>>,
    #[label("{reason}")]
    pub span: Option<miette::SourceSpan>,
    pub reason: String,
    #[help]
    pub help: Option<String>,
}

impl Project {
    /// Parses and validates `migrate.yaml`. `path` is its repository-relative path, for messages.
    pub fn parse(path: &str, prefix: &str, bytes: &[u8]) -> Result<Project, Box<ConfigError>> {
        let text: Arc<str> = match crate::core::hash::normalise(bytes) {
            Ok(text) => Arc::from(text.as_ref()),
            Err(e) => {
                return Err(config_error(path, Arc::from(""), None, e.to_string(), Some("save the file as UTF-8")));
            }
        };
        let config: ProjectConfig = match yaml::parse(&text) {
            Ok(config) => config,
            Err(problem) => {
                let span = Some((problem.offset, problem.len));
                let help = "see `schemas/migrate.schema.json` for every field";
                return Err(config_error(path, text, span, problem.reason, Some(help)));
            }
        };
        let fail = |key: &str, reason: String, help: &str| {
            let span = yaml::top_level_key_span(&text, key);
            config_error(path, Arc::clone(&text), span, reason, Some(help))
        };
        if config.version != CONFIG_VERSION {
            return Err(fail(
                "version",
                format!(
                    "version {} is not known to this migrate, which reads version {CONFIG_VERSION}",
                    config.version
                ),
                "upgrade migrate, or write `version: 1`",
            ));
        }
        if !is_project_name(&config.project) {
            return Err(fail(
                "project",
                "the project name must be letters, digits, `.`, `_` or `-`".into(),
                "name the project like `inventory`",
            ));
        }
        if config.dialects.is_empty() {
            return Err(fail(
                "dialects",
                "no dialect is listed".into(),
                "list at least one of `sqlite`, `postgres`, `mysql`",
            ));
        }
        let mut seen = Vec::new();
        for dialect in &config.dialects {
            if seen.contains(dialect) {
                return Err(fail(
                    "dialects",
                    format!("the dialect `{dialect}` is listed twice"),
                    "list each dialect once",
                ));
            }
            seen.push(*dialect);
        }
        for (key, folder) in [("migrations", &config.migrations), ("assets", &config.assets)] {
            if !is_safe_relative_folder(folder) {
                return Err(fail(
                    key,
                    format!("`{folder}` is not a folder inside the project"),
                    "give a relative path without `..`, like `migrations`",
                ));
            }
        }
        if config.migrations == config.assets {
            return Err(fail("assets", "migrations and assets share a folder".into(), "give them different folders"));
        }
        if !is_identifier(&config.history_table) {
            return Err(fail(
                "history_table",
                format!("`{}` is not a plain SQL identifier", config.history_table),
                "use letters, digits and `_`, not starting with a digit, at most 56 characters",
            ));
        }
        if config.history_table.len() > MAX_HISTORY_TABLE {
            return Err(fail(
                "history_table",
                format!(
                    "`{}` is {} characters: with `_target` after it (the target's record beside the history) it would pass PostgreSQL's and MySQL's limits",
                    config.history_table,
                    config.history_table.len()
                ),
                "use at most 56 characters",
            ));
        }
        let mut seen_envs = Vec::new();
        for env in config.environments.names() {
            if !is_environment_name(env) || seen_envs.contains(&env) {
                return Err(fail(
                    "environments",
                    format!("`{env}` is not a valid environment name, or is listed twice"),
                    "use lowercase letters, digits, `_` and `-`, each name once",
                ));
            }
            seen_envs.push(env);
        }
        let globs = |key: &str, patterns: &[String]| {
            let mut globs = globset::GlobSetBuilder::new();
            for pattern in patterns {
                match globset::GlobBuilder::new(pattern).literal_separator(true).build() {
                    Ok(glob) => {
                        globs.add(glob);
                    }
                    Err(e) => {
                        return Err(fail(
                            key,
                            format!("`{pattern}` is not a glob: {}", e.kind()),
                            "write globs like `assets/legacy/**`",
                        ));
                    }
                }
            }
            globs.build().map_err(|e| fail(key, e.to_string(), "write globs like `assets/legacy/**`"))
        };
        let ignore = globs("ignore", &config.ignore)?;
        let mut skip_always = BTreeMap::new();
        for (env, options) in &config.environments.0 {
            if !options.skip_always.is_empty() {
                skip_always.insert(env.clone(), globs("environments", &options.skip_always)?);
            }
        }
        for (key, severity) in &config.hazards {
            if key == crate::core::hazard::CONTROL_STATEMENT && *severity != RuleSeverity::Error {
                return Err(fail(
                    "hazards",
                    format!("`{key}` is always an error: import refuses a migration that controls the transaction"),
                    "remove the override",
                ));
            }
            let known = HAZARD_CATEGORIES.iter().any(|(c, _)| c == key) || crate::core::hazard::rule(key).is_some();
            if !known {
                let categories: Vec<&str> = HAZARD_CATEGORIES.iter().map(|(c, _)| *c).collect();
                return Err(fail(
                    "hazards",
                    format!("`{key}` is neither a hazard category nor a rule id"),
                    &format!(
                        "categories are {}; rule ids are `<category>/<rule>`, listed in the README",
                        categories.join(", ")
                    ),
                ));
            }
        }
        let mut session = BTreeMap::new();
        for (dialect, statements) in &config.session {
            if !config.dialects.contains(dialect) {
                return Err(fail(
                    "session",
                    format!("`session` has statements for `{dialect}`, which `dialects` does not list"),
                    "list the dialect in `dialects`, or remove its session statements",
                ));
            }
            let mut read = Vec::new();
            for statement in statements {
                let split = crate::core::sql_split::split(statement, *dialect);
                let [one] = split.as_slice() else {
                    return Err(fail(
                        "session",
                        format!("`{statement}` is not one statement ({} found)", split.len()),
                        "give each session statement as its own list entry",
                    ));
                };
                if let Some(word) = crate::core::hazard::transaction_control(*dialect, &one.text) {
                    return Err(fail(
                        "session",
                        format!("`{statement}` controls the transaction (`{word}`)"),
                        "session statements set the connection up; migrate runs the transactions",
                    ));
                }
                read.push(one.text.clone());
            }
            if !read.is_empty() {
                session.insert(*dialect, read);
            }
        }
        Ok(Project { config, prefix: prefix.to_string(), ignore, skip_always, session })
    }
}

fn config_error(
    path: &str,
    text: Arc<str>,
    span: Option<(usize, usize)>,
    reason: String,
    help: Option<&str>,
) -> Box<ConfigError> {
    Box::new(ConfigError {
        path: path.to_string(),
        source_code: miette::NamedSource::new(path, text).with_language("yaml"),
        span: span.map(Into::into),
        reason,
        help: help.map(str::to_string),
    })
}

fn is_safe_relative_folder(folder: &str) -> bool {
    !folder.is_empty()
        && !folder.starts_with('/')
        && !folder.ends_with('/')
        && !folder.contains('\\')
        && folder.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
}

/// Returns whether `name` is a SQL identifier that needs no quoting in any dialect.
/// The longest history table name: the target's record is `<name>_target`, and PostgreSQL's
/// identifiers stop at 63 bytes.
pub const MAX_HISTORY_TABLE: usize = 63 - "_target".len();

pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 63
}

/// Returns whether `name` is a valid environment name (it becomes a file name).
pub fn is_environment_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = "version: 1\nproject: inventory\ndialects: [postgres, sqlite]\nmigrations: db/migrations\nassets: assets\nhistory_table: migrate_history\nenvironments: [test, prod]\nignore: [\"assets/legacy/**\"]\nallow_out_of_order: false\nhazards: { destructive: error, locking/create-index: off }\n";

    #[test]
    fn every_field_parses() {
        let project = Project::parse("migrate.yaml", "", FULL.as_bytes()).unwrap();
        assert_eq!(project.config.dialects, vec![Dialect::Postgres, Dialect::Sqlite]);
        assert_eq!(project.config.migrations, "db/migrations");
        assert_eq!(project.config.hazards["locking/create-index"], RuleSeverity::Off);
        assert!(project.is_ignored("assets/legacy/a/b.yaml"));
        assert!(!project.is_ignored("assets/query/a.yaml"));
    }

    #[test]
    fn session_statements_are_read_one_per_entry() {
        let text = "version: 1\nproject: p\ndialects: [mysql, postgres]\nsession:\n  mysql: [\"SET FOREIGN_KEY_CHECKS = 0;\", \"SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'\"]\n  postgres: []\n";
        let project = Project::parse("migrate.yaml", "", text.as_bytes()).unwrap();
        assert_eq!(
            project.session,
            BTreeMap::from([(
                Dialect::Mysql,
                vec![
                    "SET FOREIGN_KEY_CHECKS = 0".to_string(),
                    "SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'".to_string()
                ]
            )])
        );
    }

    #[test]
    fn defaults_apply() {
        let project = Project::parse("migrate.yaml", "", b"version: 1\nproject: p\ndialects: [sqlite]\n").unwrap();
        assert_eq!(project.config.migrations, "migrations");
        assert_eq!(project.config.assets, "assets");
        assert_eq!(project.config.history_table, "migrate_history");
        // The control: 56 characters are accepted.
        let name = format!("h{}", "5".repeat(MAX_HISTORY_TABLE - 1));
        let text = format!("version: 1\nproject: p\ndialects: [sqlite]\nhistory_table: {name}\n");
        assert_eq!(Project::parse("migrate.yaml", "", text.as_bytes()).unwrap().config.history_table, name);
    }

    #[test]
    fn errors_point_at_the_line() {
        let cases = [
            ("version: 1\nproject: p\ndialects: [oracle]\n", 3, "unknown variant"),
            ("version: 1\nproject: p\ndialects: [sqlite]\nmigratons: m\n", 4, "unknown field"),
            ("version: 2\nproject: p\ndialects: [sqlite]\n", 1, "version 2"),
            ("version: 1\nproject: p\ndialects: [sqlite]\nmigrations: ../x\n", 4, "not a folder"),
            ("version: 1\nproject: p\ndialects: [sqlite]\nhistory_table: \"a;b\"\n", 4, "identifier"),
            ("version: 1\nproject: p\ndialects: [sqlite]\nhazards: {destructiv: off}\n", 4, "neither"),
            (
                "version: 1\nproject: p\ndialects: [sqlite]\nhazards: {transaction/control-statement: off}\n",
                4,
                "always",
            ),
            ("version: 1\nproject: p\ndialects: [sqlite]\nignore: [\"a/[\"]\n", 4, "not a glob"),
            // 57 characters: `_target` after it would pass the databases' identifier limits.
            (
                "version: 1\nproject: p\ndialects: [sqlite]\nhistory_table: h23456789012345678901234567890123456789012345678901234567\n",
                4,
                "57 characters",
            ),
        ];
        for (text, line, reason) in cases {
            let error = Project::parse("migrate.yaml", "", text.as_bytes()).unwrap_err();
            assert!(error.reason.contains(reason), "{text}: {}", error.reason);
            let (offset, _) = error.span.map(|s| (s.offset(), s.len())).unwrap();
            let (got_line, _) = crate::core::hash::line_column(text.as_bytes(), offset);
            assert_eq!(got_line, line, "{text}: {}", error.reason);
        }
    }
}
