//! Manifest + target state + history rows → `Decision`: initialise, upgrade, downgrade, nothing
//! to do, or refuse, with the ordered steps to run. Made after the target's lock is held and
//! before anything changes; `--dry-run` prints it and stops.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::core::catalog::parse_migration_text;
use crate::core::hash::ContentHash;
use crate::core::manifest::{Action, BundleKind, ItemType, Manifest, ManifestHazard};
use crate::core::model::{Dialect, ItemId, Version};
use crate::core::sql_split;
use crate::core::state::{HistoryRow, Journal, TargetState};

/// What is known about a target before anything changes.
pub struct TargetFacts<'a> {
    pub dialect: Dialect,
    pub state: Option<&'a TargetState>,
    /// `None` when the history table does not exist.
    pub history: Option<&'a [HistoryRow]>,
    /// Whether the database holds tables other than the history table.
    pub database_has_tables: bool,
    /// The database the import was pointed at, as a URL without its password.
    pub database: &'a str,
    /// The environment the import was asked for (`--env`).
    pub environment: Option<&'a str>,
    pub allow_downgrade: bool,
    /// Adopt a database that was migrated by other means, up to this version.
    pub baseline: Option<Version>,
    /// The journal an import left when it died: `Some(Err(()))` when it cannot be read.
    pub journal: Option<Result<&'a Journal, ()>>,
    /// Why an asset cannot be written where its identity says (a link in the target, a path
    /// that would leave it); `None` when it can.
    pub unsafe_path: &'a dyn Fn(&ItemId) -> Option<String>,
}

/// One statement to run, exactly as the manifest hashed it: where its text is in the
/// migration's member (`MigrationStep::text_of`), so that a data migration's 800,000 statements
/// are not a second copy of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementStep {
    /// Byte range of the statement's text in the member.
    pub span: std::ops::Range<usize>,
    pub sha256: ContentHash,
    /// 1-based line in the migration file.
    pub line: usize,
}

/// One migration to run (or revert).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStep {
    pub version: Version,
    pub name: String,
    /// The bundle member, for messages.
    pub path: String,
    pub file_sha256: ContentHash,
    pub revert: bool,
    pub transactional: bool,
    /// The member's text, which every statement is a range of.
    pub text: Arc<str>,
    pub statements: Vec<StatementStep>,
    /// Statements already run by an import that stopped part-way (resume after them).
    pub start_at: usize,
    /// The SQL hazards the manifest records for this migration in this dialect.
    pub hazards: Vec<ManifestHazard>,
}

impl MigrationStep {
    /// The text of one of this migration's statements.
    pub fn text_of(&self, statement: &StatementStep) -> &str {
        self.text.get(statement.span.clone()).unwrap_or_default()
    }
}

/// One asset to write or remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetStep {
    pub id: ItemId,
    /// The bundle member to write; `None` to delete.
    pub member: Option<String>,
    pub sha256: ContentHash,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionKind {
    Initialise,
    Upgrade,
    Downgrade,
    Resume,
}

impl DecisionKind {
    pub fn name(self) -> &'static str {
        match self {
            DecisionKind::Initialise => "initialise",
            DecisionKind::Upgrade => "upgrade",
            DecisionKind::Downgrade => "downgrade",
            DecisionKind::Resume => "resume",
        }
    }
}

/// The ordered work of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Steps {
    pub kind: DecisionKind,
    pub migrations: Vec<MigrationStep>,
    /// Upserts in `depends_on` order (as the bundle lists them), then deletes.
    pub assets: Vec<AssetStep>,
    /// History rows already there (written by the bundle's offline script) that are adopted.
    pub adopted: Vec<Version>,
}

/// Why an import is refused before anything changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
    pub help: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    NothingToDo,
    Apply(Steps),
    Refuse(Refusal),
}

fn refuse(code: &'static str, message: String, help: &str) -> Decision {
    Decision::Refuse(Refusal { code, message, help: help.to_string() })
}

