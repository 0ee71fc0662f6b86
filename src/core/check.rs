//! Validation of a project at one point: names, texts, headers, schemas, dependencies and cycles.
//! Collects every finding, never stops at the first. `plan` uses the same pieces on the items that
//! changed (and what their `depends_on` reaches).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::core::catalog::{self, ParsedAsset};
use crate::core::finding::{Finding, Location, sort_findings};
use crate::core::hash::ContentHash;
use crate::core::model::ItemId;
use crate::core::project::Project;
use crate::core::snapshot::{Snapshot, read_snapshot_with};
use crate::core::source::{ObjectId, Source, SourceError};

/// The folder of the user's JSON Schemas for asset kinds, relative to `migrate.yaml`.
pub const SCHEMAS_DIR: &str = "schemas";

/// What the checker keeps of an asset once it is validated: its text (for the spans of later
/// findings) and its dependencies. Not the parsed data: a 100,000-asset check would hold it all.
#[derive(Debug, Clone)]
pub struct LoadedAsset {
    pub text: Arc<str>,
    /// `None` when the asset has errors (recorded as findings).
    pub depends_on: Option<Arc<[ItemId]>>,
}

/// Reads, parses and validates assets of one source, each once, recording findings.
pub struct AssetChecker<'a> {
    project: &'a Project,
    source: &'a dyn Source,
    loaded: HashMap<ItemId, Option<LoadedAsset>>,
    schemas: Schemas,
    /// Kinds whose broken schema has been reported already.
    reported_schemas: BTreeSet<String>,
    pub findings: Vec<Finding>,
}

