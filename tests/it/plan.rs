//! `migrate plan`: the wiring from git to the report, in every format and on every path to an
//! exit code. The planner's edge cases are table tests in `src/core/plan/tests.rs`.

use crate::common::{RepoBuilder, TestEnv, git};

const CONFIG: &str = "version: 1\nproject: p\ndialects: [sqlite]\n";

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn inventory_feature_in_three_formats() {
    let env = TestEnv::new();
    let repo = env.inventory("repo", false);
    insta::assert_snapshot!("inventory_text", env.run(&repo.dir, &["plan"]));
    insta::assert_snapshot!("inventory_markdown", env.run(&repo.dir, &["plan", "--format", "markdown"]));
    let out = env.stdout(&repo.dir, &["plan", "--format", "json", "--release-version", "1.4.0"], 0);
    insta::assert_json_snapshot!("inventory_json", json(&out));
}

#[test]
fn classifications_in_the_inventory_fixture() {
    let env = TestEnv::new();
    let repo = env.inventory("repo", false);
    let plan = json(&env.stdout(&repo.dir, &["plan", "--format", "json"], 0));
    let changes: Vec<(String, String)> = plan["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["id"].as_str().unwrap().to_string(), a["change"].as_str().unwrap().to_string()))
        .collect();
    let expected = [
        ("dashboard/ops/latency", "cosmetic"),
        ("query/active-hosts", "modified"),
        ("query/host-count", "removed"),
        ("query/inactive-hosts", "renamed"),
    ];
    assert_eq!(changes, expected.map(|(a, b)| (a.to_string(), b.to_string())));
    assert_eq!(plan["assets"][3]["renamed_from"], "query/stale-hosts");
    assert_eq!(plan["ignored"], serde_json::json!(["assets/legacy/old-report.yaml"]));
    assert_eq!(plan["release"]["kind"], "migration");
    let migrations: Vec<String> =
        plan["migrations"].as_array().unwrap().iter().map(|m| format!("{} {}", m["name"], m["dialect"])).collect();
    assert_eq!(migrations, ["\"0003_add_owner\" \"sqlite\"", "\"0003_add_owner\" \"postgres\""]);
}

#[test]
fn bare_repository_short_id_and_tag() {
    let env = TestEnv::new();
    let repo = env.inventory("bare.git", true);
    let by_name = json(&env.stdout(&repo.dir, &["plan", "--base", "v1", "--head", "feature", "--format", "json"], 0));
    let feature = git(&repo.dir, &["rev-parse", "feature"]).trim().to_string();
    let short = &feature[..7];
    let by_id = json(&env.stdout(&repo.dir, &["plan", "--base", "v1", "--head", short, "--format", "json"], 0));
    assert_eq!(by_name["head"]["commit"], feature);
    assert_eq!(by_id["head"]["commit"], feature);
    assert_eq!(by_id["head"]["spec"], short);
    assert_eq!(by_name["assets"], by_id["assets"]);
    assert_eq!(by_name["migrations"], by_id["migrations"]);
    assert_eq!(by_name["base"]["commit"], git(&repo.dir, &["rev-parse", "v1"]).trim());
    // `HEAD~1` from the feature branch is the tag.
    let relative =
        json(&env.stdout(&repo.dir, &["plan", "--base", "feature~1", "--head", "feature", "--format", "json"], 0));
    assert_eq!(relative["base"]["commit"], by_name["base"]["commit"]);
    // No work tree: WORKTREE is a usage error.
    insta::assert_snapshot!("bare_worktree", env.run(&repo.dir, &["plan", "--head", "WORKTREE"]));
}

#[test]
fn unknown_revision_exits_2() {
    let env = TestEnv::new();
    let repo = env.inventory("repo", false);
    insta::assert_snapshot!("unknown_revision", env.run(&repo.dir, &["plan", "--base", "no-such-branch"]));
}

#[test]
fn crlf_and_bom_are_not_changes() {
    let env = TestEnv::new();
    let mut repo = RepoBuilder::init(&env.path("repo"), true);
    repo.write("migrate.yaml", CONFIG)
        .write("migrations/0001_a.sql", "CREATE TABLE a (id INT);\n")
        .write("assets/query/a.yaml", "spec:\n  sql: SELECT 1\n");
    let first = repo.commit("lf");
    repo.write("migrations/0001_a.sql", "\u{feff}CREATE TABLE a (id INT);\r\n")
        .write("assets/query/a.yaml", "\u{feff}spec:\r\n  sql: SELECT 1\r\n");
    let second = repo.commit("crlf and bom");
    let out = env.stdout(
        &repo.dir,
        &["plan", "--base", &first.to_string(), "--head", &second.to_string(), "--format", "json"],
        0,
    );
    let plan = json(&out);
    assert_eq!(plan["release"]["kind"], "none");
    assert_eq!(plan["assets"], serde_json::json!([]));
    assert_eq!(plan["migrations"], serde_json::json!([]));
}

#[test]
fn monorepo_sub_folder() {
    let env = TestEnv::new();
    let mut repo = RepoBuilder::init(&env.path("mono"), true);
    repo.write("README.md", "monorepo\n").fixture_step("inventory", "1-initial", "services/inventory/");
    let v1 = repo.commit("initial");
    repo.fixture_step("inventory", "2-feature", "services/inventory/");
    let v2 = repo.commit("feature");
    let args = ["plan", "--project", "services/inventory", "--base", &v1.to_string(), "--head", &v2.to_string()];
    let text = env.stdout(&repo.dir, &args, 0);
    assert!(text.contains("--- a/services/inventory/assets/query/active-hosts.yaml"), "{text}");
    // Without --project there is no migrate.yaml at the root.
    insta::assert_snapshot!(
        "monorepo_no_project",
        env.run(&repo.dir, &["plan", "--base", &v1.to_string(), "--head", &v2.to_string()])
    );
}

#[test]
fn twenty_digit_versions_keep_numeric_order() {
    let env = TestEnv::new();
    let mut repo = RepoBuilder::init(&env.path("repo"), true);
    repo.write("migrate.yaml", CONFIG).write("migrations/20260101000000000009_a.sql", "SELECT 1;\n");
    let first = repo.commit("one");
    repo.write("migrations/20260101000000000010_b.sql", "SELECT 2;\n")
        .write("migrations/99999999999999999999_c.sql", "SELECT 3;\n");
    let second = repo.commit("two");
    let plan = json(&env.stdout(
        &repo.dir,
        &["plan", "--base", &first.to_string(), "--head", &second.to_string(), "--format", "json"],
        0,
    ));
    let versions: Vec<&str> =
        plan["migrations"].as_array().unwrap().iter().map(|m| m["version"].as_str().unwrap()).collect();
    assert_eq!(versions, ["20260101000000000010", "99999999999999999999"]);
    repo.write("migrations/20260101000000000002_old.sql", "SELECT 0;\n");
    let third = repo.commit("three");
    let out = env.run(&repo.dir, &["plan", "--base", &second.to_string(), "--head", &third.to_string()]);
    assert!(out.contains("migrate::out_of_order") && out.ends_with("[exit status: 1]\n"), "{out}");
}

#[test]
fn shipped_migration_edited_exits_1() {
    let env = TestEnv::new();
    let mut repo = env.inventory("repo", false);
    repo.write(
        "migrations/0001_create_hosts.sql",
        "CREATE TABLE hosts (\n    id BIGINT PRIMARY KEY,\n    name TEXT NOT NULL,\n    active BOOLEAN NOT NULL DEFAULT TRUE\n);\n\n-- migrate:down\nDROP TABLE hosts;\n",
    );
    repo.remove("migrations/0002_add_index.postgres.sql");
    repo.commit("edit shipped migrations");
    insta::assert_snapshot!("shipped_edited", env.run(&repo.dir, &["plan"]));
}

#[test]
fn worktree_sees_untracked_files_but_not_ignored_ones() {
    let env = TestEnv::new();
    let repo = env.inventory("repo", false);
    std::fs::write(repo.dir.join("assets/query/draft.yaml"), "spec:\n  sql: SELECT 42\n").unwrap();
    std::fs::write(repo.dir.join("assets/query/mine.local.yaml"), "spec: {sql: SELECT 2}\n").unwrap();
    let plan = json(&env.stdout(&repo.dir, &["plan", "--head", "WORKTREE", "--format", "json"], 0));
    let ids: Vec<&str> = plan["assets"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"query/draft"), "{ids:?}");
    assert!(!ids.iter().any(|id| id.contains("mine")), "{ids:?}");
    assert_eq!(plan["head"]["spec"], "WORKTREE");
    // A tracked file is seen even where `.gitignore` matches it, as git sees it.
    git(&repo.dir, &["add", "-f", "assets/query/mine.local.yaml"]);
    let plan = json(&env.stdout(&repo.dir, &["plan", "--head", "WORKTREE", "--format", "json"], 0));
    let ids: Vec<&str> = plan["assets"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"query/mine.local"), "{ids:?}");
    assert!(plan["head"].get("commit").is_none());
}

