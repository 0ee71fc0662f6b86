//! The assets of a plan: what changed between base and head, what ships, and the findings on
//! their dependencies.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AssetChangeKind {
    Added,
    Modified,
    /// Changed text, same data (formatting, comments, key order); shipped, never a version bump.
    Cosmetic,
    /// New identity, same content; ships as a delete plus an add.
    Renamed,
    Removed,
}

/// One asset that changes.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct AssetChange {
    pub id: ItemId,
    pub change: AssetChangeKind,
    /// The old identity of a renamed asset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<ItemId>,
    /// Repository-relative path (at head, or at base for a removal).
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256_before: Option<ContentHash>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<ContentHash>,
    /// Unified diff of the normalised text; past 1 MiB it is cut at a line end and ends with
    /// `\ diff cut at 1048576 bytes: L more lines, +A -R in all`.
    pub diff: String,
    /// What the release does with it: `ship` (the default, left out), `skip` (`--skip`, or not
    /// named by `--only`: the target keeps the copy it holds, `sha256_before`), `skip_always`
    /// (the environment's `skip_always`).
    #[serde(default, skip_serializing_if = "is_ship")]
    pub action: AssetAction,
    /// An earlier release to this environment skipped it: what changes is counted from the copy
    /// the target kept.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skipped_earlier: bool,
    /// Removed because `ignore` in `migrate.yaml` now names it: deleted where an import put it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignored: bool,
    /// The assets it depends on (`depends_on`), at head.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<ItemId>,
}

pub(super) fn is_ship(action: &AssetAction) -> bool {
    *action == AssetAction::Ship
}

/// The normalised text of one side of a change, and its data when it parses.
pub(super) struct Side {
    text: Arc<str>,
    hash: ContentHash,
    parsed: Option<ParsedAsset>,
    /// For a text over `LARGE_ASSET`: its semantic hash and content key, its data let go.
    digests: Option<(ContentHash, ContentHash)>,
}

/// The semantic hash and the content key of an asset's data: one pass when the data has no
/// top-level `kind` or `name` (the key is then the semantic hash).
pub(super) fn digests(parsed: &ParsedAsset) -> (ContentHash, ContentHash) {
    let semantic = parsed.semantic_hash();
    let named = parsed.data.get("kind").is_some() || parsed.data.get("name").is_some();
    let key = if named { parsed.content_key() } else { semantic.clone() };
    (semantic, key)
}

/// An asset text this large is compared by semantic hash, and its data let go as soon as that
/// is known: the data of a 200 MB asset takes 270 MB, and the two sides of a change together
/// would take more than the 4x its size that a plan may use.
pub(super) const LARGE_ASSET: usize = 16 << 20;

impl Side {
    pub(super) fn base(id: &ItemId, bytes: &[u8]) -> Option<Side> {
        let text: Arc<str> = Arc::from(hash::normalise(bytes).ok()?.as_ref());
        let hash = ContentHash::of(text.as_bytes());
        let parsed = catalog::parse_asset(id, "", &text).ok();
        let mut side = Side { text, hash, parsed, digests: None };
        side.let_go_if_large();
        Some(side)
    }

    pub(super) fn head(analysed: &AnalysedAsset) -> Side {
        let text = Arc::clone(&analysed.text);
        let hash = ContentHash::of(text.as_bytes());
        Side { text, hash, parsed: None, digests: None }
    }

    pub(super) fn let_go_if_large(&mut self) {
        if self.text.len() > LARGE_ASSET {
            self.let_go();
        }
    }

    pub(super) fn let_go(&mut self) {
        if let Some(parsed) = self.parsed.take()
            && self.digests.is_none()
        {
            self.digests = Some(digests(&parsed));
        }
    }

    /// The head side of a large asset keeps the digests of its data, and the data itself is
    /// let go (its `depends_on` stays with the analysis).
    pub(super) fn head_digests(&mut self, analysed: &mut AnalysedAsset) {
        if self.text.len() > LARGE_ASSET {
            self.let_go_of(analysed);
        }
    }

    pub(super) fn let_go_of(&mut self, analysed: &mut AnalysedAsset) {
        if let Some(parsed) = analysed.parsed.as_mut() {
            self.digests = Some(digests(parsed));
            parsed.data = serde_json::Value::Null;
        }
    }

    /// Semantic hash without `kind`/`name` (else the content hash): equal for a moved asset.
    /// Computed only for additions and removals, where renames are looked for.
    pub(super) fn content_key(&self) -> ContentHash {
        match (&self.digests, &self.parsed) {
            (Some((_, key)), _) => key.clone(),
            (None, Some(parsed)) => parsed.content_key(),
            (None, None) => self.hash.clone(),
        }
    }

