//! Paths and texts become items: the migration file-name grammar and `-- migrate:` directives,
//! dialect variants, asset identities and headers.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::core::finding::{Finding, Location};
use crate::core::hash::{self, ContentHash};
use crate::core::model::{Dialect, ItemId, Version};
use crate::core::project::Project;
use crate::core::source::{Entry, ObjectId};
use crate::core::yaml;

/// One migration file: `<version>_<slug>[.<dialect>].sql`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationFile {
    /// Project-relative path.
    pub path: String,
    pub version: Version,
    /// The file name without the dialect suffix and `.sql`, e.g. `0001_create_hosts`.
    pub name: String,
    /// `None` for the generic file, which serves every dialect without a variant.
    pub dialect: Option<Dialect>,
    pub object: ObjectId,
}

/// The migration files of a project at one point, and what is wrong with their names.
#[derive(Debug, Clone, Default)]
pub struct MigrationCatalog {
    pub files: Vec<MigrationFile>,
    pub ignored: Vec<String>,
    pub findings: Vec<Finding>,
}

impl MigrationCatalog {
    /// Reads file names (not contents) below the migrations folder.
    pub fn from_entries(project: &Project, entries: &[Entry]) -> MigrationCatalog {
        let mut catalog = MigrationCatalog::default();
        let dir = project.migrations_dir();
        for entry in entries {
            let Some(file_name) = entry.path.strip_prefix(&dir) else {
                continue;
            };
            if project.is_ignored(&entry.path) {
                catalog.ignored.push(entry.path.clone());
                continue;
            }
            let base_name = file_name.rsplit('/').next().unwrap_or(file_name);
            if base_name.starts_with('.') {
                continue; // `.gitkeep` and friends
            }
            let repo_path = project.repo_path(&entry.path);
            if file_name.contains('/') {
                catalog.findings.push(
                    Finding::error(
                        "migration_in_subfolder",
                        format!("`{repo_path}` is in a sub-folder of the migrations folder"),
                    )
                    .at(Location::file(&repo_path))
                    .help(format!("move it directly into `{}`", project.repo_path(&project.config.migrations))),
                );
                continue;
            }
            if !file_name.ends_with(".sql") {
                catalog.findings.push(
                    Finding::warning(
                        "not_a_migration",
                        format!("`{repo_path}` is not a `.sql` file and is not a migration"),
                    )
                    .at(Location::file(&repo_path))
                    .help("move it out of the migrations folder, or add it to `ignore`"),
                );
                continue;
            }
            match parse_migration_name(file_name) {
                Ok((version, name, dialect)) => {
                    if let Some(dialect) = dialect
                        && !project.config.dialects.contains(&dialect)
                    {
                        catalog.findings.push(
                            Finding::warning(
                                "dialect_not_targeted",
                                format!("`{repo_path}` is a variant for `{dialect}`, which `migrate.yaml` does not list"),
                            )
                            .at(Location::file(&repo_path))
                            .help("add the dialect to `dialects`, or remove the variant"),
                        );
                    }
                    catalog.files.push(MigrationFile { path: entry.path.clone(), version, name, dialect, object: entry.id });
                }
                Err(problem) => catalog.findings.push(
                    Finding::error(problem.code(), format!("`{repo_path}`: {problem}"))
                        .at(Location::file(&repo_path))
                        .help("name migrations `<version>_<slug>.sql` or `<version>_<slug>.<dialect>.sql`, e.g. `0002_add_index.postgres.sql`"),
                ),
            }
        }
        catalog.findings.extend(duplicate_versions(project, &catalog.files));
        catalog
    }

    /// Returns the effective file of every version for one dialect: its variant, else the
    /// generic file.
    pub fn effective(&self, dialect: Dialect) -> BTreeMap<Version, &MigrationFile> {
        let mut map: BTreeMap<Version, &MigrationFile> = BTreeMap::new();
        for file in &self.files {
            match file.dialect {
                Some(d) if d == dialect => {
                    map.insert(file.version.clone(), file);
                }
                None => {
                    map.entry(file.version.clone()).or_insert(file);
                }
                Some(_) => {}
            }
        }
        map
    }
}