#[test]
fn no_default_branch_needs_a_base() {
    let env = TestEnv::new();
    let mut repo = RepoBuilder::init(&env.path("repo"), true);
    repo.write("migrate.yaml", CONFIG);
    repo.branch_bare("trunk");
    repo.commit("only on trunk");
    insta::assert_snapshot!("no_default_branch", env.run(&repo.dir, &["plan", "--head", "trunk"]));
}

#[test]
fn shallow_clone_says_how_to_fetch_history() {
    let env = TestEnv::new();
    let repo = env.inventory("origin.git", true);
    let url = format!("file://{}", repo.dir.display());
    git(env.root.path(), &["clone", "-q", "--depth", "1", "--branch", "feature", &url, "shallow"]);
    let out = env.run(&env.path("shallow"), &["plan", "--base", "v1"]);
    assert!(out.contains("git fetch --unshallow"), "{out}");
    assert!(out.ends_with("[exit status: 2]\n"), "{out}");
}

#[test]
fn invalid_project_file_exits_2() {
    let env = TestEnv::new();
    let mut repo = RepoBuilder::init(&env.path("repo"), true);
    repo.write("migrate.yaml", "version: 1\nproject: p\ndialects: [sqlite, oracle]\n");
    let c = repo.commit("bad config");
    insta::assert_snapshot!(
        "invalid_config",
        env.run(&repo.dir, &["plan", "--base", &c.to_string(), "--head", &c.to_string()])
    );
}