/// Decides what an import does. Every refusal of an import is made here, before anything
/// changes; the shell only gathers the facts and carries the decision out.
pub fn decide(manifest: &Manifest, members: &BTreeMap<String, Arc<str>>, facts: &TargetFacts<'_>) -> Decision {
    let dialect = facts.dialect;
    if let Some(refusal) = identity_refusal(manifest, facts) {
        return Decision::Refuse(refusal);
    }
    if !manifest.dialects.contains(&dialect) {
        return refuse(
            "migrate::dialect_not_in_bundle",
            format!("the bundle has no migrations for `{dialect}`, the target's database"),
            "export the bundle from a project whose `dialects` lists this database",
        );
    }
    let history: &[HistoryRow] = facts.history.unwrap_or(&[]);
    let held = facts.state.and_then(|s| s.release.as_ref());
    let unfinished = facts.state.and_then(|s| s.partial.as_ref());
    let release_id =
        crate::core::selection::held_release_id(manifest, facts.state.map(|s| &s.assets).unwrap_or(&BTreeMap::new()));
    if held.is_some_and(|r| r.id == release_id)
        && history.iter().all(|r| r.statements_done == r.statements_total)
        && unfinished.is_none()
    {
        return Decision::NothingToDo;
    }
    if manifest.release.bundle == BundleKind::Downgrade && !facts.allow_downgrade {
        return refuse(
            "migrate::downgrade_refused",
            "this is a downgrade bundle: it reverts migrations".to_string(),
            "pass `--allow-downgrade` to run the down sections",
        );
    }
    if facts.history.is_none() && facts.database_has_tables && facts.baseline.is_none() && facts.state.is_none() {
        return refuse(
            "migrate::database_not_empty",
            "the database has tables but no history table: it was not set up by migrate".to_string(),
            "pass `--baseline VERSION` to adopt it as holding every migration up to VERSION",
        );
    }
    // The bundle's migrations for this dialect, by version.
    let items: Vec<&crate::core::manifest::Item> =
        manifest.items.iter().filter(|i| i.item_type == ItemType::Migration && i.dialect == Some(dialect)).collect();
    let bundle_versions: BTreeMap<Version, &crate::core::manifest::Item> =
        items.iter().filter_map(|i| Version::parse(&i.identity).map(|v| (v, *i))).collect();

    // A migration an import stopped in resumes after the statements that ran, if they are
    // unchanged in this bundle.
    let resume = match resume_point(history, &bundle_versions, facts) {
        Ok(resume) => resume,
        Err(refusal) => return Decision::Refuse(refusal),
    };
    let resuming = |version: &Version| resume.as_ref().is_some_and(|r| &r.version == version && !r.revert);

    // What the target must hold first.
    let mut adopted = Vec::new();
    match manifest.release.bundle {
        BundleKind::Incremental | BundleKind::Downgrade => {
            // A target that records its release must hold exactly the base: the same migrations
            // with other assets would keep assets the bundle does not touch, under the head's id.
            if let (Some(held), Some(required)) = (held, &manifest.requires.release_id)
                && held.id != *required
            {
                return refuse(
                    "migrate::unexpected_base",
                    format!(
                        "the target holds release {}, and this bundle is for a target at release {}",
                        held.id.short(),
                        required.short()
                    ),
                    "use a full bundle, or the bundle exported for this target's release (`migrate export --env ENV` reads it from the environment record)",
                );
            }
            let required: BTreeMap<&Version, &ContentHash> = manifest
                .requires
                .history
                .get(&dialect)
                .map(|rows| rows.iter().map(|r| (&r.version, &r.sha256)).collect())
                .unwrap_or_default();
            // Without a matching state (offline script used, or state lost), the history decides:
            // exactly the base's rows, plus rows this bundle's own offline script wrote.
            for row in history.iter().filter(|r| !resuming(&r.version)) {
                match (required.get(&row.version), bundle_versions.get(&row.version)) {
                    (Some(sha), _) if **sha == row.sha256 => {}
                    (_, Some(item)) if item.sha256 == row.sha256 && item.action == Action::Apply => {
                        adopted.push(row.version.clone())
                    }
                    _ => {
                        return refuse(
                            "migrate::unexpected_history",
                            format!(
                                "the history row {} ({}) is not part of the bundle's base",
                                row.version,
                                row.sha256.short()
                            ),
                            "this bundle is for a target at its base release; use a full bundle, or the bundle for this target's release",
                        );
                    }
                }
            }
            let missing: Vec<&&Version> =
                required.keys().filter(|v| !history.iter().any(|r| r.version == ***v)).collect();
            let baselined = facts.baseline.is_some() && facts.history.is_none();
            if !missing.is_empty() && !baselined {
                return refuse(
                    "migrate::unexpected_base",
                    format!("the target does not hold the bundle's base: migration {} is missing", missing[0]),
                    "use a full bundle, or the bundle exported for this target's release",
                );
            }
        }
        BundleKind::Full => {
            for row in history.iter().filter(|r| !resuming(&r.version)) {
                match bundle_versions.get(&row.version) {
                    Some(item) if item.sha256 == row.sha256 => {
                        if row.applied_by == "script" {
                            adopted.push(row.version.clone());
                        }
                    }
                    Some(item) => {
                        return refuse(
                            "migrate::history_mismatch",
                            format!(
                                "migration {} on the target has sha256 {}, the bundle's has {}",
                                row.version,
                                row.sha256.short(),
                                item.sha256.short()
                            ),
                            "the migration was changed after it shipped, or the target was changed by hand",
                        );
                    }
                    None => {
                        return refuse(
                            "migrate::target_ahead",
                            format!(
                                "the target has migration {}, which the bundle lacks: the target is ahead of it",
                                row.version
                            ),
                            "import a newer bundle",
                        );
                    }
                }
            }
            if let (Some(held), false) = (held, facts.allow_downgrade)
                && held.head_depth > manifest.source.head_depth
            {
                return refuse(
                    "migrate::target_ahead",
                    format!(
                        "the target holds a newer release (head depth {} > {})",
                        held.head_depth, manifest.source.head_depth
                    ),
                    "import a newer bundle, or a downgrade bundle with `--allow-downgrade`",
                );
            }
        }
    }

    let applied: BTreeSet<&Version> = history.iter().map(|r| &r.version).collect();
    let newest_applied = applied.iter().max().cloned();
    let mut migrations = Vec::new();
    for item in &items {
        let Some(version) = Version::parse(&item.identity) else { continue };
        let revert = item.action == Action::Revert;
        if let Some(resume) = resume.as_ref().filter(|r| r.version == version) {
            match migration_step(item, members, dialect, resume.revert) {
                Ok(step) => migrations.push(MigrationStep { start_at: resume.ran, ..step }),
                Err(refusal) => return Decision::Refuse(refusal),
            }
            continue;
        }
        if revert != applied.contains(&version) {
            continue; // applying what is there, or reverting what is not
        }
        if let Some(baseline) = &facts.baseline
            && facts.history.is_none()
            && version <= *baseline
        {
            // Adopted as applied: its history row is written, none of its statements run.
            match migration_step(item, members, dialect, false) {
                Ok(step) => migrations.push(MigrationStep { start_at: step.statements.len(), ..step }),
                Err(refusal) => return Decision::Refuse(refusal),
            }
            adopted.push(version);
            continue;
        }
        if !revert
            && !manifest.allow_out_of_order
            && let Some(newest) = newest_applied
            && &version < newest
        {
            return refuse(
                "migrate::out_of_order",
                format!("migration {version} is older than the target's newest migration {newest}"),
                "set `allow_out_of_order: true` in migrate.yaml to allow it",
            );
        }
        match migration_step(item, members, dialect, revert) {
            Ok(step) => migrations.push(step),
            Err(refusal) => return Decision::Refuse(refusal),
        }
    }

    // Assets: converge to the bundle. Deletions only of what an earlier import put there.
    let owned = facts.state.map(|s| &s.assets);
    let mut upserts: Vec<AssetStep> = Vec::new();
    let mut deletes = Vec::new();
    let mut listed: BTreeSet<&str> = BTreeSet::new();
    for item in manifest.items.iter().filter(|i| i.item_type == ItemType::Asset) {
        listed.insert(&item.identity);
        let Ok(id) = ItemId::parse(&item.identity) else { continue };
        let current = owned.and_then(|o| o.get(&id));
        match item.action {
            Action::Upsert if current != Some(&item.sha256) => {
                upserts.push(AssetStep { id, member: item.path.clone(), sha256: item.sha256.clone() })
            }
            Action::Delete if current.is_some() => {
                deletes.push(AssetStep { id, member: None, sha256: item.sha256.clone() })
            }
            _ => {}
        }
    }
    if manifest.release.bundle == BundleKind::Full
        && let Some(owned) = owned
    {
        let kept: BTreeSet<&ItemId> =
            crate::core::selection::kept_always(manifest, owned).into_iter().map(|(id, _)| id).collect();
        for (id, sha256) in owned {
            if !listed.contains(id.as_str()) && !manifest.skipped.iter().any(|s| &s.id == id) && !kept.contains(id) {
                deletes.push(AssetStep { id: id.clone(), member: None, sha256: sha256.clone() });
            }
        }
    }
    let mut upserts = order_by_dependencies(upserts, members);
    upserts.extend(deletes);
    if let Some(refusal) = transaction_control_refusal(&migrations, dialect) {
        return Decision::Refuse(refusal);
    }
    // Every asset path is checked before anything changes: none may leave the target.
    if let Some((id, why)) = upserts.iter().find_map(|a| (facts.unsafe_path)(&a.id).map(|why| (&a.id, why))) {
        return refuse(
            "migrate::path_escape",
            format!("asset `{id}` cannot be written: {why}"),
            "remove the link from the target folder; migrate writes only inside it",
        );
    }
    let kind = match (manifest.release.bundle, facts.state.is_some() || !history.is_empty()) {
        _ if resume.is_some() => DecisionKind::Resume,
        (BundleKind::Downgrade, _) => DecisionKind::Downgrade,
        (_, false) => DecisionKind::Initialise,
        (_, true) => DecisionKind::Upgrade,
    };
    Decision::Apply(Steps { kind, migrations, assets: upserts, adopted })
}

