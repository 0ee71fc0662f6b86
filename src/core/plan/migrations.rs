//! The migrations of a plan: new, edited and removed ones per dialect, shipped migrations that
//! changed, and SQL hazards.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MigrationChangeKind {
    Added,
    /// The effective text changed; an error for a shipped migration.
    Edited,
    /// Gone from head; an error for a shipped migration.
    Removed,
    /// Undone by its down section: the head is older than the base (a downgrade).
    Reverted,
}

/// One migration that changes for one dialect.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct MigrationChange {
    pub dialect: Dialect,
    pub version: Version,
    /// File name without dialect suffix and `.sql`.
    pub name: String,
    pub change: MigrationChangeKind,
    /// Repository-relative path of the effective file.
    pub path: String,
    /// Whether the migration shipped (at the base or in an environment record).
    pub shipped: bool,
    pub no_transaction: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256_before: Option<ContentHash>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<ContentHash>,
    /// Unified diff of the normalised text, cut past 1 MiB as an asset's is.
    pub diff: String,
}

/// The normalised text of migration files, read once even when several dialects share a file.
pub(super) struct MigrationTexts<'a> {
    source: &'a dyn Source,
    project: &'a Project,
    cache: HashMap<String, Option<(Arc<str>, ContentHash, bool)>>,
    findings: Vec<Finding>,
}

impl MigrationTexts<'_> {
    /// Returns (text, hash, no-transaction) or `None` for a file that is not text (a finding).
    pub(super) fn get(
        &mut self,
        file: &MigrationFile,
        report: bool,
    ) -> Result<Option<(Arc<str>, ContentHash, bool)>, SourceError> {
        if let Some(cached) = self.cache.get(&file.path) {
            return Ok(cached.clone());
        }
        let bytes = self.source.read(&file.path, &file.object)?;
        let repo_path = self.project.repo_path(&file.path);
        let text = catalog::normalised_text(&repo_path, &bytes);
        drop(bytes); // the text is the copy that stays
        let value = match text {
            Ok(text) => {
                let (parsed, findings) = catalog::parse_migration_text(&repo_path, &text);
                if report {
                    self.findings.extend(findings);
                }
                let hash = ContentHash::of(text.as_bytes());
                Some((text, hash, parsed.no_transaction))
            }
            Err(finding) => {
                if report {
                    self.findings.push(finding);
                }
                None
            }
        };
        self.cache.insert(file.path.clone(), value.clone());
        Ok(value)
    }
}

/// Returns the findings of comparing migrations with the base and the records (shipped edits and
/// deletions, out-of-order versions), without those about the head alone: what `check --base`
/// adds to a check of the head.
pub fn shipped_migration_findings(input: &PlanInput<'_>) -> Result<Vec<Finding>, SourceError> {
    let mut findings = Vec::new();
    plan_migrations(input, false, &mut findings, &mut Vec::new())?;
    Ok(merge_across_dialects(findings))
}