fn receipt(commit: &str, depth: u64, sha256_of_0001: &str) -> serde_json::Value {
    serde_json::json!({
        "format_version": 1,
        "environment": "prod",
        "project": "inventory",
        "target_id": format!("site-{depth}"),
        "database": "sqlite:db.sqlite3",
        "release": { "id": format!("sha256:{}", "a".repeat(64)) },
        "source": { "head_commit": commit, "head_depth": depth },
        "migrations": { "sqlite": [ { "version": "1", "sha256": sha256_of_0001, "status": "applied" } ] },
        "assets": [],
        "applied_at": "2026-11-01T00:00:00Z"
    })
}

#[test]
fn env_plans_against_the_least_advanced_target() {
    let env = TestEnv::new();
    let mut repo = env.inventory("repo", false);
    let v1 = git(&repo.dir, &["rev-parse", "v1"]).trim().to_string();
    let feature = git(&repo.dir, &["rev-parse", "feature"]).trim().to_string();
    let text =
        std::fs::read(crate::common::fixtures().join("inventory/1-initial/migrations/0001_create_hosts.sql")).unwrap();
    let sha = migrate::core::hash::content_hash(&text).unwrap().to_string();
    let record = serde_json::json!({
        "format_version": 1,
        "environment": "prod",
        "targets": { "site-1": receipt(&v1, 1, &sha), "site-2": receipt(&feature, 2, &sha) }
    });
    repo.write("environments/prod.json", serde_json::to_string_pretty(&record).unwrap());
    repo.commit("record prod");
    let plan = json(&env.stdout(&repo.dir, &["plan", "--env", "prod", "--format", "json"], 0));
    assert_eq!(plan["base"]["commit"], v1);
    assert_eq!(plan["environment"]["target_id"], "site-1");
    assert_eq!(plan["environment"]["targets"], 2);
    assert_eq!(plan["summary"]["migrations_added"], 2);
    // `test` has no record: everything is new, except what another environment already holds.
    let out = env.run(&repo.dir, &["plan", "--env", "test", "--format", "json"]);
    assert!(out.contains("does not exist yet") && out.ends_with("[exit status: 0]\n"), "{out}");
    let plan = json(out.split("----- stderr -----").next().unwrap());
    let sqlite: Vec<&str> = plan["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["dialect"] == "sqlite")
        .map(|m| m["version"].as_str().unwrap())
        .collect();
    assert_eq!(sqlite, ["2", "3"], "sqlite 1 is recorded in prod; postgres 1 is not");

    // A recorded migration whose text changed is an edit, whatever the base.
    let wrong = serde_json::json!({
        "format_version": 1, "environment": "prod",
        "targets": { "site-1": receipt(&v1, 1, &format!("sha256:{}", "b".repeat(64))) }
    });
    repo.write("environments/prod.json", serde_json::to_string_pretty(&wrong).unwrap());
    repo.write("migrations/0001_create_hosts.sql", "CREATE TABLE hosts (id INT);\n");
    repo.commit("edit");
    let out = env.run(&repo.dir, &["check", "--rev", "HEAD", "--env", "prod"]);
    assert!(out.contains("shipped_migration_edited") && out.ends_with("[exit status: 1]\n"), "{out}");

    let out = env.run(&repo.dir, &["plan", "--env", "staging"]);
    assert!(out.contains("migrate::unknown_environment") && out.ends_with("[exit status: 2]\n"), "{out}");
    repo.write("environments/prod.json", "{\"format_version\": 1,\n \"environment\": \"prod\", \"targetz\": {}}");
    repo.commit("broken record");
    insta::assert_snapshot!("broken_record", env.run(&repo.dir, &["plan", "--env", "prod"]));
}

#[test]
fn sql_hazards_in_the_markdown_plan() {
    let env = TestEnv::new();
    let mut repo = RepoBuilder::init(&env.path("repo.git"), true);
    repo.write("migrate.yaml", "version: 1\nproject: p\ndialects: [postgres, mysql]\nhazards: { blue-green: error }\n")
        .write("migrations/0001_users.sql", "CREATE TABLE users (id int, email text);\n");
    let first = repo.commit("one");
    repo.write(
        "migrations/0002_changes.sql",
        "-- migrate:allow destructive/drop-column email moved to accounts\nALTER TABLE users DROP COLUMN email;\nCREATE TABLE t (id int);\nCREATE INDEX t_id ON t (id);\nCREATE INDEX users_id ON users (id);\nDELETE FROM users;\nALTER TABLE users RENAME COLUMN id TO user_id;\nCREATE INDEX CONCURRENTLY x ON users (id);\n",
    )
    .write("migrations/0003_safe.sql", "-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY y ON users (id);\n");
    repo.commit("two");
    let out = env.run(&repo.dir, &["plan", "--base", &first.to_string(), "--format", "markdown"]);
    // A blue-green hazard made an error by migrate.yaml, and a transaction hazard, fail the plan.
    assert!(out.ends_with("[exit status: 1]\n"), "{out}");
    insta::assert_snapshot!("hazards_markdown", out);
}

#[test]
fn release_version_checked_against_the_version_tag_on_the_base() {
    let env = TestEnv::new();
    let mut repo = RepoBuilder::init(&env.path("repo.git"), true);
    repo.write("migrate.yaml", "version: 1\nproject: p\ndialects: [sqlite]\n")
        .write("migrations/0001_a.sql", "CREATE TABLE a (id INTEGER);\n");
    let first = repo.commit("one");
    repo.tag("v1.3.0", first);
    repo.write("migrations/0002_b.sql", "DROP TABLE a;\n");
    repo.commit("two");
    let first = first.to_string();
    for base in ["v1.3.0", first.as_str()] {
        let out = env.run(&repo.dir, &["plan", "--base", base, "--release-version", "1.4.0"]);
        assert!(out.contains("needs a major version bump"), "{out}");
        assert!(
            out.contains("release version 1.4.0 is a minor bump from v1.3.0; this release needs a major bump"),
            "{base}: {out}"
        );
        let out = env.run(&repo.dir, &["plan", "--base", base, "--release-version", "2.0.0", "--format", "json"]);
        assert!(!out.contains("release_version_bump"), "{out}");
        assert!(out.contains("\"previous_version\": \"v1.3.0\""), "{out}");
    }
}

/// Issue 11: for a downgrade range `plan` exited 1 (every migration "deleted") while `export` of
/// the same range made the bundle. Now `plan` shows the reverts, with their down sections'
/// hazards, and refuses exactly where `export` does (a migration without a down section).
#[test]
fn a_downgrade_range_plans_the_reverts_export_makes() {
    let env = TestEnv::new();
    let mut repo = env.scripts("repo.git");
    let out = env.run(&repo.dir, &["plan", "--base", "change", "--head", "base"]);
    assert!(out.contains("reverted") && out.ends_with("[exit status: 0]\n"), "{out}");
    assert!(!out.contains("shipped_migration_deleted"), "{out}");
    // The down sections' hazards, at their lines in the file.
    assert!(out.contains("destructive/drop-column") && out.contains("down section)"), "{out}");
    let json = env.stdout(&repo.dir, &["plan", "--base", "change", "--head", "base", "--format", "json"], 0);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let changes: Vec<&str> =
        json["migrations"].as_array().unwrap().iter().map(|m| m["change"].as_str().unwrap()).collect();
    assert!(!changes.is_empty() && changes.iter().all(|c| *c == "reverted"), "{changes:?}");
    let bundle = env.path("down.tar");
    env.export(&repo.dir, &bundle, &["--base", "change", "--head", "base"]);

    // A migration without a down section: both refuse.
    repo.write("migrations/0009_no_down.sql", "CREATE TABLE nine (id INTEGER);\n");
    let third = repo.commit("no down");
    repo.tag("third", third);
    let out = env.run(&repo.dir, &["plan", "--base", "third", "--head", "change"]);
    assert!(out.contains("migrate::missing_down") && out.ends_with("[exit status: 1]\n"), "{out}");
    let out = env
        .run(&repo.dir, &["export", "--base", "third", "--head", "change", "-o", env.path("x.tar").to_str().unwrap()]);
    assert!(out.contains("missing_down") && out.ends_with("[exit status: 1]\n"), "{out}");
}