/// A target belongs to one project, one database and one environment (docs/guide.md): a bundle of
/// another project, another database than the recorded one (`connection::same_database`: however
/// its URL is written), or another environment is refused. The shell asks this before it
/// connects as well, so that another database is never opened.
pub fn identity_refusal(manifest: &Manifest, facts: &TargetFacts<'_>) -> Option<Refusal> {
    let state = facts.state?;
    let refusal = |code, message, help: &str| Some(Refusal { code, message, help: help.to_string() });
    if state.project != manifest.project {
        return refusal(
            "migrate::other_project",
            format!(
                "the target belongs to project `{}`, and this bundle is of project `{}`",
                state.project, manifest.project
            ),
            "import the bundle of this target's project, or use another target folder",
        );
    }
    if !crate::core::connection::same_database(&state.database, facts.database) {
        return refusal(
            "migrate::other_database",
            format!("the target's database is `{}`, not `{}`", state.database, facts.database),
            "a target belongs to one database; use another target folder",
        );
    }
    if let (Some(recorded), Some(asked)) = (&state.environment, facts.environment)
        && recorded != asked
    {
        return refusal(
            "migrate::other_environment",
            format!("the target belongs to environment `{recorded}`, not `{asked}`"),
            "a target belongs to one environment",
        );
    }
    None
}

/// Where a migration an earlier import left part-way goes on: after the statements known to
/// have run, which must be unchanged in this bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Resume {
    version: Version,
    /// Statements that ran.
    ran: usize,
    /// A down section (a downgrade stopped part-way).
    revert: bool,
}