#[derive(Debug, thiserror::Error)]
enum NameProblem {
    #[error("the name does not start with a version and `_`")]
    NoVersion,
    #[error("the slug after the version is empty or has characters other than letters, digits, `_` and `-`")]
    BadSlug,
    #[error("`{0}` is not a known dialect (sqlite, postgres, mysql)")]
    UnknownDialect(String),
}

impl NameProblem {
    fn code(&self) -> &'static str {
        match self {
            NameProblem::UnknownDialect(_) => "unknown_dialect",
            _ => "bad_migration_name",
        }
    }
}

fn parse_migration_name(file_name: &str) -> Result<(Version, String, Option<Dialect>), NameProblem> {
    let stem = file_name.strip_suffix(".sql").unwrap_or(file_name);
    let (stem, dialect) = match stem.split_once('.') {
        Some((stem, suffix)) => match Dialect::from_name(suffix) {
            Some(dialect) => (stem, Some(dialect)),
            None => return Err(NameProblem::UnknownDialect(suffix.to_string())),
        },
        None => (stem, None),
    };
    let (digits, slug) = stem.split_once('_').ok_or(NameProblem::NoVersion)?;
    let version = Version::parse(digits).ok_or(NameProblem::NoVersion)?;
    if slug.is_empty() || !slug.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(NameProblem::BadSlug);
    }
    Ok((version, stem.to_string(), dialect))
}

fn duplicate_versions(project: &Project, files: &[MigrationFile]) -> Vec<Finding> {
    let mut seen: BTreeMap<(Option<Dialect>, &Version), &MigrationFile> = BTreeMap::new();
    let mut findings = Vec::new();
    for file in files {
        if let Some(first) = seen.insert((file.dialect, &file.version), file) {
            let path = project.repo_path(&file.path);
            findings.push(
                Finding::error(
                    "duplicate_version",
                    format!("`{path}` and `{}` have the same version {}", project.repo_path(&first.path), file.version),
                )
                .at(Location::file(&path))
                .item(format!("migration {}", file.version))
                .help("give one of them a new version; versions compare as numbers, so `0001` and `1` are the same"),
            );
        }
    }
    findings
}

/// The text of a migration, split at its directives. Directive lines stay in the sections (they
/// are SQL comments), so the up section is a prefix of the file and lines keep their numbers.
/// The sections are views of the file's one shared text (a 56 MB data migration is held once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationText {
    text: Arc<str>,
    /// Byte offset where the down section starts: the end of the up section.
    down_at: usize,
    /// 1-based line of the `-- migrate:down` directive; `None` without that directive.
    pub down_line: Option<usize>,
    pub no_transaction: bool,
}

impl MigrationText {
    /// The up section: the file up to the `-- migrate:down` line (all of it without one).
    pub fn up(&self) -> &str {
        &self.text[..self.down_at]
    }

    /// From the `-- migrate:down` line to the end; `None` without that directive.
    pub fn down(&self) -> Option<&str> {
        self.down_line.map(|_| &self.text[self.down_at..])
    }
}

/// Splits a migration's normalised text at `-- migrate:` directives; unknown directives are
/// findings, because a misspelt `no-transaction` must not pass silently.
pub fn parse_migration_text(repo_path: &str, text: &Arc<str>) -> (MigrationText, Vec<Finding>) {
    let mut down_at: Option<(usize, usize)> = None;
    let mut no_transaction = false;
    let mut findings = Vec::new();
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let line_start = offset;
        offset += line.len();
        let directive =
            line.trim().strip_prefix("--").map(str::trim_start).and_then(|rest| rest.strip_prefix("migrate:"));
        let Some(directive) = directive else { continue };
        let word = directive.split_whitespace().next().unwrap_or("");
        match word {
            "up" => {}
            "allow" => {
                let mut words = directive.split_whitespace().skip(1);
                let rule = words.next().unwrap_or("");
                let problem = if crate::core::hazard::rule(rule).is_none() {
                    Some(format!("`-- migrate:allow` names `{rule}`, which is not a hazard rule"))
                } else if rule == crate::core::hazard::CONTROL_STATEMENT {
                    Some(format!("`{rule}` cannot be allowed: import refuses a migration that controls the transaction"))
                } else if words.next().is_none() {
                    Some(format!("`-- migrate:allow {rule}` gives no reason"))
                } else {
                    None
                };
                if let Some(problem) = problem {
                    findings.push(
                        Finding::error("bad_allow", problem)
                            .at(Location::line(repo_path, text, index + 1))
                            .help("write `-- migrate:allow <rule-id> <reason>`; the rule ids are in the README"),
                    );
                }
            }
            "down" if down_at.is_none() => down_at = Some((line_start, index + 1)),
            "down" => findings.push(
                Finding::error("duplicate_directive", "`-- migrate:down` appears twice")
                    .at(Location::line(repo_path, text, index + 1))
                    .help("keep one down section"),
            ),
            "no-transaction" => no_transaction = true,
            _ => findings.push(
                Finding::error("unknown_directive", format!("`-- migrate:{word}` is not a directive"))
                    .at(Location::line(repo_path, text, index + 1))
                    .help("directives are `-- migrate:down`, `-- migrate:no-transaction` and `-- migrate:allow <rule-id> <reason>`"),
            ),
        }
    }
    let (down_at, down_line) = match down_at {
        Some((start, line)) => (start, Some(line)),
        None => (text.len(), None),
    };
    (MigrationText { text: Arc::clone(text), down_at, down_line, no_transaction }, findings)
}