    /// Whether the head (`after`, whose data is `data`) holds this side's data in other words.
    pub(super) fn same_data(&self, after: &Side, data: &ParsedAsset) -> bool {
        let semantic = |side: &Side, parsed: Option<&ParsedAsset>| match (&side.digests, parsed) {
            (Some((semantic, _)), _) => Some(semantic.clone()),
            (None, Some(parsed)) => Some(parsed.semantic_hash()),
            (None, None) => None,
        };
        match (&self.parsed, &self.digests, &after.digests) {
            // Compared as canonical JSON compares, without hashing.
            (Some(parsed), None, None) => hash::semantically_equal(&parsed.data, &data.data),
            _ => semantic(self, self.parsed.as_ref()).is_some_and(|s| Some(s) == semantic(after, Some(data))),
        }
    }
}

/// One changed asset path, read and analysed.
pub(super) struct PreparedChange {
    id: ItemId,
    path: String,
    before: Option<Side>,
    after: Option<(Side, AnalysedAsset)>,
    /// Whether the base had the path (its text may still be unreadable).
    had_before: bool,
    /// The diff of a modification, made here on the reading thread.
    diff: Option<String>,
}

/// Reads and analyses one changed path: the part of planning that is independent per asset.
pub(super) fn prepare(
    input: &PlanInput<'_>,
    schemas: &Schemas,
    id: ItemId,
    change: &PathChange,
) -> Result<PreparedChange, SourceError> {
    let before = match (change.old, input.base) {
        (Some(old), Some(base)) => Side::base(&id, &base.read(&change.path, &old)?),
        _ => None,
    };
    let after = match change.new {
        Some(new) => {
            let mut analysed =
                analyse_asset(input.project, schemas, &id, &change.path, input.head.read(&change.path, &new)?);
            let mut side = Side::head(&analysed);
            side.head_digests(&mut analysed);
            Some((side, analysed))
        }
        None => None,
    };
    let diff = match (&before, &after) {
        (Some(b), Some((a, _))) if b.hash != a.hash => {
            let path = input.project.repo_path(&change.path);
            Some(unified_diff(&path, Some(&b.text), &path, Some(&a.text)))
        }
        _ => None,
    };
    Ok(PreparedChange { id, path: change.path.clone(), before, after, had_before: change.old.is_some(), diff })
}

/// The asset paths whose content a target may see change: the diff from base to head, corrected
/// for `ignore` (an asset `ignore` newly names is removed, one it no longer names is added) and
/// for the copies an environment's target kept when a release skipped them.
pub(super) fn candidate_changes<'a>(
    input: &PlanInput<'a>,
    ignored: &mut Vec<String>,
) -> Result<(Vec<PathChange>, BTreeMap<String, &'a HeldAsset>), SourceError> {
    let project = input.project;
    let base_ignores = |path: &str| input.base_project.unwrap_or(project).is_ignored(path);
    let mut paths: BTreeMap<String, PathChange> =
        input.asset_changes.iter().map(|c| (c.path.clone(), c.clone())).collect();
    if let (Some(base), Some(base_project)) = (input.base, input.base_project)
        && base_project.config.ignore != project.config.ignore
    {
        let folder = &project.config.assets;
        let old: BTreeMap<String, ObjectId> = base.list(folder)?.into_iter().map(|e| (e.path, e.id)).collect();
        let new: BTreeMap<String, ObjectId> = input.head.list(folder)?.into_iter().map(|e| (e.path, e.id)).collect();
        for path in old.keys().chain(new.keys()) {
            if base_ignores(path) != project.is_ignored(path) && !paths.contains_key(path) {
                let change =
                    PathChange { path: path.clone(), old: old.get(path).copied(), new: new.get(path).copied() };
                paths.insert(path.clone(), change);
            }
        }
    }
    let mut held = BTreeMap::new();
    for (asset, object) in input.held {
        let path = format!("{}{}.yaml", project.assets_dir(), asset.id);
        let new = input.head.lookup(&path)?;
        let old = if asset.sha256.is_some() { *object } else { None };
        paths.insert(path.clone(), PathChange { path: path.clone(), old, new });
        held.insert(path, asset);
    }
    let mut changes = Vec::with_capacity(paths.len());
    for (path, mut change) in paths {
        if base_ignores(&path) {
            change.old = None;
        }
        if project.is_ignored(&path) {
            change.new = None;
            if change.old.is_none() {
                ignored.push(project.repo_path(&path));
                continue;
            }
        }
        if change.old.is_some() || change.new.is_some() || held.contains_key(&path) {
            changes.push(change);
        }
    }
    Ok((changes, held))
}