/// Finds the migration to resume, or refuses when what ran cannot be known. What ran is known
/// from `state.json`, written when an import stops on an error (exit 4): each statement it names
/// returned. A journal left by a crash only says that a statement may have been in flight,
/// which on a statement that commits by itself nobody can tell afterwards.
fn resume_point(
    history: &[HistoryRow],
    bundle: &BTreeMap<Version, &crate::core::manifest::Item>,
    facts: &TargetFacts<'_>,
) -> Result<Option<Resume>, Refusal> {
    let known = facts.state.and_then(|s| s.partial.as_ref());
    let in_journal = |version: &Version, revert: bool| match facts.journal {
        Some(Ok(journal)) => journal.entry(version, revert).is_some(),
        Some(Err(())) => true,
        None => false,
    };
    let uncertain = |version: &Version, done: usize, what: &str| Refusal {
        code: "migrate::statement_uncertain",
        message: format!(
            "migration {version}: the import died while {what} ran outside a transaction; such a statement commits by itself, so whether it took effect is unknown"
        ),
        help: format!(
            "check the database by hand: if statement {} of migration {version} took effect, set `statements_done` to {} in its history row; then import again",
            done + 1,
            done + 1
        ),
    };
    let resume = if let Some(row) = history.iter().find(|r| r.statements_done != r.statements_total) {
        let done = usize::try_from(row.statements_done).unwrap_or(usize::MAX);
        match known.filter(|k| k.version == row.version && !k.revert) {
            // The history row may lag one statement behind: the statement returned, its progress
            // row did not get written.
            Some(known) if known.statements.len() >= done => {
                Resume { version: row.version.clone(), ran: known.statements.len(), revert: false }
            }
            Some(known) => {
                return Err(Refusal {
                    code: "migrate::partial_unknown",
                    message: format!(
                        "migration {}: the history says {done} statements ran, the target's record {}",
                        row.version,
                        known.statements.len()
                    ),
                    help: "finish or undo the migration by hand, then correct its history row".to_string(),
                });
            }
            None if in_journal(&row.version, false) => return Err(uncertain(&row.version, done, "a statement")),
            None => {
                return Err(Refusal {
                    code: "migrate::partial_unknown",
                    message: format!(
                        "migration {} is partially applied ({}/{} statements), and the target has no record of which statements ran",
                        row.version, row.statements_done, row.statements_total
                    ),
                    help: "import the bundle that ran it first from this target folder, or finish or undo it by hand and correct the history row".to_string(),
                });
            }
        }
    } else if let Some(known) = known.filter(|k| k.revert && history.iter().any(|r| r.version == k.version)) {
        Resume { version: known.version.clone(), ran: known.statements.len(), revert: true }
    } else if let Some(row) = history.iter().find(|r| in_journal(&r.version, true)) {
        // A downgrade died: its down section records no progress in the history row.
        return Err(uncertain(&row.version, 0, "a statement of its down section"));
    } else {
        return Ok(None);
    };
    let Some(item) = bundle.get(&resume.version).filter(|i| (i.action == Action::Revert) == resume.revert) else {
        return Err(Refusal {
            code: "migrate::partial_not_in_bundle",
            message: if resume.revert {
                format!("migration {} is partially reverted, and this bundle does not revert it", resume.version)
            } else {
                format!("migration {} is partially applied, and the bundle does not carry it", resume.version)
            },
            help: "import the bundle that ran it, or a newer one that still carries it".to_string(),
        });
    };
    let listed: Vec<&ContentHash> =
        item.migration.iter().flat_map(|m| m.statements.iter().map(|s| &s.sha256)).collect();
    let ran: Vec<&ContentHash> = known.map(|k| k.statements.iter().collect()).unwrap_or_default();
    if listed.len() < resume.ran || listed.iter().zip(&ran).any(|(a, b)| a != b) {
        return Err(Refusal {
            code: "migrate::resume_changed",
            message: format!(
                "migration {}: a statement that already ran ({} of them) is different in this bundle",
                resume.version, resume.ran
            ),
            help: "only the statements not yet run may change; restore the ones that ran".to_string(),
        });
    }
    Ok(Some(resume))
}

/// A statement that begins, commits or rolls back a transaction breaks the one the import runs
/// a migration in (and its record in the history); such a migration is refused whatever the
/// project's hazard settings say.
fn transaction_control_refusal(migrations: &[MigrationStep], dialect: Dialect) -> Option<Refusal> {
    for step in migrations {
        for statement in step.statements.iter().skip(step.start_at) {
            if let Some(word) = crate::core::hazard::transaction_control(dialect, step.text_of(statement)) {
                return Some(Refusal {
                    code: "migrate::transaction_control",
                    message: format!(
                        "migration {} `{}` controls the transaction itself: `{word}` at {}:{}",
                        step.version, step.name, step.path, statement.line
                    ),
                    help: "remove the statement: migrate opens the transaction the migrations run in and records them in it (a statement that cannot run in a transaction goes in a `-- migrate:no-transaction` migration)".to_string(),
                });
            }
        }
    }
    None
}

/// Orders asset writes so that every asset comes after what it `depends_on` (docs/guide.md: imports order
/// by it); otherwise the bundle's order. Export refused cycles; should one slip through, its
/// members keep their order at the end.
fn order_by_dependencies(upserts: Vec<AssetStep>, members: &BTreeMap<String, Arc<str>>) -> Vec<AssetStep> {
    let ids: BTreeSet<ItemId> = upserts.iter().map(|s| s.id.clone()).collect();
    let dependencies: Vec<Vec<ItemId>> = upserts
        .iter()
        .map(|step| {
            let text = step.member.as_ref().and_then(|m| members.get(m));
            text.and_then(|t| crate::core::catalog::parse_asset(&step.id, "", t).ok())
                .map(|parsed| parsed.depends_on.into_iter().filter(|d| ids.contains(d) && *d != step.id).collect())
                .unwrap_or_default()
        })
        .collect();
    let mut placed: BTreeSet<ItemId> = BTreeSet::new();
    let mut ordered = Vec::with_capacity(upserts.len());
    let mut pending: Vec<(AssetStep, Vec<ItemId>)> = upserts.into_iter().zip(dependencies).collect();
    while !pending.is_empty() {
        let before = pending.len();
        let mut rest = Vec::new();
        for (step, deps) in pending {
            if deps.iter().all(|d| placed.contains(d)) {
                placed.insert(step.id.clone());
                ordered.push(step);
            } else {
                rest.push((step, deps));
            }
        }
        if rest.len() == before {
            ordered.extend(rest.into_iter().map(|(step, _)| step));
            break;
        }
        pending = rest;
    }
    ordered
}