pub(super) fn plan_migrations(
    input: &PlanInput<'_>,
    report_head: bool,
    findings: &mut Vec<Finding>,
    ignored: &mut Vec<String>,
) -> Result<Vec<MigrationChange>, SourceError> {
    let project = input.project;
    let folder = &project.config.migrations;
    let head = MigrationCatalog::from_entries(project, &input.head.list(folder)?);
    let base = match input.base {
        Some(base) => MigrationCatalog::from_entries(project, &base.list(folder)?),
        None => MigrationCatalog::default(),
    };
    if report_head {
        findings.extend(head.findings.iter().cloned());
    }
    ignored.extend(head.ignored.iter().filter(|p| !base.ignored.contains(p)).map(|p| project.repo_path(p)));
    ignored.extend(base.ignored.iter().filter(|p| !head.ignored.contains(p)).map(|p| project.repo_path(p)));

    let shipped = shipped_migrations(input.records);
    // Planning for an environment, what it needs is what its least advanced target lacks,
    // whatever other environments hold; immutability still counts every record.
    let target_holds: Option<BTreeSet<(Dialect, &Version, &ContentHash)>> = input.environment.as_ref().map(|env| {
        input
            .records
            .iter()
            .filter(|r| r.environment == env.name)
            .filter_map(|r| r.targets.get(&env.target_id))
            .flat_map(|receipt| {
                receipt.migrations.iter().flat_map(|(d, ms)| ms.iter().map(move |m| (*d, &m.version, &m.sha256)))
            })
            .collect()
    });
    let mut head_texts = MigrationTexts { source: input.head, project, cache: HashMap::new(), findings: Vec::new() };
    let mut base_texts =
        input.base.map(|source| MigrationTexts { source, project, cache: HashMap::new(), findings: Vec::new() });
    let mut changes = Vec::new();
    for &dialect in &project.config.dialects {
        let head_eff = head.effective(dialect);
        // A dialect the base did not target has no history there: all of it is new.
        let base_eff = match input.base_project {
            Some(base_project) if !base_project.config.dialects.contains(&dialect) => BTreeMap::new(),
            _ => base.effective(dialect),
        };
        let newest_shipped = match &target_holds {
            Some(holds) => {
                base_eff.keys().chain(holds.iter().filter(|(d, ..)| *d == dialect).map(|(_, v, _)| *v)).max().cloned()
            }
            None => base_eff.keys().chain(shipped.keys().filter(|(d, _)| *d == dialect).map(|(_, v)| v)).max().cloned(),
        };
        // A migration a record holds is shipped: gone from the head, it is a deletion too.
        let recorded_versions = shipped.keys().filter(|(d, _)| *d == dialect).map(|(_, v)| v);
        let versions: BTreeSet<&Version> = head_eff.keys().chain(base_eff.keys()).chain(recorded_versions).collect();
        // Tables the release creates, in version order: their first indexes and columns lock nothing.
        let mut created_tables = BTreeSet::new();
        for version in versions {
            let recorded = shipped.get(&(dialect, version.clone()));
            match (base_eff.get(version), head_eff.get(version)) {
                (Some(b), Some(h)) if b.object == h.object => {}
                (Some(b), Some(h)) => {
                    let Some((after, after_hash, no_tx)) = head_texts.get(h, true)? else {
                        continue;
                    };
                    let before = match base_texts.as_mut() {
                        Some(texts) => texts.get(b, false)?,
                        None => None,
                    };
                    if before.as_ref().is_some_and(|(_, hash, _)| *hash == after_hash) {
                        continue;
                    }
                    let before_text = before.as_ref().map(|(t, _, _)| t.clone());
                    let change = migration_change(
                        project,
                        dialect,
                        h,
                        MigrationChangeKind::Edited,
                        Some(b),
                        before_text.as_deref(),
                        Some(&after),
                        no_tx,
                    );
                    let partial = recorded.is_some_and(|r| r.iter().all(|s| s.partial));
                    findings.push(edited_finding(
                        &change,
                        h,
                        Some(b),
                        before_text.as_deref(),
                        &after,
                        recorded,
                        partial,
                    ));
                    changes.push(MigrationChange {
                        sha256_before: before.map(|(_, h, _)| h),
                        sha256: Some(after_hash),
                        ..change
                    });
                }
                (None, Some(h)) if input.downgrade => {
                    // As `export` refuses it: a downgrade goes back to an ancestor of the base.
                    let path = project.repo_path(&h.path);
                    findings.push(
                        Finding::error(
                            "diverged",
                            format!("`{path}` ({dialect}) exists at the head but not at the base: the history has diverged, not gone back"),
                        )
                        .at(Location::file(&path))
                        .item(format!("migration {version}"))
                        .help("a downgrade bundle goes from a base to one of its ancestors"),
                    );
                }
                (None, Some(h)) => {
                    let Some((after, after_hash, no_tx)) = head_texts.get(h, true)? else {
                        continue;
                    };
                    let held =
                        target_holds.as_ref().is_some_and(|holds| holds.contains(&(dialect, version, &after_hash)));
                    if let Some(recorded) = recorded {
                        // Not at the base, but a target has it: it shipped from elsewhere. For
                        // an environment, it still ships unless that environment's target has it.
                        let same = recorded.iter().all(|s| s.sha256 == after_hash);
                        if same && (target_holds.is_none() || held) {
                            continue;
                        }
                    }
                    if let Some(recorded) = recorded.filter(|r| r.iter().any(|s| s.sha256 != after_hash)) {
                        let change = migration_change(
                            project,
                            dialect,
                            h,
                            MigrationChangeKind::Edited,
                            None,
                            None,
                            Some(&after),
                            no_tx,
                        );
                        let partial = recorded.iter().all(|s| s.partial);
                        findings.push(edited_finding(&change, h, None, None, &after, Some(recorded), partial));
                        changes.push(MigrationChange { sha256: Some(after_hash), ..change });
                        continue;
                    }
                    if let Some(newest) = &newest_shipped
                        && version < newest
                    {
                        let path = project.repo_path(&h.path);
                        let severity = if project.config.allow_out_of_order { Severity::Info } else { Severity::Error };
                        let help = if project.config.allow_out_of_order {
                            "`allow_out_of_order` is on: targets will run it after newer migrations"
                        } else {
                            "give it a version newer than every shipped migration, or set `allow_out_of_order: true`"
                        };
                        findings.push(
                            Finding::new(
                                severity,
                                "out_of_order",
                                format!("`{path}` ({dialect}) is older than the shipped version {newest}"),
                            )
                            .at(Location::file(&path))
                            .item(format!("migration {version}"))
                            .help(help),
                        );
                    }
                    if report_head {
                        let path = project.repo_path(&h.path);
                        let item = format!("migration {version}");
                        findings.extend(hazard_findings(
                            project,
                            dialect,
                            &path,
                            &item,
                            &after,
                            false,
                            &mut created_tables,
                        ));
                    }
                    let change = migration_change(
                        project,
                        dialect,
                        h,
                        MigrationChangeKind::Added,
                        None,
                        None,
                        Some(&after),
                        no_tx,
                    );
                    changes.push(MigrationChange { sha256: Some(after_hash), ..change });
                }
                (Some(b), None) => {
                    let before = match base_texts.as_mut() {
                        Some(texts) => texts.get(b, false)?,
                        None => None,
                    };
                    let before_text = before.as_ref().map(|(t, _, _)| t.clone());
                    let no_tx = before.as_ref().is_some_and(|(_, _, n)| *n);
                    let kind =
                        if input.downgrade { MigrationChangeKind::Reverted } else { MigrationChangeKind::Removed };
                    let change =
                        migration_change(project, dialect, b, kind, Some(b), before_text.as_deref(), None, no_tx);
                    let path = project.repo_path(&b.path);
                    if input.downgrade {
                        // What a downgrade bundle runs: the down section, with its hazards.
                        let has_down = before_text
                            .as_ref()
                            .is_some_and(|text| catalog::parse_migration_text(&path, text).0.down().is_some());
                        match before_text.as_ref() {
                            Some(text) if has_down && report_head => {
                                let item = format!("migration {version}");
                                findings.extend(hazard_findings(project, dialect, &path, &item, text, true, &mut created_tables));
                            }
                            _ if has_down => {}
                            _ => findings.push(
                                Finding::error(
                                    "missing_down",
                                    format!("migration `{}` ({dialect}) has no down section, so the downgrade cannot undo it", b.name),
                                )
                                .at(Location::file(&path))
                                .item(format!("migration {version}"))
                                .help("add a `-- migrate:down` section to it at the base, or ship a new migration that undoes it"),
                            ),
                        }
                        changes.push(MigrationChange { sha256_before: before.map(|(_, h, _)| h), ..change });
                        continue;
                    }
                    findings.push(
                        Finding::error(
                            "shipped_migration_deleted",
                            format!("migration `{}` ({dialect}) shipped and is gone from head", b.name),
                        )
                        .at(Location::file(&path))
                        .item(format!("migration {version}"))
                        .help("restore the file; to undo its effect, write a new migration"),
                    );
                    changes.push(MigrationChange { sha256_before: before.map(|(_, h, _)| h), ..change });
                }
                (None, None) => {
                    // Recorded as shipped, at neither side: it was deleted before the base.
                    if let Some(recorded) = recorded.filter(|_| !input.downgrade) {
                        let environments: BTreeSet<&str> = recorded.iter().map(|s| s.environment.as_str()).collect();
                        findings.push(
                            Finding::error(
                                "shipped_migration_deleted",
                                format!(
                                    "migration {version} ({dialect}) shipped to `{}` and is gone from head",
                                    environments.into_iter().collect::<Vec<_>>().join("`, `")
                                ),
                            )
                            .item(format!("migration {version}"))
                            .help("restore the file; to undo its effect, write a new migration"),
                        );
                    }
                }
            }
        }
    }
    if report_head {
        findings.append(&mut head_texts.findings);
    }
    changes.sort_by(|a, b| a.version.cmp(&b.version).then(a.dialect.cmp(&b.dialect)));
    Ok(changes)
}