pub(super) fn plan_assets(
    input: &PlanInput<'_>,
    checker: &mut AssetChecker<'_>,
    ignored: &mut Vec<String>,
) -> Result<Vec<AssetChange>, SourceError> {
    let project = input.project;
    let (candidates, held) = candidate_changes(input, ignored)?;
    let mut work = Vec::new();
    for change in &candidates {
        match catalog::asset_identity(project, &change.path) {
            None => {}
            Some(Ok(id)) => work.push((id, change)),
            Some(Err(finding)) if change.new.is_some() => checker.findings.push(finding),
            Some(Err(_)) => {} // a bad name that is going away
        }
    }
    let schemas = checker.schemas();
    let prepared = crate::core::parallel::map(work, input.threads, |(id, change)| prepare(input, schemas, id, change))?;
    let selector = Selector {
        project,
        environment: input.environment_name.or(input.environment.as_ref().map(|e| e.name.as_str())),
        selection: input.selection,
    };

    let mut changes = Vec::new();
    let mut roots = Vec::new();
    let mut added: Vec<(ItemId, String, Side)> = Vec::new();
    let mut removed: Vec<(ItemId, String, Option<Side>, Option<ContentHash>)> = Vec::new();
    let mut depends_on: BTreeMap<ItemId, Vec<ItemId>> = BTreeMap::new();
    for PreparedChange { id, path, mut before, after, mut had_before, diff } in prepared {
        // A copy the target kept: what changes is counted from it, whatever the base has.
        let kept = held.get(&path);
        let mut before_sha = before.as_ref().map(|b| b.hash.clone());
        if let Some(kept) = kept {
            had_before = kept.sha256.is_some();
            before_sha = kept.sha256.clone();
            if before.as_ref().map(|b| &b.hash) != kept.sha256.as_ref() {
                before = None; // the shell did not find the kept copy's text
            }
        }
        let ignored_now = input.base_project.is_some_and(|b| !b.is_ignored(&path)) && project.is_ignored(&path);
        match (had_before, after) {
            (true, Some((after, analysed))) => {
                if before_sha.as_ref() == Some(&after.hash) {
                    continue; // BOM or line endings only, or the target kept this very copy
                }
                if let Some(parsed) = &analysed.parsed {
                    depends_on.insert(id.clone(), parsed.depends_on.clone());
                }
                // Same data, other text.
                let cosmetic = match (&before, &analysed.parsed) {
                    (Some(before), Some(data)) => before.same_data(&after, data),
                    _ => false,
                };
                checker.record(&id, analysed);
                roots.push(id.clone());
                let kind = if cosmetic { AssetChangeKind::Cosmetic } else { AssetChangeKind::Modified };
                let mut c = match (diff, &before) {
                    // Made on the reading thread, from the same two texts.
                    (Some(diff), Some(_)) => {
                        AssetChange { diff, ..asset_change(project, &id, kind, &path, None, None, None) }
                    }
                    _ => asset_change(
                        project,
                        &id,
                        kind,
                        &path,
                        before.as_ref().map(|b| &*b.text),
                        Some(&after.text),
                        None,
                    ),
                };
                c.sha256 = Some(after.hash.clone());
                c.sha256_before = before_sha;
                c.skipped_earlier = kept.is_some();
                changes.push(c);
            }
            (false, Some((after, mut analysed))) => {
                if let Some(parsed) = &analysed.parsed {
                    depends_on.insert(id.clone(), parsed.depends_on.clone());
                }
                let mut after = after;
                after.parsed = analysed.parsed.take();
                after.let_go_if_large();
                checker.record(&id, analysed);
                roots.push(id.clone());
                if kept.is_some() || !selector.action(&id).ships() {
                    let mut c =
                        asset_change(project, &id, AssetChangeKind::Added, &path, None, Some(&after.text), None);
                    c.skipped_earlier = kept.is_some();
                    changes.push(c);
                } else {
                    added.push((id, path, after));
                }
            }
            (true, None) => {
                if kept.is_some() || ignored_now || !selector.action(&id).ships() {
                    let mut c = asset_change(
                        project,
                        &id,
                        AssetChangeKind::Removed,
                        &path,
                        before.as_ref().map(|s| &*s.text),
                        None,
                        None,
                    );
                    c.sha256_before = before_sha;
                    c.skipped_earlier = kept.is_some();
                    c.ignored = ignored_now;
                    changes.push(c);
                } else {
                    removed.push((id, path, before, before_sha));
                }
            }
            (false, None) => {}
        }
    }

    // Renames: an added asset whose content (without `kind`/`name`) equals a removed one's, both
    // shipped (a skipped side ships, or stays, on its own).
    let mut removed_by_key: HashMap<ContentHash, Vec<usize>> = HashMap::new();
    for (index, (_, _, side, _)) in removed.iter().enumerate() {
        if let Some(side) = side {
            removed_by_key.entry(side.content_key()).or_default().push(index);
        }
    }
    let mut renamed_away: BTreeSet<usize> = BTreeSet::new();
    for (id, path, after) in &added {
        let from = removed_by_key.get_mut(&after.content_key()).and_then(|c| (!c.is_empty()).then(|| c.remove(0)));
        match from {
            Some(index) => {
                renamed_away.insert(index);
                let (old_id, _, before, before_sha) = &removed[index];
                let before_text = before.as_ref().map(|s| &*s.text);
                let mut c = asset_change(
                    project,
                    id,
                    AssetChangeKind::Renamed,
                    path,
                    before_text,
                    Some(&after.text),
                    Some(old_id),
                );
                c.sha256_before = before_sha.clone();
                changes.push(c);
            }
            None => {
                changes.push(asset_change(project, id, AssetChangeKind::Added, path, None, Some(&after.text), None))
            }
        }
    }
    for (index, (id, path, before, before_sha)) in removed.iter().enumerate() {
        if renamed_away.contains(&index) {
            continue;
        }
        let mut c =
            asset_change(project, id, AssetChangeKind::Removed, path, before.as_ref().map(|s| &*s.text), None, None);
        c.sha256_before = before_sha.clone();
        changes.push(c);
    }
    checker.check_dependencies(&roots)?;
    for change in &mut changes {
        change.action = selector.action(&change.id);
        change.depends_on = depends_on.remove(&change.id).unwrap_or_default();
    }
    changes.sort_by(|a, b| a.id.cmp(&b.id));
    checker.findings.extend(dependency_findings_of(input, &changes)?);
    Ok(changes)
}