/// The statements of a migration item, checked against the manifest's hashes: the one way a
/// bundle item becomes statements, for `import` and for the offline script alike.
pub fn migration_step(
    item: &crate::core::manifest::Item,
    members: &BTreeMap<String, Arc<str>>,
    dialect: Dialect,
    revert: bool,
) -> Result<MigrationStep, Refusal> {
    let corrupt = |why: String| Refusal {
        code: "migrate::bundle_inconsistent",
        message: why,
        help: "the bundle was altered; get a fresh copy".to_string(),
    };
    let info =
        item.migration.as_ref().ok_or_else(|| corrupt(format!("migration {} has no statement list", item.identity)))?;
    let path = item.path.clone().unwrap_or_default();
    let text = members.get(&path).ok_or_else(|| corrupt(format!("migration {} has no member", item.identity)))?;
    let (parsed, _) = parse_migration_text(&path, text);
    let (section, first_line) =
        if revert { (parsed.down().unwrap_or_default(), parsed.down_line.unwrap_or(1)) } else { (parsed.up(), 1) };
    // Each section is the file's prefix or its suffix.
    let start = if revert { text.len() - section.len() } else { 0 };
    let listed = &info.statements;
    let mut statements = Vec::with_capacity(listed.len());
    for s in sql_split::statements(section, dialect) {
        let sha256 = ContentHash::of(s.text.as_bytes());
        if listed.get(statements.len()).is_none_or(|l| l.sha256 != sha256) {
            return Err(corrupt(format!(
                "the statements of migration {} do not match the manifest's hashes",
                item.identity
            )));
        }
        let at = start + s.offset;
        statements.push(StatementStep { span: at..at + s.text.len(), sha256, line: s.line + first_line - 1 });
    }
    if statements.len() != listed.len() {
        return Err(corrupt(format!(
            "the statements of migration {} do not match the manifest's hashes",
            item.identity
        )));
    }
    Ok(MigrationStep {
        version: Version::parse(&item.identity)
            .ok_or_else(|| corrupt(format!("`{}` is not a version", item.identity)))?,
        name: info.name.clone(),
        path,
        file_sha256: info.file_sha256.clone(),
        revert,
        transactional: info.transactional,
        text: Arc::clone(text),
        statements,
        start_at: 0,
        hazards: info.hazards.clone(),
    })
}

#[cfg(test)]
mod tests {
    //! Every decision of an import as a table: the facts of a target, and what `decide` makes of
    //! them, for each refusal and each kind of run.

    use super::*;
    use crate::core::bundle::{BaseSide, BundleRequest, build};
    use crate::core::manifest::SourceRef;
    use crate::core::project::Project;
    use crate::core::snapshot::read_snapshot;
    use crate::core::source::MemorySource;
    use crate::core::state::{JOURNAL_FORMAT_VERSION, JournalMigration, PartialMigration, StateRelease};

    const CONFIG: &str = "version: 1\nproject: p\ndialects: [postgres]\n";

    fn snapshot(files: &[(&str, &str)]) -> (Project, crate::core::snapshot::Snapshot) {
        let mut all = vec![("migrate.yaml", CONFIG)];
        all.extend_from_slice(files);
        let source = MemorySource::from_files(all.iter().map(|(p, c)| (*p, c.as_bytes())));
        let project = Project::parse("migrate.yaml", "", CONFIG.as_bytes()).unwrap();
        let (snapshot, _) = read_snapshot(&project, &source, 1).unwrap();
        (project, snapshot)
    }

    const BASE: &[(&str, &str)] =
        &[("migrations/0001_a.sql", "CREATE TABLE a (id int);\n"), ("assets/query/x.yaml", "spec: {sql: SELECT 1}\n")];
    const HEAD: &[(&str, &str)] = &[
        ("migrations/0001_a.sql", "CREATE TABLE a (id int);\n"),
        ("migrations/0002_b.sql", "-- migrate:no-transaction\nCREATE TABLE b (id int);\nCREATE TABLE c (id int);\n"),
        ("migrations/0003_c.sql", "CREATE TABLE d (id int);\n"),
        ("assets/query/x.yaml", "spec: {sql: SELECT 2}\n"),
    ];

    type Bundle = (Manifest, BTreeMap<String, Arc<str>>);

    /// A bundle of `head`: full, or from `base` (incremental, or a downgrade).
    fn bundle(head: &[(&str, &str)], base: Option<(&[(&str, &str)], bool)>) -> Bundle {
        let (project, head) = snapshot(head);
        let base = base.map(|(files, downgrade)| (snapshot(files).1, downgrade));
        let none = BTreeMap::new();
        let selector = crate::core::selection::Selector {
            project: &project,
            environment: None,
            selection: &crate::core::selection::Selection::All,
        };
        let assets = crate::core::selection::for_snapshot(
            &head,
            base.as_ref().map(|(b, _)| (b, &none)),
            &selector,
            &BTreeMap::new(),
        );
        let built = build(&BundleRequest {
            project: &project,
            head: &head,
            head_ref: SourceRef { reference: "head".into(), commit: "b".repeat(40) },
            head_depth: 3,
            base: base.as_ref().map(|(snapshot, downgrade)| BaseSide {
                snapshot,
                reference: SourceRef { reference: "base".into(), commit: "a".repeat(40) },
                release_id: snapshot.state_id(&BTreeMap::new()),
                downgrade: *downgrade,
            }),
            environment: None,
            assets: &assets,
            release_version: None,
            skip_promotion: None,
            threads: 1,
        })
        .unwrap();
        (built.manifest, built.members.into_iter().collect())
    }