/// The SQL hazards of what a release runs of a migration — its up section, or for a downgrade
/// its down section — as findings at their lines in the file. An allowed hazard stays in the
/// plan as information, with the reason it was allowed.
pub(super) fn hazard_findings(
    project: &Project,
    dialect: Dialect,
    path: &str,
    item: &str,
    text: &Arc<str>,
    down: bool,
    created_tables: &mut BTreeSet<String>,
) -> Vec<Finding> {
    let (parsed, _) = catalog::parse_migration_text(path, text);
    let (section, offset, what) = match (down, parsed.down()) {
        (false, _) => (parsed.up(), 0, ""),
        (true, Some(down)) => (down, parsed.down_line.unwrap_or(1) - 1, ", down section"),
        (true, None) => return Vec::new(),
    };
    let mut context = hazard::Context {
        dialect,
        no_transaction: parsed.no_transaction,
        overrides: &project.config.hazards,
        created_tables,
    };
    // One statement at a time: a data migration's statements are never held together.
    let statements = crate::core::sql_split::statements(section, dialect)
        .map(|s| (hazard::Place::of(&s), hazard::parse(dialect, &s)));
    hazard::analyse_parsed(section, statements, &mut context)
        .into_iter()
        .filter_map(|found| {
            let rule = hazard::rule(found.rule)?;
            let (severity, message) = match (&found.allowed, found.severity) {
                (Some(reason), _) => {
                    (Severity::Info, format!("{} ({dialect}{what}), allowed: {reason}", found.message))
                }
                (None, RuleSeverity::Error) => (Severity::Error, format!("{} ({dialect}{what})", found.message)),
                (None, RuleSeverity::Warning) => (Severity::Warning, format!("{} ({dialect}{what})", found.message)),
                (None, RuleSeverity::Info) => (Severity::Info, format!("{} ({dialect}{what})", found.message)),
                (None, RuleSeverity::Off) => return None,
            };
            Some(
                Finding::new(severity, rule.id, message)
                    .at(Location::line(path, text, found.line + offset))
                    .item(item)
                    .label(rule.explanation)
                    .help(rule.help),
            )
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
pub(super) fn migration_change(
    project: &Project,
    dialect: Dialect,
    file: &MigrationFile,
    change: MigrationChangeKind,
    before_file: Option<&MigrationFile>,
    before: Option<&str>,
    after: Option<&str>,
    no_transaction: bool,
) -> MigrationChange {
    let path = project.repo_path(&file.path);
    let old_path = before_file.map(|b| project.repo_path(&b.path)).unwrap_or_else(|| path.clone());
    MigrationChange {
        dialect,
        version: file.version.clone(),
        name: file.name.clone(),
        change,
        path: path.clone(),
        shipped: change != MigrationChangeKind::Added,
        no_transaction,
        sha256_before: None,
        sha256: None,
        diff: unified_diff(&old_path, before, &path, after),
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn edited_finding(
    change: &MigrationChange,
    head_file: &MigrationFile,
    base_file: Option<&MigrationFile>,
    before: Option<&str>,
    after: &Arc<str>,
    recorded: Option<&Vec<ShippedMigration>>,
    partial: bool,
) -> Finding {
    let where_shipped = match recorded.and_then(|r| r.first()) {
        Some(first) => format!("to `{}`", first.environment),
        None => "at the base".to_string(),
    };
    let shipped_hash = match (before, recorded.and_then(|r| r.first())) {
        (Some(before), _) => Some(ContentHash::of(before.as_bytes())),
        (None, Some(first)) => Some(first.sha256.clone()),
        (None, None) => None,
    };
    let now_hash = ContentHash::of(after.as_bytes());
    let label = match shipped_hash {
        Some(shipped) => format!("shipped sha256:{}…  now sha256:{}…", &shipped.hex()[..4], &now_hash.hex()[..4]),
        None => format!("now sha256:{}…", &now_hash.hex()[..4]),
    };
    let line = before.map_or(1, |before| first_changed_line(before, after));
    let location = Location::line(&change.path, after, line);
    let variant_added = base_file.is_some_and(|b| b.dialect.is_none()) && head_file.dialect.is_some();
    if partial {
        return Finding::warning(
            "partial_migration_edited",
            format!("migration `{}` ({}) is partially applied on a target and changed", change.name, change.dialect),
        )
        .at(location)
        .label(label)
        .item(format!("migration {}", change.version))
        .help("only statements not yet run may change; import refuses if a statement already run has changed");
    }
    let message = if variant_added {
        format!(
            "migration `{}` shipped {where_shipped}; a `{}` variant now changes its text",
            change.name, change.dialect
        )
    } else {
        format!("migration `{}` ({}) changed after it shipped {where_shipped}", change.name, change.dialect)
    };
    Finding::error("shipped_migration_edited", message)
        .at(location)
        .label(label)
        .item(format!("migration {}", change.version))
        .help("restore the shipped text and put the change in a new migration")
}

/// Returns the 1-based number of the first line where two texts differ.
pub(super) fn first_changed_line(before: &str, after: &str) -> usize {
    let mut old = before.split_inclusive('\n');
    let mut new = after.split_inclusive('\n');
    let mut line = 1;
    loop {
        match (old.next(), new.next()) {
            (Some(a), Some(b)) if a == b => line += 1,
            (None, None) => return 1,
            _ => return line,
        }
    }
}

/// Merges findings that differ only in their dialect (`(sqlite)`, `(postgres)`): a generic
/// file serves every dialect, and one edit should read as one error.
pub(super) fn merge_across_dialects(findings: Vec<Finding>) -> Vec<Finding> {
    let mut merged: Vec<(Finding, Vec<Dialect>)> = Vec::new();
    // The same finding in the same place: two statements alike on different lines stay two.
    type Key = (String, Option<(String, Option<usize>)>, String);
    let mut index: HashMap<Key, usize> = HashMap::new();
    for finding in findings {
        let dialect = Dialect::ALL.into_iter().find(|d| finding.message.contains(&format!("({d})")));
        let Some(dialect) = dialect else {
            merged.push((finding, Vec::new()));
            continue;
        };
        let template = finding.message.replace(&format!("({dialect})"), "(*)");
        let place = finding.location.as_ref().map(|l| (l.path.clone(), l.line));
        let key = (finding.code.clone(), place, template.clone());
        match index.get(&key) {
            Some(&i) => merged[i].1.push(dialect),
            None => {
                index.insert(key, merged.len());
                merged.push((Finding { message: template, ..finding }, vec![dialect]));
            }
        }
    }
    merged
        .into_iter()
        .map(|(finding, dialects)| {
            if dialects.is_empty() {
                return finding;
            }
            let names: Vec<&str> = dialects.iter().map(|d| d.name()).collect();
            Finding { message: finding.message.replace("(*)", &format!("({})", names.join(", "))), ..finding }
        })
        .collect()
}