// This type exists for the published JSON Schema (`schemas/asset.schema.json`): `parse_asset`
// reads the same fields from the parsed data, which is faster, and a test keeps the two agreeing.
/// An asset: one YAML document at `assets/<kind>/<name>.yaml`. Any other top-level key is an error.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "migrate asset: assets/<kind>/<name>.yaml")]
pub struct AssetDocument {
    /// Must match the first folder of the path when present.
    #[serde(default)]
    pub kind: String,
    /// Must match the rest of the path, without `.yaml`, when present.
    #[serde(default)]
    pub name: String,
    /// Identities `<kind>/<name>` of assets an import writes first; cycles are an error.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// The asset's data, validated against `schemas/<kind>.schema.json` when the project has it.
    pub spec: Option<serde_json::Value>,
}

/// The asset header fields besides `spec`. Any other top-level key is an error.
#[derive(Debug, Default)]
struct AssetHeader {
    kind: Option<String>,
    name: Option<String>,
    depends_on: Vec<String>,
}

/// An asset's parsed content. The hashes are computed on request: `check` and `export` validate
/// 100,000 assets and need none of them.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedAsset {
    pub depends_on: Vec<ItemId>,
    /// The whole document as JSON data.
    pub data: serde_json::Value,
    /// Byte span of `spec:` in the text, for schema findings.
    pub spec_span: Option<(usize, usize)>,
}

impl ParsedAsset {
    /// The `spec` value (null when absent).
    pub fn spec(&self) -> &serde_json::Value {
        self.data.get("spec").unwrap_or(&serde_json::Value::Null)
    }

    /// Semantic hash of the whole document.
    pub fn semantic_hash(&self) -> ContentHash {
        hash::semantic_hash(&self.data)
    }

    /// Semantic hash without `kind` and `name`: equal for an asset moved to a new identity.
    pub fn content_key(&self) -> ContentHash {
        hash::semantic_hash_without(&self.data, &["kind", "name"])
    }
}

/// Returns the identity of an asset path (project-relative), `None` for a file to skip silently
/// (hidden files), or a finding for a path that cannot be an asset.
pub fn asset_identity(project: &Project, path: &str) -> Option<Result<ItemId, Finding>> {
    let relative = path.strip_prefix(&project.assets_dir())?;
    let file_name = relative.rsplit('/').next().unwrap_or(relative);
    if file_name.starts_with('.') {
        return None;
    }
    let repo_path = project.repo_path(path);
    let Some(identity) = relative.strip_suffix(".yaml") else {
        let finding = if relative.ends_with(".yml") {
            Finding::error("asset_extension", format!("`{repo_path}` ends in `.yml`")).help("rename it to `.yaml`")
        } else {
            Finding::warning("not_an_asset", format!("`{repo_path}` is not a `.yaml` file and is not an asset"))
                .help("move it out of the assets folder, or add it to `ignore`")
        };
        return Some(Err(finding.at(Location::file(&repo_path))));
    };
    Some(ItemId::parse(identity).map_err(|e| {
        Finding::error("unsafe_identity", format!("`{repo_path}` cannot be an asset: {e}"))
            .at(Location::file(&repo_path))
            .help(format!(
                "put assets at `{}<kind>/<name>.yaml` with plain names",
                project.repo_path(&project.assets_dir())
            ))
    }))
}