    fn row(version: &str, text: &str, done: u32, total: u32) -> HistoryRow {
        HistoryRow {
            version: Version::parse(version).unwrap(),
            name: format!("{version:0>4}_x"),
            sha256: ContentHash::of(text.as_bytes()),
            statements_done: done,
            statements_total: total,
            applied_by: "import".into(),
        }
    }

    fn state(release: Option<ContentHash>) -> TargetState {
        TargetState {
            format_version: 1,
            target_id: "t-1".into(),
            environment: Some("prod".into()),
            database: "postgres://db".into(),
            dialect: Dialect::Postgres,
            project: "p".into(),
            history_table: "migrate_history".into(),
            release: release.map(|id| StateRelease { id, version: None, head_commit: "a".repeat(40), head_depth: 2 }),
            assets: BTreeMap::new(),
            skipped: Vec::new(),
            history: Vec::new(),
            partial: None,
            imports: Vec::new(),
        }
    }

    /// The facts of a target; each case changes what it needs.
    struct Target {
        state: Option<TargetState>,
        history: Option<Vec<HistoryRow>>,
        tables: bool,
        database: &'static str,
        environment: Option<&'static str>,
        downgrade: bool,
        baseline: Option<&'static str>,
        journal: Option<Result<Journal, ()>>,
        escape: bool,
    }

    impl Default for Target {
        fn default() -> Self {
            Target {
                state: None,
                history: None,
                tables: false,
                database: "postgres://db",
                environment: Some("prod"),
                downgrade: false,
                baseline: None,
                journal: None,
                escape: false,
            }
        }
    }

    fn decide_on(bundle: &Bundle, target: &Target) -> Decision {
        let escape = |id: &ItemId| target.escape.then(|| format!("`{id}` passes through a link"));
        let facts = TargetFacts {
            dialect: Dialect::Postgres,
            state: target.state.as_ref(),
            history: target.history.as_deref(),
            database_has_tables: target.tables,
            database: target.database,
            environment: target.environment,
            allow_downgrade: target.downgrade,
            baseline: target.baseline.and_then(Version::parse),
            journal: target.journal.as_ref().map(|j| j.as_ref().map_err(|_| ())),
            unsafe_path: &escape,
        };
        decide(&bundle.0, &bundle.1, &facts)
    }

    /// What a decision comes to, in one line: the refusal's code, or the kind with each
    /// migration (and where it starts) and asset.
    fn outcome(decision: &Decision) -> String {
        match decision {
            Decision::NothingToDo => "nothing".into(),
            Decision::Refuse(refusal) => refusal.code.to_string(),
            Decision::Apply(steps) => {
                let migrations: Vec<String> = steps
                    .migrations
                    .iter()
                    .map(|m| {
                        let revert = if m.revert { "-" } else { "" };
                        if m.start_at > 0 {
                            format!("{revert}{}@{}", m.version, m.start_at)
                        } else {
                            format!("{revert}{}", m.version)
                        }
                    })
                    .collect();
                let assets: Vec<String> = steps.assets.iter().map(|a| a.id.to_string()).collect();
                format!("{} [{}] [{}]", steps.kind.name(), migrations.join(" "), assets.join(" "))
            }
        }
    }

    const A: &str = "CREATE TABLE a (id int);\n";
    const B: &str = "-- migrate:no-transaction\nCREATE TABLE b (id int);\nCREATE TABLE c (id int);\n";

    fn based(history: Vec<HistoryRow>, known: Option<PartialMigration>) -> Target {
        let base_release = snapshot(BASE).1.state_id(&BTreeMap::new());
        let mut state = state(Some(base_release));
        state.partial = known;
        Target { state: Some(state), history: Some(history), ..Target::default() }
    }

    fn b_statements(n: usize) -> Vec<ContentHash> {
        ["CREATE TABLE b (id int)", "CREATE TABLE c (id int)"]
            .iter()
            .take(n)
            .map(|s| ContentHash::of(s.as_bytes()))
            .collect()
    }