impl<'a> AssetChecker<'a> {
    pub fn new(project: &'a Project, source: &'a dyn Source) -> Result<AssetChecker<'a>, SourceError> {
        Ok(AssetChecker {
            project,
            source,
            loaded: HashMap::new(),
            schemas: Schemas::load(project, source)?,
            reported_schemas: BTreeSet::new(),
            findings: Vec::new(),
        })
    }

    /// The compiled schemas, for analysing assets on other threads.
    pub fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    pub fn asset_path(&self, id: &ItemId) -> String {
        format!("{}{}.yaml", self.project.assets_dir(), id)
    }

    /// Loads an asset by identity, finding it in the source; `None` when it does not exist.
    pub fn load_by_id(&mut self, id: &ItemId) -> Result<Option<LoadedAsset>, SourceError> {
        if let Some(loaded) = self.loaded.get(id) {
            return Ok(loaded.clone());
        }
        let path = self.asset_path(id);
        match self.source.lookup(&path)? {
            Some(object) => self.load(id, &path, &object).map(Some),
            None => {
                self.loaded.insert(id.clone(), None);
                Ok(None)
            }
        }
    }

    /// Loads an asset: read, normalise, parse, validate against its kind's schema.
    pub fn load(&mut self, id: &ItemId, path: &str, object: &ObjectId) -> Result<LoadedAsset, SourceError> {
        if let Some(Some(loaded)) = self.loaded.get(id) {
            return Ok(loaded.clone());
        }
        let bytes = self.source.read(path, object)?;
        let analysed = analyse_asset(self.project, &self.schemas, id, path, bytes);
        Ok(self.record(id, analysed))
    }

    /// The `depends_on` of every asset loaded that has any.
    pub fn dependencies(&self) -> BTreeMap<ItemId, Vec<ItemId>> {
        self.loaded
            .iter()
            .filter_map(|(id, loaded)| {
                let deps = loaded.as_ref()?.depends_on.as_ref()?;
                (!deps.is_empty()).then(|| (id.clone(), deps.to_vec()))
            })
            .collect()
    }

    /// Records an asset analysed elsewhere (in parallel): its findings, and what later checks need.
    pub fn record(&mut self, id: &ItemId, analysed: AnalysedAsset) -> LoadedAsset {
        self.findings.extend(analysed.findings);
        if let Some((path, reason)) = self.schemas.broken.get(id.kind())
            && self.reported_schemas.insert(id.kind().to_string())
        {
            let repo_path = self.project.repo_path(path);
            self.findings.push(
                Finding::error("schema_invalid", format!("`{repo_path}` is {reason}"))
                    .at(Location::file(&repo_path))
                    .help("fix the schema; assets of this kind are not validated until then"),
            );
        }
        let loaded = LoadedAsset { text: analysed.text, depends_on: analysed.depends_on };
        self.loaded.insert(id.clone(), Some(loaded.clone()));
        loaded
    }

    /// Checks `depends_on` from `roots` through everything they reach: unknown dependencies and
    /// cycles. Reads only the assets reached.
    pub fn check_dependencies<'r>(&mut self, roots: impl IntoIterator<Item = &'r ItemId>) -> Result<(), SourceError> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Active,
            Done,
        }
        let mut marks: HashMap<ItemId, Mark> = HashMap::new();
        let mut reported_cycles: BTreeSet<Vec<ItemId>> = BTreeSet::new();
        for root in roots {
            if marks.contains_key(root) {
                continue;
            }
            // Iterative depth-first search: (node, its dependencies, next index).
            let mut stack: Vec<(ItemId, Vec<ItemId>, usize)> = Vec::new();
            let deps = self.dependencies_of(root)?;
            if deps.is_empty() {
                marks.insert(root.clone(), Mark::Done); // most assets depend on nothing
                continue;
            }
            marks.insert(root.clone(), Mark::Active);
            stack.push((root.clone(), deps, 0));
            while let Some((node, deps, next)) = stack.last_mut() {
                if *next == deps.len() {
                    marks.insert(node.clone(), Mark::Done);
                    stack.pop();
                    continue;
                }
                let dep = deps[*next].clone();
                *next += 1;
                let node = node.clone();
                match marks.get(&dep) {
                    Some(Mark::Done) => {}
                    Some(Mark::Active) => {
                        let start = stack.iter().position(|(n, _, _)| *n == dep).unwrap_or(0);
                        let cycle: Vec<ItemId> = stack[start..].iter().map(|(n, _, _)| n.clone()).collect();
                        let mut key = cycle.clone();
                        key.sort();
                        if reported_cycles.insert(key) {
                            self.report_cycle(&cycle);
                        }
                    }
                    None => {
                        if self.project.is_ignored(&self.asset_path(&dep)) {
                            continue; // an ignored asset exists on targets as it is
                        }
                        match self.load_by_id(&dep)? {
                            None => self.report_unknown_dependency(&node, &dep)?,
                            Some(_) => {
                                let deps = self.dependencies_of(&dep)?;
                                marks.insert(dep.clone(), Mark::Active);
                                stack.push((dep, deps, 0));
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn dependencies_of(&mut self, id: &ItemId) -> Result<Vec<ItemId>, SourceError> {
        Ok(self.load_by_id(id)?.and_then(|loaded| loaded.depends_on).map(|deps| deps.to_vec()).unwrap_or_default())
    }

    fn depends_on_location(&mut self, id: &ItemId, dep: Option<&ItemId>) -> Result<Location, SourceError> {
        let path = self.project.repo_path(&self.asset_path(id));
        let text = self.load_by_id(id)?.map(|l| l.text).unwrap_or_else(|| Arc::from(""));
        let span = dep
            .and_then(|d| {
                let line = crate::core::yaml::top_level_key_span(&text, "depends_on")?;
                text[line.0..].find(d.as_str()).map(|o| (line.0 + o, d.as_str().len()))
            })
            .or_else(|| crate::core::yaml::top_level_key_span(&text, "depends_on"));
        Ok(match span {
            Some((offset, len)) => Location::at(path, &text, offset, len),
            None => Location::file(path),
        })
    }

    fn report_unknown_dependency(&mut self, id: &ItemId, dep: &ItemId) -> Result<(), SourceError> {
        let location = self.depends_on_location(id, Some(dep))?;
        self.findings.push(
            Finding::error("unknown_dependency", format!("`{id}` depends on `{dep}`, which does not exist"))
                .at(location)
                .label("no such asset")
                .item(id.as_str())
                .help(format!(
                    "add `{}`, or remove it from `depends_on`",
                    self.project.repo_path(&self.asset_path(dep))
                )),
        );
        Ok(())
    }

    fn report_cycle(&mut self, cycle: &[ItemId]) {
        let first = &cycle[0];
        let mut chain: Vec<&str> = cycle.iter().map(ItemId::as_str).collect();
        chain.push(first.as_str());
        let location = self
            .depends_on_location(first, cycle.get(1).or(Some(first)))
            .unwrap_or_else(|_| Location::file(self.project.repo_path(&self.asset_path(first))));
        self.findings.push(
            Finding::error("dependency_cycle", format!("`depends_on` forms a cycle: {}", chain.join(" → ")))
                .at(location)
                .label(format!("`{first}` depends on `{}`", cycle.get(1).unwrap_or(first)))
                .item(first.as_str())
                .help("imports order assets by `depends_on`; remove one of these dependencies"),
        );
    }
}

/// An asset normalised, parsed and validated against its kind's schema.
#[derive(Debug, Clone)]
pub struct AnalysedAsset {
    pub text: Arc<str>,
    /// `None` when the asset has errors.
    pub parsed: Option<ParsedAsset>,
    pub depends_on: Option<Arc<[ItemId]>>,
    pub findings: Vec<Finding>,
}

/// Normalises, parses and validates an asset's bytes. Pure and independent of other assets, so
/// it runs on several threads.
pub fn analyse_asset(project: &Project, schemas: &Schemas, id: &ItemId, path: &str, bytes: Vec<u8>) -> AnalysedAsset {
    let text = catalog::normalised_text(&project.repo_path(path), &bytes);
    drop(bytes); // the text is the copy that stays
    match text {
        Err(finding) => AnalysedAsset {
            text: Arc::from(""),
            parsed: None,
            depends_on: None,
            findings: vec![finding.item(id.as_str())],
        },
        Ok(text) => analyse_text(project, schemas, id, path, text),
    }
}

/// Parses and validates an asset's normalised text.
pub fn analyse_text(project: &Project, schemas: &Schemas, id: &ItemId, path: &str, text: Arc<str>) -> AnalysedAsset {
    let repo_path = project.repo_path(path);
    match catalog::parse_asset(id, &repo_path, &text) {
        Err(findings) => AnalysedAsset { text, parsed: None, depends_on: None, findings },
        Ok(parsed) => {
            let findings = schemas.validate(project, id, &repo_path, &text, &parsed);
            let depends_on = Some(Arc::from(parsed.depends_on.as_slice()));
            AnalysedAsset { text, parsed: Some(parsed), depends_on, findings }
        }
    }
}

/// The user's JSON Schemas for asset kinds (`schemas/<kind>.schema.json`), compiled once and
/// shared by the threads that validate assets.
#[derive(Default)]
pub struct Schemas {
    validators: BTreeMap<String, jsonschema::Validator>,
    /// Kind → (project-relative path, why it cannot be used).
    broken: BTreeMap<String, (String, String)>,
}

impl Schemas {
    pub fn load(project: &Project, source: &dyn Source) -> Result<Schemas, SourceError> {
        let _ = project;
        let mut schemas = Schemas::default();
        for entry in source.list(SCHEMAS_DIR)? {
            let Some(kind) =
                entry.path.strip_prefix(&format!("{SCHEMAS_DIR}/")).and_then(|n| n.strip_suffix(".schema.json"))
            else {
                continue;
            };
            if kind.contains('/') {
                continue;
            }
            let bytes = source.read(&entry.path, &entry.id)?;
            let compiled =
                serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|e| format!("not JSON: {e}")).and_then(
                    |schema| jsonschema::validator_for(&schema).map_err(|e| format!("not a usable JSON Schema: {e}")),
                );
            match compiled {
                Ok(validator) => {
                    schemas.validators.insert(kind.to_string(), validator);
                }
                Err(reason) => {
                    schemas.broken.insert(kind.to_string(), (entry.path.clone(), reason));
                }
            }
        }
        Ok(schemas)
    }

    /// Returns the schema violations of an asset's `spec`, each pointing at its YAML line.
    pub fn validate(
        &self,
        project: &Project,
        id: &ItemId,
        repo_path: &str,
        text: &Arc<str>,
        parsed: &ParsedAsset,
    ) -> Vec<Finding> {
        let Some(validator) = self.validators.get(id.kind()) else { return Vec::new() };
        let mut errors: Vec<(String, String)> = validator
            .iter_errors(parsed.spec())
            .map(|e| (e.instance_path().as_str().to_string(), e.to_string()))
            .collect();
        errors.sort();
        errors
            .into_iter()
            .map(|(pointer, message)| {
                let (offset, len) = locate_pointer(text, parsed.spec_span, &pointer);
                let shown = if pointer.is_empty() { "spec".to_string() } else { format!("spec{pointer}") };
                Finding::error(
                    "schema_violation",
                    format!("`{repo_path}` does not match the schema of kind `{}`", id.kind()),
                )
                .at(Location::at(repo_path, text, offset, len))
                .label(format!("{shown}: {message}"))
                .item(id.as_str())
                .help(format!("see `{}`", project.repo_path(&schema_path(id.kind()))))
            })
            .collect()
    }
}

fn schema_path(kind: &str) -> String {
    format!("{SCHEMAS_DIR}/{kind}.schema.json")
}

/// Finds the YAML line of a JSON pointer inside `spec`, by following its keys in order.
fn locate_pointer(text: &str, spec_span: Option<(usize, usize)>, pointer: &str) -> (usize, usize) {
    let Some((mut offset, mut len)) = spec_span else {
        return (0, 0);
    };
    for segment in pointer.split('/').skip(1) {
        if segment.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let key = segment.replace("~1", "/").replace("~0", "~");
        let needle = format!("{key}:");
        match text[offset..].find(&needle) {
            Some(found) => {
                offset += found;
                len = text[offset..].find('\n').unwrap_or(text.len() - offset);
            }
            None => break,
        }
    }
    (offset, len)
}

/// Everything `check` reports about one point.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub findings: Vec<Finding>,
    pub migrations: usize,
    pub assets: usize,
    pub ignored: Vec<String>,
    /// Everything read, for callers that go on (export).
    pub snapshot: Snapshot,
    /// The `depends_on` of each asset that has any.
    pub depends_on: BTreeMap<ItemId, Vec<ItemId>>,
}

impl CheckReport {
    /// Returns the state id of the project at this point (docs/guide.md: state id); `None` when there are
    /// errors. Computed on request: `export` computes the release id itself.
    pub fn state_id(&self) -> Option<ContentHash> {
        (!self.findings.iter().any(Finding::is_error)).then(|| self.snapshot.state_id(&BTreeMap::new()))
    }
}

/// Validates a whole project at one point: every migration and asset is read (on `threads`
/// threads) and parsed.
pub fn check_project(project: &Project, source: &dyn Source, threads: usize) -> Result<CheckReport, SourceError> {
    let mut checker = AssetChecker::new(project, source)?;
    // Each asset is parsed and validated by the thread that read it, while its text is warm.
    let schemas = checker.schemas();
    let (snapshot, mut findings, analysed) = read_snapshot_with(project, source, threads, &|id, asset| {
        let mut analysed = analyse_text(project, schemas, id, &asset.path, Arc::clone(&asset.text));
        analysed.parsed = None; // only the findings and the dependencies are kept
        analysed
    })?;
    for (id, analysed) in analysed {
        checker.record(&id, analysed);
    }
    checker.check_dependencies(snapshot.assets.keys())?;
    let depends_on = checker.dependencies();
    findings.append(&mut checker.findings);
    findings.extend(transaction_control_findings(project, &snapshot));
    findings.extend(special_findings(project, source)?);
    sort_findings(&mut findings);
    Ok(CheckReport {
        migrations: snapshot.migration_files,
        assets: snapshot.assets.len(),
        ignored: snapshot.ignored.clone(),
        findings,
        snapshot,
        depends_on,
    })
}

/// Links and submodules where migrations and assets are: never read or followed, so never
/// shipped — an error naming each, rather than content dropped without a word.
pub fn special_findings(project: &Project, source: &dyn Source) -> Result<Vec<Finding>, SourceError> {
    let mut specials = source.specials(&project.config.migrations)?;
    specials.extend(source.specials(&project.config.assets)?);
    Ok(findings_for_specials(project, &specials))
}

/// The findings of links and submodules found where migrations and assets are.
pub fn findings_for_specials(project: &Project, specials: &[crate::core::source::Special]) -> Vec<Finding> {
    use crate::core::source::SpecialKind;
    let mut findings = Vec::new();
    for special in specials {
        if project.is_ignored(&special.path) {
            continue;
        }
        let path = project.repo_path(&special.path);
        let folder = special.path == project.config.migrations || special.path == project.config.assets;
        let (code, what, help) = match special.kind {
            SpecialKind::Link if folder => (
                "link_in_project",
                "a symbolic link",
                "make it a folder of this repository with the files in it: migrate never follows a link (git stores a link, not what it points to)",
            ),
            SpecialKind::Link => (
                "link_in_project",
                "a symbolic link",
                "put the file itself there: migrate reads only regular files and never follows a link (git stores a link, not what it points to)",
            ),
            SpecialKind::Submodule => (
                "submodule_in_project",
                "a git submodule",
                "copy the files into the project: a bundle is made from this repository's objects alone",
            ),
        };
        findings.push(
            Finding::error(code, format!("`{path}` is {what}, which migrate does not read: it would not ship"))
                .at(Location::file(&path))
                .help(help),
        );
    }
    findings
}

/// Every statement of every migration (up and down sections, each dialect that runs it) that
/// controls the transaction itself: `import` refuses to run one, so `check` says so first.
fn transaction_control_findings(project: &Project, snapshot: &Snapshot) -> Vec<Finding> {
    use crate::core::hazard::{CONTROL_STATEMENT, rule, transaction_control};
    // A generic file serves several dialects: one finding per place, naming them all.
    type Found = (&'static str, String, Arc<str>, Vec<String>);
    let mut found: BTreeMap<(String, usize), Found> = BTreeMap::new();
    for (dialect, versions) in &snapshot.migrations {
        for migration in versions.values() {
            let parsed = &migration.parsed;
            let sections = [(Some(parsed.up()), 1), (parsed.down(), parsed.down_line.unwrap_or(1))];
            for (section, first_line) in sections {
                let Some(section) = section else { continue };
                for statement in crate::core::sql_split::statements(section, *dialect) {
                    let Some(word) = transaction_control(*dialect, &statement.text) else { continue };
                    let key = (project.repo_path(&migration.file.path), statement.line + first_line - 1);
                    let entry = found.entry(key).or_insert_with(|| {
                        (word, migration.file.name.clone(), Arc::clone(&migration.text), Vec::new())
                    });
                    entry.3.push(dialect.to_string());
                }
            }
        }
    }
    let Some(rule) = rule(CONTROL_STATEMENT) else { return Vec::new() };
    found
        .into_iter()
        .map(|((path, line), (word, name, text, dialects))| {
            Finding::error(CONTROL_STATEMENT, format!("`{word}` in migration `{name}` ({})", dialects.join(", ")))
                .at(Location::line(path, &text, line))
                .item(name)
                .label(rule.explanation)
                .help(rule.help)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::source::MemorySource;

    fn run(files: &[(&str, &str)]) -> CheckReport {
        let mut all =
            vec![("migrate.yaml", "version: 1\nproject: p\ndialects: [sqlite]\nignore: [\"assets/legacy/**\"]\n")];
        all.extend_from_slice(files);
        let source = MemorySource::from_files(all.iter().map(|(p, c)| (*p, c.as_bytes())));
        let project = Project::parse("migrate.yaml", "", all[0].1.as_bytes()).unwrap();
        check_project(&project, &source, 2).unwrap()
    }

    fn codes(report: &CheckReport) -> Vec<&str> {
        report.findings.iter().map(|f| f.code.as_str()).collect()
    }

    #[test]
    fn a_clean_project_has_no_findings() {
        let report = run(&[
            ("migrations/0001_a.sql", "CREATE TABLE a (id INT);\n"),
            ("assets/datasource/main.yaml", "spec: {url: x}\n"),
            ("assets/query/q.yaml", "depends_on: [datasource/main]\nspec: {}\n"),
            ("assets/legacy/broken.yaml", "{{{"),
        ]);
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        assert_eq!((report.migrations, report.assets), (1, 2));
        assert_eq!(report.ignored, ["assets/legacy/broken.yaml"]);
    }

    #[test]
    fn every_problem_is_collected() {
        let report = run(&[
            ("migrations/0001_a.sql", "-- migrate:nope\n"),
            ("migrations/1_b.sql", "SELECT 1;\n"),
            ("assets/a/x.yaml", "depends_on: [a/y]\n"),
            ("assets/a/y.yaml", "depends_on: [a/x]\n"),
            ("assets/a/z.yaml", "depends_on: [a/missing]\n"),
            ("assets/a/bad.yaml", "spec: [\n"),
            ("assets/a/bin.yaml", "spec: \"\u{0}\"\n"),
        ]);
        assert_eq!(
            codes(&report),
            [
                "migrate::asset_yaml",
                "migrate::not_text",
                "migrate::dependency_cycle",
                "migrate::unknown_dependency",
                "migrate::unknown_directive",
                "migrate::duplicate_version",
            ]
        );
        let cycle = &report.findings[2];
        assert_eq!(cycle.message, "`depends_on` forms a cycle: a/x → a/y → a/x");
    }

    /// Issue 10: a migration that commits or rolls back by itself is found by `check`, in the
    /// up and the down section, once per place whatever the dialects that run it.
    #[test]
    fn transaction_control_is_an_error_in_check() {
        let config = "version: 1\nproject: p\ndialects: [sqlite, postgres]\n";
        let source = MemorySource::from_files([
            ("migrate.yaml", config),
            (
                "migrations/0001_a.sql",
                "BEGIN;\nCREATE TABLE a (id INT);\nCOMMIT;\n-- migrate:down\nDROP TABLE a;\nEND;\n",
            ),
            ("migrations/0002_b.sql", "CREATE TABLE b (id INT);\n"),
            ("migrations/0002_b.postgres.sql", "CREATE TABLE b (id INT);\nROLLBACK;\n"),
        ]);
        let project = Project::parse("migrate.yaml", "", config.as_bytes()).unwrap();
        let report = check_project(&project, &source, 2).unwrap();
        let found: Vec<(String, Option<usize>, &str)> = report
            .findings
            .iter()
            .map(|f| (f.message.clone(), f.location.as_ref().and_then(|l| l.line), f.code.as_str()))
            .collect();
        let code = "migrate::transaction/control-statement";
        assert_eq!(
            found,
            [
                ("`BEGIN` in migration `0001_a` (sqlite, postgres)".to_string(), Some(1), code),
                ("`COMMIT` in migration `0001_a` (sqlite, postgres)".to_string(), Some(3), code),
                ("`END` in migration `0001_a` (sqlite, postgres)".to_string(), Some(6), code),
                ("`ROLLBACK` in migration `0002_b` (postgres)".to_string(), Some(2), code),
            ]
        );
    }

    #[test]
    fn state_id_is_over_normalised_items_per_dialect() {
        let config = "version: 1\nproject: p\ndialects: [sqlite, postgres]\nignore: [\"assets/legacy/**\"]\n";
        let files = |asset: &str| {
            MemorySource::from_files([
                ("migrate.yaml", config),
                ("migrations/0001_a.sql", "SELECT 1;\n"),
                ("migrations/0001_a.postgres.sql", "SELECT 2;\n"),
                ("assets/query/a.yaml", asset),
                ("assets/legacy/x.yaml", "ignored: true\n"),
            ])
        };
        let project = Project::parse("migrate.yaml", "", config.as_bytes()).unwrap();
        let lf = check_project(&project, &files("spec: {}\n"), 2).unwrap();
        let crlf = check_project(&project, &files("\u{feff}spec: {}\r\n"), 2).unwrap();
        let h = |t: &str| ContentHash::of(t.as_bytes());
        let expected = format!(
            "[[\"asset\",\"query/a\",\"\",\"{}\"],[\"migration\",\"1\",\"postgres\",\"{}\"],[\"migration\",\"1\",\"sqlite\",\"{}\"]]",
            h("spec: {}\n"),
            h("SELECT 2;\n"),
            h("SELECT 1;\n")
        );
        assert_eq!(lf.state_id(), Some(ContentHash::of(expected.as_bytes())));
        assert_eq!(crlf.state_id(), lf.state_id());
        let broken = check_project(&project, &files("spec: [\n"), 2).unwrap();
        assert_eq!(broken.state_id(), None);
    }

    #[test]
    fn schemas_validate_spec_and_point_at_the_key() {
        let report = run(&[
            (
                "schemas/query.schema.json",
                r#"{"type": "object", "required": ["sql"], "properties": {"sql": {"type": "string"}, "limits": {"type": "object", "properties": {"rows": {"type": "integer"}}}}}"#,
            ),
            ("assets/query/ok.yaml", "spec:\n  sql: SELECT 1\n"),
            ("assets/query/bad.yaml", "kind: query\nspec:\n  sql: SELECT 1\n  limits:\n    rows: many\n"),
            ("schemas/broken.schema.json", "{"),
            ("assets/broken/x.yaml", "spec: {}\n"),
        ]);
        assert_eq!(codes(&report), ["migrate::schema_violation", "migrate::schema_invalid"]);
        let location = report.findings[0].location.as_ref().unwrap();
        assert_eq!(location.line, Some(5));
        assert!(report.findings[0].label.as_deref().unwrap().starts_with("spec/limits/rows:"));
    }
}
