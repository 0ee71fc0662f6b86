//! One release, two views (issue 11, item 1): over generated histories — assets added, edited,
//! reformatted, renamed and deleted, some depending on others, migrations added (generic and per
//! dialect, with and without down sections), edited and deleted, a dialect added later — and
//! full, incremental and downgrade ranges, or an environment whose two targets sit at different
//! commits (the least advanced sometimes holding no copy of an asset a release skipped) beside
//! another environment further ahead, with or
//! without `--skip`/`--only`, `plan --format json` must list what `export` puts in the bundle,
//! with the same release kind and bump, and refuse exactly when `export` refuses.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::{RepoBuilder, TestEnv};

/// A small deterministic generator (the same seed, the same history).
struct Random(u64);

impl Random {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n.max(1)
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// A generated history: an empty first commit (what a plan of a full bundle starts from), then
/// the project's commits, oldest first, with what each holds.
struct History {
    repo: RepoBuilder,
    empty: String,
    commits: Vec<String>,
    states: Vec<State>,
}

/// The project at one commit: asset and migration paths with their texts, and the dialects.
#[derive(Clone)]
struct State {
    assets: BTreeMap<String, String>,
    migrations: BTreeMap<String, String>,
    dialects: Vec<&'static str>,
}

impl State {
    /// Asset identities.
    fn ids(&self) -> Vec<String> {
        self.assets.keys().map(|p| p.trim_start_matches("assets/").trim_end_matches(".yaml").to_string()).collect()
    }