    #[test]
    fn every_decision_of_an_import() {
        let full = bundle(HEAD, None);
        let incremental = bundle(HEAD, Some((BASE, false)));
        let head_release = full.0.release.id.clone();
        let reverting = bundle(
            BASE,
            Some((
                &[
                    ("migrations/0001_a.sql", A),
                    ("migrations/0004_e.sql", "CREATE TABLE e (id int);\n-- migrate:down\nDROP TABLE e;\n"),
                    ("migrations/0005_f.sql", "SELECT 1;\n-- migrate:down\nSELECT 2;\n"),
                ],
                true,
            )),
        );
        let base_only = bundle(BASE, None);
        let committing = bundle(&[("migrations/0001_a.sql", "CREATE TABLE a (id int);\nCOMMIT;\n")], None);
        let journal = |version: &str| {
            Some(Ok(Journal {
                format_version: JOURNAL_FORMAT_VERSION,
                migrations: vec![JournalMigration {
                    version: Version::parse(version).unwrap(),
                    revert: false,
                    statements: b_statements(2),
                }],
            }))
        };
        let known = |n: usize| {
            Some(PartialMigration {
                version: Version::parse("2").unwrap(),
                statements: b_statements(n),
                started: n,
                revert: false,
            })
        };
        let cases: Vec<(&str, &Bundle, Target, &str)> = vec![
            ("an empty target initialises", &full, Target::default(), "initialise [1 2 3] [query/x]"),
            (
                "a target at the base upgrades",
                &incremental,
                based(vec![row("1", A, 1, 1)], None),
                "upgrade [2 3] [query/x]",
            ),
            (
                "a full bundle brings an older target up",
                &full,
                based(vec![row("1", A, 1, 1)], None),
                "upgrade [2 3] [query/x]",
            ),
            (
                "the release held is nothing to do",
                &full,
                Target { state: Some(state(Some(head_release.clone()))), history: Some(vec![]), ..Target::default() },
                "nothing",
            ),
            (
                "another project's target",
                &full,
                Target { state: Some(TargetState { project: "billing".into(), ..state(None) }), ..Target::default() },
                "migrate::other_project",
            ),
            (
                "another database",
                &full,
                Target { state: Some(state(None)), database: "postgres://other", ..Target::default() },
                "migrate::other_database",
            ),
            (
                "another environment",
                &full,
                Target { state: Some(state(None)), environment: Some("test"), ..Target::default() },
                "migrate::other_environment",
            ),
            (
                "a database migrated by other means",
                &full,
                Target { tables: true, ..Target::default() },
                "migrate::database_not_empty",
            ),
            (
                "the same, adopted with --baseline",
                &full,
                Target { tables: true, baseline: Some("1"), ..Target::default() },
                "initialise [1@1 2 3] [query/x]",
            ),
            ("an incremental bundle needs its base", &incremental, Target::default(), "migrate::unexpected_base"),
            (
                "a history row another bundle wrote",
                &incremental,
                based(vec![row("1", A, 1, 1), row("7", "x", 1, 1)], None),
                "migrate::unexpected_history",
            ),
            ("a changed history row", &full, based(vec![row("1", "changed", 1, 1)], None), "migrate::history_mismatch"),
            (
                "a target ahead of the bundle",
                &full,
                based(vec![row("1", A, 1, 1), row("9", "x", 1, 1)], None),
                "migrate::target_ahead",
            ),
            (
                "an older migration than the newest applied",
                &full,
                based(vec![row("1", A, 1, 1), row("3", "CREATE TABLE d (id int);\n", 1, 1)], None),
                "migrate::out_of_order",
            ),
            ("a downgrade needs the flag", &reverting, Target::default(), "migrate::downgrade_refused"),
            (
                "a downgrade with the flag reverts, newest first",
                &reverting,
                Target {
                    downgrade: true,
                    state: Some(state(reverting.0.requires.release_id.clone())),
                    history: Some(vec![
                        row("1", A, 1, 1),
                        row("4", "CREATE TABLE e (id int);\n-- migrate:down\nDROP TABLE e;\n", 1, 1),
                        row("5", "SELECT 1;\n-- migrate:down\nSELECT 2;\n", 1, 1),
                    ]),
                    ..Target::default()
                },
                "downgrade [-5 -4] [query/x]",
            ),
            (
                "a partial migration resumes after what ran",
                &full,
                based(vec![row("1", A, 1, 1), row("2", B, 1, 2)], known(1)),
                "resume [2@1 3] [query/x]",
            ),
            (
                "its progress row lagging one statement behind",
                &full,
                based(vec![row("1", A, 1, 1), row("2", B, 0, 2)], known(1)),
                "resume [2@1 3] [query/x]",
            ),
            (
                "a record that says less than the history",
                &full,
                based(vec![row("1", A, 1, 1), row("2", B, 2, 3)], known(1)),
                "migrate::partial_unknown",
            ),
            (
                "a statement that ran is different in this bundle",
                &full,
                based(
                    vec![row("1", A, 1, 1), row("2", B, 1, 2)],
                    Some(PartialMigration {
                        version: Version::parse("2").unwrap(),
                        statements: vec![ContentHash::of(b"CREATE TABLE b (id bigint)")],
                        started: 1,
                        revert: false,
                    }),
                ),
                "migrate::resume_changed",
            ),
            (
                "a crash with a statement in flight",
                &full,
                Target { journal: journal("2"), ..based(vec![row("1", A, 1, 1), row("2", B, 1, 2)], None) },
                "migrate::statement_uncertain",
            ),
            (
                "a journal that cannot be read",
                &full,
                Target { journal: Some(Err(())), ..based(vec![row("1", A, 1, 1), row("2", B, 1, 2)], None) },
                "migrate::statement_uncertain",
            ),
            (
                "a journal of migrations that did not start",
                &full,
                Target { journal: journal("2"), ..based(vec![row("1", A, 1, 1)], None) },
                "upgrade [2 3] [query/x]",
            ),
            (
                "a partial row and no record",
                &full,
                based(vec![row("1", A, 1, 1), row("2", B, 1, 2)], None),
                "migrate::partial_unknown",
            ),
            (
                "a partial migration this bundle does not carry",
                &base_only,
                based(vec![row("1", A, 1, 1), row("2", B, 1, 2)], known(1)),
                "migrate::partial_not_in_bundle",
            ),
            (
                "an asset path through a link",
                &full,
                Target { escape: true, ..Target::default() },
                "migrate::path_escape",
            ),
            ("a migration that commits by itself", &committing, Target::default(), "migrate::transaction_control"),
        ];
        for (name, bundle, target, expected) in cases {
            assert_eq!(outcome(&decide_on(bundle, &target)), expected, "{name}");
        }
    }