/// What shipping `changes` does to the dependencies on the target (`selection::dependency_findings`).
pub(super) fn dependency_findings_of(
    input: &PlanInput<'_>,
    changes: &[AssetChange],
) -> Result<Vec<Finding>, SourceError> {
    if changes.iter().all(|c| c.action.ships()) {
        // Everything that changes ships: the head's own check covers its dependencies.
        return Ok(Vec::new());
    }
    let mut pending = Vec::with_capacity(changes.len() + 1);
    for change in changes {
        let removal = change.change == AssetChangeKind::Removed;
        pending.push(Pending {
            id: &change.id,
            action: change.action,
            at_head: !removal,
            held: change.sha256_before.is_some(),
            depends_on: &change.depends_on,
            path: &change.path,
        });
    }
    // A renamed asset's old identity goes away with it.
    let gone: Vec<ItemId> = changes.iter().filter_map(|c| c.renamed_from.clone()).collect();
    for (change, old) in changes.iter().filter(|c| c.renamed_from.is_some()).zip(&gone) {
        pending.push(Pending {
            id: old,
            action: change.action,
            at_head: false,
            held: true,
            depends_on: &[],
            path: &change.path,
        });
    }
    let project = input.project;
    let mut looked_up: BTreeMap<ItemId, bool> = BTreeMap::new();
    for change in changes {
        for dependency in &change.depends_on {
            if !looked_up.contains_key(dependency) {
                let path = format!("{}{dependency}.yaml", project.assets_dir());
                looked_up.insert(dependency.clone(), input.head.lookup(&path)?.is_some());
            }
        }
    }
    Ok(crate::core::selection::dependency_findings(&pending, &|id| looked_up.get(id).copied().unwrap_or(false)))
}

pub(super) fn asset_change(
    project: &Project,
    id: &ItemId,
    change: AssetChangeKind,
    path: &str,
    before: Option<&str>,
    after: Option<&str>,
    renamed_from: Option<&ItemId>,
) -> AssetChange {
    let repo_path = project.repo_path(path);
    let old_path = renamed_from.map(|from| project.repo_path(&format!("{}{from}.yaml", project.assets_dir())));
    AssetChange {
        id: id.clone(),
        change,
        renamed_from: renamed_from.cloned(),
        path: repo_path.clone(),
        sha256_before: None,
        sha256: after.map(|t| ContentHash::of(t.as_bytes())),
        diff: unified_diff(old_path.as_deref().unwrap_or(&repo_path), before, &repo_path, after),
        action: AssetAction::Ship,
        skipped_earlier: false,
        ignored: false,
        depends_on: Vec::new(),
    }
}