    /// Per dialect, the effective migrations: (version without zeros, sha256 of the file).
    fn history(&self, dialect: &str) -> Vec<(String, String)> {
        let mut effective: BTreeMap<u64, (bool, &String)> = BTreeMap::new();
        for (path, text) in &self.migrations {
            let file = path.trim_start_matches("migrations/");
            let version: u64 = file[..4].parse().unwrap_or_default();
            let specific = file.ends_with(&format!(".{dialect}.sql"));
            let generic = file.matches('.').count() == 1;
            if specific || (generic && !effective.get(&version).is_some_and(|(s, _)| *s)) {
                effective.insert(version, (specific, text));
            }
        }
        effective.into_iter().map(|(v, (_, text))| (v.to_string(), sha256(text))).collect()
    }
}

fn sha256(text: &str) -> String {
    migrate::core::hash::ContentHash::of(text.as_bytes()).to_string()
}

fn generate(env: &TestEnv, seed: u64) -> History {
    let mut random = Random(seed.wrapping_mul(0x9E37_79B9).wrapping_add(7));
    let mut repo = RepoBuilder::init(&env.path(&format!("repo-{seed}.git")), true);
    let empty = repo.commit("nothing yet").to_string();
    let mut dialects: Vec<&'static str> = vec!["sqlite"];
    if random.chance(50) {
        dialects.push("postgres");
    }
    let config = |dialects: &[&str]| format!("version: 1\nproject: p\ndialects: [{}]\n", dialects.join(", "));
    repo.write("migrate.yaml", config(&dialects));
    let mut assets: BTreeMap<String, String> = BTreeMap::new(); // path -> text
    let mut migrations: BTreeMap<String, String> = BTreeMap::new();
    let mut next = 1;
    let mut commits = Vec::new();
    let mut states = Vec::new();
    for commit in 0..3 + random.below(3) {
        for _ in 0..1 + random.below(4) {
            match random.below(10) {
                0 | 1 => {
                    let path = format!("assets/query/q{next}.yaml");
                    let mut text = format!("spec: {{sql: SELECT {next}}}\n");
                    if !assets.is_empty() && random.chance(15) {
                        // A dependency: `--skip`/`--only` must keep it with what depends on it.
                        let on = assets.keys().nth(random.below(assets.len())).cloned().unwrap_or_default();
                        let on = on.trim_start_matches("assets/").trim_end_matches(".yaml");
                        text = format!("depends_on: [{on}]\n{text}");
                    }
                    next += 1;
                    repo.write(&path, &text);
                    assets.insert(path, text);
                }
                2 if !assets.is_empty() => {
                    let path = assets.keys().nth(random.below(assets.len())).cloned().unwrap_or_default();
                    let text = if random.chance(50) {
                        format!("spec: {{sql: SELECT {}}}\n", 1000 + random.below(1000))
                    } else {
                        // Same data, other text: a cosmetic change.
                        format!("# reformatted\n{}", assets[&path])
                    };
                    repo.write(&path, &text);
                    assets.insert(path, text);
                }
                3 if !assets.is_empty() => {
                    let path = assets.keys().nth(random.below(assets.len())).cloned().unwrap_or_default();
                    let text = assets.remove(&path).unwrap_or_default();
                    repo.remove(&path);
                    if random.chance(50) {
                        let renamed = format!("assets/query/r{next}.yaml");
                        next += 1;
                        repo.write(&renamed, &text);
                        assets.insert(renamed, text);
                    }
                }
                4..=6 => {
                    let down = if random.chance(70) {
                        format!("\n-- migrate:down\nDROP TABLE t{next};\n")
                    } else {
                        String::new()
                    };
                    let path = if dialects.len() > 1 && random.chance(20) {
                        format!("migrations/{next:04}_m.{}.sql", dialects[random.below(dialects.len())])
                    } else {
                        format!("migrations/{next:04}_m.sql")
                    };
                    let text = format!("CREATE TABLE t{next} (id INTEGER);\n{down}");
                    next += 1;
                    repo.write(&path, &text);
                    migrations.insert(path, text);
                }
                7 if !migrations.is_empty() && random.chance(30) => {
                    // An edit of a migration that may have shipped: refused by both.
                    let path = migrations.keys().nth(random.below(migrations.len())).cloned().unwrap_or_default();
                    let text = format!("{}-- edited\n", migrations[&path]);
                    repo.write(&path, &text);
                    migrations.insert(path, text);
                }
                8 if !migrations.is_empty() && random.chance(20) => {
                    let path = migrations.keys().nth(random.below(migrations.len())).cloned().unwrap_or_default();
                    migrations.remove(&path);
                    repo.remove(&path);
                }
                9 if !dialects.contains(&"mysql") && random.chance(40) => {
                    dialects.push("mysql");
                    repo.write("migrate.yaml", config(&dialects));
                }
                _ => {}
            }
        }
        let id = repo.commit(&format!("commit {commit}"));
        commits.push(id.to_string());
        states.push(State { assets: assets.clone(), migrations: migrations.clone(), dialects: dialects.clone() });
    }
    History { repo, empty, commits, states }
}

/// What a plan says ships: `(kind of item, identity, dialect, action)`.
fn plan_items(plan: &serde_json::Value) -> BTreeSet<(String, String, String, String)> {
    let mut items = BTreeSet::new();
    for m in plan["migrations"].as_array().into_iter().flatten() {
        let action = match m["change"].as_str() {
            Some("added") => "apply",
            Some("reverted") => "revert",
            other => panic!("a plan without errors has no {other:?} migration"),
        };
        let version = m["version"].as_str().unwrap_or_default().trim_start_matches('0').to_string();
        items.insert(("migration".into(), version, m["dialect"].as_str().unwrap_or_default().into(), action.into()));
    }
    for a in plan["assets"].as_array().into_iter().flatten() {
        let id = a["id"].as_str().unwrap_or_default().to_string();
        if a.get("action").is_some_and(|action| action != "ship") {
            items.insert(("asset".into(), id, String::new(), "skip".into()));
            continue;
        }
        match a["change"].as_str() {
            Some("removed") => {
                items.insert(("asset".into(), id, String::new(), "delete".into()));
            }
            Some("renamed") => {
                items.insert(("asset".into(), id, String::new(), "upsert".into()));
                let from = a["renamed_from"].as_str().unwrap_or_default().to_string();
                items.insert(("asset".into(), from, String::new(), "delete".into()));
            }
            _ => {
                items.insert(("asset".into(), id, String::new(), "upsert".into()));
            }
        }
    }
    items
}

/// What a manifest ships, in the same terms (the offline scripts are not releases' items).
fn manifest_items(manifest: &serde_json::Value) -> BTreeSet<(String, String, String, String)> {
    manifest["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["type"] != "script")
        .map(|i| {
            (
                i["type"].as_str().unwrap_or_default().to_string(),
                i["identity"].as_str().unwrap_or_default().to_string(),
                i["dialect"].as_str().unwrap_or_default().to_string(),
                i["action"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn manifest_of(bundle: &std::path::Path) -> serde_json::Value {
    let members = crate::common::members(bundle);
    let (_, bytes) = members.iter().find(|(p, _)| p == "manifest.json").unwrap();
    serde_json::from_slice(bytes).unwrap()
}

/// The number of generated cases: `MIGRATE_RELEASE_CASES` overrides it (the issue asks for at
/// least 500 a CI run).
fn cases() -> u64 {
    std::env::var("MIGRATE_RELEASE_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(500)
}

/// An environment record whose targets sit at the commits `at` (indexes into the history); the
/// first target holds no copy of `held`, which a release skipped when it came.
fn record(history: &History, environment: &str, at: &[usize], held: Option<&str>) -> String {
    let mut targets = serde_json::Map::new();
    for (i, &k) in at.iter().enumerate() {
        let state = &history.states[k];
        let mut migrations = serde_json::Map::new();
        for dialect in &state.dialects {
            let rows: Vec<serde_json::Value> = state
                .history(dialect)
                .into_iter()
                .map(|(version, sha256)| serde_json::json!({"version": version, "sha256": sha256, "status": "applied"}))
                .collect();
            migrations.insert(dialect.to_string(), rows.into());
        }
        let held = held.filter(|_| i == 0);
        let assets: Vec<serde_json::Value> = state
            .ids()
            .into_iter()
            .zip(state.assets.values())
            .filter(|(id, _)| Some(id.as_str()) != held)
            .map(|(id, text)| serde_json::json!({"id": id, "sha256": sha256(text)}))
            .collect();
        let skipped: Vec<serde_json::Value> = held.map(|id| serde_json::json!({"id": id})).into_iter().collect();
        let id = format!("t-{i}");
        targets.insert(
            id.clone(),
            serde_json::json!({
                "format_version": 1, "environment": environment, "project": "p", "target_id": id,
                "database": "sqlite:db.sqlite3", "release": {"id": sha256(&format!("release at {k}"))},
                "source": {"head_commit": history.commits[k], "head_depth": k + 2},
                "migrations": migrations, "assets": assets, "skipped": skipped,
                "applied_at": "2026-11-30T00:00:00Z"
            }),
        );
    }
    serde_json::json!({"format_version": 1, "environment": environment, "targets": targets}).to_string()
}

#[test]
fn plan_lists_exactly_what_export_ships_over_generated_histories() {
    let env = TestEnv::new();
    let mut compared = 0;
    let mut refused = 0;
    let mut seed = 0;
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    while compared + refused < cases() {
        let mut history = generate(&env, seed);
        let mut random = Random(seed ^ 0xA5A5);
        seed += 1;
        let n = history.commits.len();
        let mut args: Vec<String> = Vec::new();
        let mut plan_base = None;
        // The states whose assets `--skip`/`--only` may name.
        let mut named: Vec<usize> = Vec::new();
        let mut held = None;
        let case = match random.below(4) {
            // An environment whose targets sit at two points (they disagree), and another one
            // ahead of it: what prod's least advanced target lacks, whatever the others hold;
            // the records are committed at head.
            0 => {
                let (a, b) = (random.below(n), random.below(n));
                let at = [a.min(b), a.max(b)];
                let ids = history.states[at[0]].ids();
                held = (!ids.is_empty() && random.chance(30)).then(|| ids[random.below(ids.len())].clone());
                let prod = record(&history, "prod", &at, held.as_deref());
                history.repo.write("environments/prod.json", prod);
                // Another environment further ahead: what it holds has shipped (immutable), but
                // prod's release is what prod lacks.
                let test = record(&history, "test", &[at[1].max(random.below(n))], None);
                history.repo.write("environments/test.json", test);
                history.commits.push(history.repo.commit("record prod").to_string());
                args.extend(["--env".into(), "prod".into()]);
                named.extend([n - 1, at[0]]);
                "environment"
            }
            // No base: a full bundle; its plan starts from a commit without the project.
            1 => {
                let head = random.below(n);
                args.extend(["--head".into(), history.commits[head].clone()]);
                plan_base = Some(history.empty.clone());
                named.push(head);
                "full"
            }
            // An older base (incremental), or a newer one (a downgrade).
            _ => {
                let (head, base) = (random.below(n), random.below(n));
                if head == base {
                    continue;
                }
                args.extend(["--head".into(), history.commits[head].clone()]);
                args.extend(["--base".into(), history.commits[base].clone()]);
                named.extend([head, base]);
                if base < head { "incremental" } else { "downgrade" }
            }
        };
        // A release manager's selection: skip some assets, or ship only some.
        let mut ids: Vec<String> = named.iter().flat_map(|&k| history.states[k].ids()).collect();
        ids.extend(held.clone());
        ids.sort();
        ids.dedup();
        if !ids.is_empty() && random.chance(35) {
            let flag = if random.chance(50) { "--skip" } else { "--only" };
            for _ in 0..1 + random.below(2) {
                args.extend([flag.to_string(), ids[random.below(ids.len())].clone()]);
            }
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let context = format!("seed {}, {case}: {}", seed - 1, args.join(" "));
        let mut plan_args = vec!["plan", "--format", "json"];
        plan_args.extend_from_slice(&args);
        if let Some(base) = &plan_base {
            plan_args.extend(["--base", base]);
        }
        let plan_out = env.command(&history.repo.dir, &plan_args).output().unwrap();
        let bundle = env.path(&format!("release-{}.tar", seed - 1));
        let mut export_args = vec!["export", "-o", bundle.to_str().unwrap()];
        export_args.extend_from_slice(&args);
        let export_out = env.command(&history.repo.dir, &export_args).output().unwrap();
        let (plan_code, export_code) = (plan_out.status.code(), export_out.status.code());
        let said = || {
            format!(
                "{context}\nplan: {}{}\nexport: {}",
                String::from_utf8_lossy(&plan_out.stdout),
                String::from_utf8_lossy(&plan_out.stderr),
                String::from_utf8_lossy(&export_out.stderr)
            )
        };
        assert!(matches!(plan_code, Some(0 | 1)) && matches!(export_code, Some(0 | 1)), "{}", said());
        assert_eq!(plan_code == Some(1), export_code == Some(1), "plan and export disagree on refusing: {}", said());
        *kinds.entry(case).or_default() += 1;
        if export_code == Some(1) {
            refused += 1;
            continue;
        }
        let plan: serde_json::Value = serde_json::from_slice(&plan_out.stdout).unwrap();
        let manifest = manifest_of(&bundle);
        assert_eq!(plan_items(&plan), manifest_items(&manifest), "the items differ: {}", said());
        let kind = match plan["release"]["kind"].as_str() {
            Some("none") => "deployment",
            other => other.unwrap_or_default(),
        };
        assert_eq!(kind, manifest["release"]["kind"], "the release kinds differ: {}", said());
        assert_eq!(plan["release"]["bump"], manifest["release"]["bump"], "the bumps differ: {}", said());
        compared += 1;
    }
    assert!(refused > 0 && compared > refused, "{compared} compared, {refused} refused: the generator is off");
    assert!(kinds.len() == 4, "every kind of range is tried: {kinds:?}");
}