    #[test]
    fn a_downgrade_stopped_part_way_resumes_its_down_section() {
        let down = "CREATE TABLE e (id int);\n-- migrate:down\nDROP TABLE e;\nDROP TABLE f;\n";
        let head: &[(&str, &str)] = &[("migrations/0001_a.sql", A), ("migrations/0004_e.sql", down)];
        let downgrade = bundle(&[("migrations/0001_a.sql", A)], Some((head, true)));
        let known = PartialMigration {
            version: Version::parse("4").unwrap(),
            statements: vec![ContentHash::of(b"DROP TABLE e")],
            started: 1,
            revert: true,
        };
        let mut held = state(downgrade.0.requires.release_id.clone());
        held.partial = Some(known);
        let mut target = Target {
            state: Some(held),
            history: Some(vec![row("1", A, 1, 1), row("4", down, 1, 1)]),
            downgrade: true,
            ..Target::default()
        };
        assert_eq!(outcome(&decide_on(&downgrade, &target)), "resume [-4@1] []");
        // Without that record, a journal naming the revert means it may have run part-way.
        target.state.as_mut().unwrap().partial = None;
        target.journal = Some(Ok(Journal {
            format_version: JOURNAL_FORMAT_VERSION,
            migrations: vec![JournalMigration {
                version: Version::parse("4").unwrap(),
                revert: true,
                statements: vec![],
            }],
        }));
        assert_eq!(outcome(&decide_on(&downgrade, &target)), "migrate::statement_uncertain");
    }

    /// The folder's state and the database's record of the target (`core::identity`): a new
    /// folder is the database's target, two different targets are refused, and a bundle that
    /// builds on assets a lost folder held is refused.
    #[test]
    fn a_new_folder_is_the_databases_target_and_two_targets_are_refused() {
        use crate::core::identity::{TargetIdentity, reconcile, state_from_identity};
        let full = bundle(BASE, None);
        let incremental = bundle(HEAD, Some((BASE, false)));
        let folder = state(Some(full.0.release.id.clone()));
        let recorded = TargetIdentity::of(&folder);
        let rebuild = |identity: &TargetIdentity| {
            state_from_identity(identity, "postgres://db", Dialect::Postgres, "migrate_history", &[row("1", A, 1, 1)])
        };
        let code = |result: Result<(Option<TargetState>, bool), Refusal>| match result {
            Ok((Some(state), rebuilt)) => format!("{} rebuilt={rebuilt}", state.target_id),
            Ok((None, rebuilt)) => format!("none rebuilt={rebuilt}"),
            Err(refusal) => refusal.code.to_string(),
        };
        // The record survives a round trip through the database's row.
        let row_of = recorded.to_row("2026-12-01T00:00:00Z");
        assert_eq!(TargetIdentity::from_row(row_of.clone()), Ok(recorded.clone()));
        let mut bad = row_of;
        bad.detail = "not json".into();
        assert!(TargetIdentity::from_row(bad).is_err());

        // No record: the folder decides, as before there was one.
        assert_eq!(code(reconcile(Some(folder.clone()), None, &full.0, rebuild)), "t-1 rebuilt=false");
        assert_eq!(code(reconcile(None, None, &full.0, rebuild)), "none rebuilt=false");
        // The same target in both.
        assert_eq!(code(reconcile(Some(folder.clone()), Some(&recorded), &full.0, rebuild)), "t-1 rebuilt=false");
        // A new folder: the database's target, with its release and history.
        let (rebuilt, _) = reconcile(None, Some(&recorded), &full.0, rebuild).unwrap();
        let rebuilt = rebuilt.unwrap();
        assert_eq!((rebuilt.target_id.as_str(), rebuilt.environment.as_deref()), ("t-1", Some("prod")));
        assert_eq!(rebuilt.release.map(|r| r.id), Some(full.0.release.id.clone()));
        assert_eq!(rebuilt.history.len(), 1);
        // Another target's folder, project or environment on this database.
        for (name, change) in [
            ("target", &(|s: &mut TargetState| s.target_id = "t-2".into()) as &dyn Fn(&mut TargetState)),
            ("project", &|s: &mut TargetState| s.project = "q".into()),
            ("environment", &|s: &mut TargetState| s.environment = Some("staging".into())),
        ] {
            let mut other = folder.clone();
            change(&mut other);
            assert_eq!(
                code(reconcile(Some(other), Some(&recorded), &full.0, rebuild)),
                "migrate::identity_conflict",
                "{name}"
            );
        }
        // A folder that never named its environment is not a conflict.
        let mut unnamed = folder.clone();
        unnamed.environment = None;
        assert_eq!(code(reconcile(Some(unnamed), Some(&recorded), &full.0, rebuild)), "t-1 rebuilt=false");
        // The lost folder held an asset: an incremental bundle builds on it and is refused; a
        // full bundle writes every asset, and a target without assets lost nothing.
        let mut with_asset = recorded.clone();
        with_asset.assets = 1;
        assert_eq!(code(reconcile(None, Some(&with_asset), &incremental.0, rebuild)), "migrate::target_folder_missing");
        assert_eq!(code(reconcile(None, Some(&with_asset), &full.0, rebuild)), "t-1 rebuilt=true");
        assert_eq!(code(reconcile(None, Some(&recorded), &incremental.0, rebuild)), "t-1 rebuilt=true");
    }
}