/// Normalises an item's bytes, or returns the finding that names the file and position.
pub fn normalised_text(repo_path: &str, bytes: &[u8]) -> Result<Arc<str>, Finding> {
    hash::normalise(bytes).map(|t| Arc::from(t.as_ref())).map_err(|e| {
        let (hash::TextError::NotUtf8 { line, .. } | hash::TextError::Nul { line, .. }) = e;
        // Show the line as well as it can be shown: invalid bytes as U+FFFD, NUL as U+2400.
        let shown: Arc<str> = Arc::from(String::from_utf8_lossy(bytes).replace('\0', "\u{2400}").as_str());
        Finding::error("not_text", format!("`{repo_path}` is {e}"))
            .at(Location::line(repo_path, &shown, line))
            .help("save the file as UTF-8 text without NUL bytes")
    })
}

/// Parses an asset's normalised text: YAML, header fields, identity, `depends_on`.
pub fn parse_asset(id: &ItemId, repo_path: &str, text: &Arc<str>) -> Result<ParsedAsset, Vec<Finding>> {
    let yaml_finding = |problem: yaml::YamlProblem| {
        Finding::error("asset_yaml", format!("`{repo_path}` is not a valid asset"))
            .at(Location::at(repo_path, text, problem.offset, problem.len))
            .label(problem.reason)
            .item(id.as_str())
            .help("an asset is one YAML mapping with `kind`, `name`, `depends_on` and `spec`")
    };
    if text.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
        return Err(vec![
            Finding::error("asset_empty", format!("`{repo_path}` holds no YAML document"))
                .at(Location::file(repo_path))
                .item(id.as_str())
                .help("write the asset's `spec`, or delete the file"),
        ]);
    }
    let data = yaml::parse_data(text).map_err(|p| vec![yaml_finding(p)])?;
    if !data.is_object() {
        return Err(vec![yaml_finding(yaml::YamlProblem {
            reason: "the document is not a mapping".into(),
            offset: 0,
            len: text.find('\n').unwrap_or(text.len()),
        })]);
    }
    // The header is read from the parsed data rather than parsed a second time: `plan` parses
    // thousands of assets, and this is most of its time.
    let object = data.as_object().map(|o| o.iter().collect::<Vec<_>>()).unwrap_or_default();
    let mut findings = Vec::new();
    let key_location = |key: &str| {
        let (offset, len) = yaml::top_level_key_span(text, key).unwrap_or((0, 0));
        Location::at(repo_path, text, offset, len)
    };
    let mut header = AssetHeader::default();
    for (key, value) in object {
        let wrong_type = |expected: &str| {
            Finding::error("asset_yaml", format!("`{repo_path}` is not a valid asset"))
                .at(key_location(key))
                .label(format!("`{key}` must be {expected}"))
                .item(id.as_str())
                .help("an asset is one YAML mapping with `kind`, `name`, `depends_on` and `spec`")
        };
        match key.as_str() {
            "kind" | "name" => match value.as_str() {
                Some(v) if key == "kind" => header.kind = Some(v.to_string()),
                Some(v) => header.name = Some(v.to_string()),
                None => findings.push(wrong_type("a string")),
            },
            "depends_on" => match value.as_array().map(|a| a.iter().map(|v| v.as_str()).collect::<Option<Vec<_>>>()) {
                Some(Some(list)) => header.depends_on = list.into_iter().map(str::to_string).collect(),
                _ => findings.push(wrong_type("a list of identities")),
            },
            "spec" => {}
            _ => findings.push(
                Finding::error("asset_yaml", format!("`{repo_path}` is not a valid asset"))
                    .at(key_location(key))
                    .label(format!("unknown field `{key}`, expected one of `kind`, `name`, `depends_on`, `spec`"))
                    .item(id.as_str())
                    .help("put the asset's data under `spec`; a misspelt header field must not pass silently"),
            ),
        }
    }
    for (key, written, expected) in [("kind", &header.kind, id.kind()), ("name", &header.name, id.name())] {
        if let Some(written) = written
            && written != expected
        {
            findings.push(
                Finding::error(
                    "header_mismatch",
                    format!("`{repo_path}` says {key} `{written}`, but its path says `{expected}`"),
                )
                .at(key_location(key))
                .item(id.as_str())
                .help(format!("write `{key}: {expected}`, or move the file to match")),
            );
        }
    }
    let mut depends_on = Vec::new();
    for dependency in &header.depends_on {
        match ItemId::parse(dependency) {
            Ok(dep) => depends_on.push(dep),
            Err(e) => {
                let span = yaml::top_level_key_span(text, "depends_on").unwrap_or((0, 0));
                findings.push(
                    Finding::error(
                        "bad_dependency",
                        format!("`{repo_path}` depends on `{dependency}`, which is not an identity: {e}"),
                    )
                    .at(Location::at(repo_path, text, span.0, span.1))
                    .item(id.as_str())
                    .help("name dependencies as `<kind>/<name>`, e.g. `datasource/main`"),
                );
            }
        }
    }
    if !findings.is_empty() {
        return Err(findings);
    }
    Ok(ParsedAsset { depends_on, data, spec_span: yaml::top_level_key_span(text, "spec") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::source::MemorySource;
    use crate::core::source::Source;

    fn project() -> Project {
        Project::parse(
            "migrate.yaml",
            "",
            b"version: 1\nproject: p\ndialects: [sqlite, postgres]\nignore: [\"migrations/9*_skip.sql\"]\n",
        )
        .unwrap()
    }

    fn catalog(names: &[&str]) -> MigrationCatalog {
        let source = MemorySource::from_files(names.iter().map(|n| (format!("migrations/{n}"), "SELECT 1;\n")));
        MigrationCatalog::from_entries(&project(), &source.list("migrations").unwrap())
    }

    #[test]
    fn migration_names() {
        let c = catalog(&[
            "0001_create_hosts.sql",
            "0002_add_index.postgres.sql",
            "0002_add_index.sql",
            "20260101000000000001_big.sql",
            "0003_x.oracle.sql",
            "notes.md",
            "abc_x.sql",
            "0004_.sql",
            "0005_bad name.sql",
            ".gitkeep",
            "sub/0006_nested.sql",
            "9_skip.sql",
        ]);
        let names: Vec<_> = c.files.iter().map(|f| (f.name.as_str(), f.dialect)).collect();
        assert_eq!(
            names,
            [
                ("0001_create_hosts", None),
                ("0002_add_index", Some(Dialect::Postgres)),
                ("0002_add_index", None),
                ("20260101000000000001_big", None),
            ]
        );
        let codes: Vec<_> = c.findings.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(
            codes,
            [
                "migrate::unknown_dialect",
                "migrate::bad_migration_name",
                "migrate::bad_migration_name",
                "migrate::bad_migration_name",
                "migrate::not_a_migration",
                "migrate::migration_in_subfolder",
            ]
        );
        assert_eq!(c.ignored, ["migrations/9_skip.sql"]);
    }

    #[test]
    fn dialect_variants_win_and_histories_are_per_dialect() {
        let c = catalog(&["0001_a.sql", "0002_b.postgres.sql", "0002_b.sql", "0003_c.sqlite.sql"]);
        let pg: Vec<_> = c.effective(Dialect::Postgres).values().map(|f| f.path.clone()).collect();
        assert_eq!(pg, ["migrations/0001_a.sql", "migrations/0002_b.postgres.sql"]);
        let sqlite: Vec<_> = c.effective(Dialect::Sqlite).values().map(|f| f.path.clone()).collect();
        assert_eq!(sqlite, ["migrations/0001_a.sql", "migrations/0002_b.sql", "migrations/0003_c.sqlite.sql"]);
    }

    #[test]
    fn duplicate_versions_compare_as_numbers() {
        let c = catalog(&["0001_a.sql", "1_b.sql", "0002_c.sql", "2_c.postgres.sql"]);
        let duplicates: Vec<_> = c.findings.iter().filter(|f| f.code == "migrate::duplicate_version").collect();
        assert_eq!(duplicates.len(), 1);
        assert!(duplicates[0].message.contains("`migrations/1_b.sql` and `migrations/0001_a.sql`"));
    }

    #[test]
    fn directives_split_the_text() {
        let text: Arc<str> =
            Arc::from("CREATE TABLE t (id INT);\n-- migrate:no-transaction\n--migrate:down\nDROP TABLE t;\n");
        let (parsed, findings) = parse_migration_text("m.sql", &text);
        assert!(findings.is_empty());
        assert!(parsed.no_transaction);
        assert_eq!(parsed.down(), Some("--migrate:down\nDROP TABLE t;\n"));
        assert_eq!(parsed.down_line, Some(3));
        assert!(parsed.up().starts_with("CREATE TABLE t (id INT);\n-- migrate:no-transaction\n"));
        let text: Arc<str> = Arc::from("-- migrate:no-transacton\nSELECT 1;\n");
        let (_, findings) = parse_migration_text("m.sql", &text);
        assert_eq!(findings[0].code, "migrate::unknown_directive");
        assert_eq!(findings[0].location.as_ref().unwrap().line, Some(1));
    }

    #[test]
    fn an_allow_needs_a_known_rule_and_a_reason() {
        let text: Arc<str> = Arc::from(
            "-- migrate:allow destructive/drop-table moved to the archive\nDROP TABLE a;\n-- migrate:allow destructive/drop-table\n-- migrate:allow destructive/drop-tabel typo here\nDROP TABLE b;\n-- migrate:allow transaction/control-statement we know\nCOMMIT;\n",
        );
        let (_, findings) = parse_migration_text("m.sql", &text);
        let found: Vec<(&str, Option<usize>)> =
            findings.iter().map(|f| (f.code.as_str(), f.location.as_ref().and_then(|l| l.line))).collect();
        assert_eq!(
            found,
            [("migrate::bad_allow", Some(3)), ("migrate::bad_allow", Some(4)), ("migrate::bad_allow", Some(6))]
        );
        assert!(
            findings[0].message.contains("gives no reason") && findings[1].message.contains("`destructive/drop-tabel`")
        );
        assert!(findings[2].message.contains("cannot be allowed"), "{}", findings[2].message);
    }

    #[test]
    fn asset_headers_are_checked() {
        let id = ItemId::parse("query/active-hosts").unwrap();
        let ok: Arc<str> =
            Arc::from("kind: query\nname: active-hosts\ndepends_on: [datasource/main]\nspec: {sql: SELECT 1}\n");
        let parsed = parse_asset(&id, "assets/query/active-hosts.yaml", &ok).unwrap();
        assert_eq!(parsed.depends_on, [ItemId::parse("datasource/main").unwrap()]);

        let cases = [
            ("kind: query\nname: other\n", "migrate::header_mismatch", 2),
            ("kind: query\nspek: {}\n", "migrate::asset_yaml", 2),
            ("spec: [\n", "migrate::asset_yaml", 1),
            ("- a\n- b\n", "migrate::asset_yaml", 1),
            ("depends_on: [\"../x\"]\n", "migrate::bad_dependency", 1),
            ("# nothing\n", "migrate::asset_empty", 0),
        ];
        for (text, code, line) in cases {
            let text: Arc<str> = Arc::from(text);
            let findings = parse_asset(&id, "a.yaml", &text).unwrap_err();
            assert_eq!(findings[0].code, code, "{text}");
            assert_eq!(findings[0].location.as_ref().unwrap().line.unwrap_or(0), line, "{text}");
        }
    }

    #[test]
    fn cosmetic_changes_keep_the_semantic_hash() {
        let id = ItemId::parse("query/a").unwrap();
        let parse = |t: &str| parse_asset(&id, "a.yaml", &Arc::from(t)).unwrap();
        let a = parse("spec:\n  b: 1\n  a: [x, y]  # comment\n");
        let b = parse("# header comment\nspec: {a: [\"x\", 'y'], b: 1}\n");
        let c = parse("spec:\n  b: 2\n  a: [x, y]\n");
        assert_eq!(a.semantic_hash(), b.semantic_hash());
        assert_ne!(a.semantic_hash(), c.semantic_hash());
        let moved =
            parse_asset(&ItemId::parse("query/b").unwrap(), "b.yaml", &Arc::from("name: b\nspec: {a: [x, y], b: 1}\n"))
                .unwrap();
        assert_eq!(a.content_key(), moved.content_key());
    }
}
