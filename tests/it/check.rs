//! `migrate check`: every finding collected, drawn with its source line, and the exit code.

use crate::common::{RepoBuilder, TestEnv};

#[test]
fn clean_inventory_passes() {
    let env = TestEnv::new();
    let repo = env.inventory("repo", false);
    insta::assert_snapshot!("clean_text", env.run(&repo.dir, &["check"]));
    let json: serde_json::Value =
        serde_json::from_str(&env.stdout(&repo.dir, &["check", "--format", "json"], 0)).unwrap();
    insta::assert_json_snapshot!("clean_json", json);
}

fn broken_repo(env: &TestEnv) -> RepoBuilder {
    let mut repo = RepoBuilder::init(&env.path("repo"), true);
    repo.fixture_step("inventory", "1-initial", "");
    repo.commit("initial");
    repo.write("migrations/1_duplicate.sql", "SELECT 1;\n")
        .write("migrations/0004_typo.sql", "-- migrate:no-transacton\nCREATE INDEX CONCURRENTLY i ON hosts (name);\n")
        .write("migrations/0005_x.oracle.sql", "SELECT 1;\n")
        .write("migrations/notes.md", "# notes\n")
        .write("migrations/0006_bad.sql", b"SELECT '\xff';\n")
        .write("assets/query/typo.yaml", "kind: query\nspek:\n  sql: SELECT 1\n")
        .write("assets/query/wrong-kind.yaml", "kind: dashboard\nspec:\n  sql: SELECT 1\n")
        .write("assets/query/bad-schema.yaml", "spec:\n  sql: SELECT 1\n  timeout_ms: soon\n")
        .write("assets/query/syntax.yaml", "spec:\n  sql: [SELECT 1\n")
        .write("assets/query/tagged.yaml", "spec:\n  sql: !env QUERY\n")
        .write("assets/a/x.yaml", "depends_on: [a/y]\n")
        .write("assets/a/y.yaml", "depends_on: [a/x]\n")
        .write("assets/a/z.yaml", "depends_on: [datasource/missing]\n")
        .write("assets/a/old.yml", "spec: {}\n")
        .write("assets/loose.yaml", "spec: {}\n");
    repo.commit("broken");
    repo
}

#[test]
fn every_finding_is_reported_with_its_source_line() {
    let env = TestEnv::new();
    let repo = broken_repo(&env);
    insta::assert_snapshot!("broken_text", env.run(&repo.dir, &["check"]));
    let json: serde_json::Value =
        serde_json::from_str(&env.stdout(&repo.dir, &["check", "--format", "json"], 1)).unwrap();
    let codes: Vec<&str> = json["findings"].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap()).collect();
    for expected in [
        "migrate::duplicate_version",
        "migrate::unknown_directive",
        "migrate::unknown_dialect",
        "migrate::not_a_migration",
        "migrate::not_text",
        "migrate::asset_yaml",
        "migrate::header_mismatch",
        "migrate::schema_violation",
        "migrate::dependency_cycle",
        "migrate::unknown_dependency",
        "migrate::asset_extension",
        "migrate::unsafe_identity",
    ] {
        assert!(codes.contains(&expected), "{expected} missing from {codes:?}");
    }
    insta::assert_snapshot!("broken_markdown", env.stdout(&repo.dir, &["check", "--format", "markdown"], 1));
}

#[test]
fn check_with_a_base_refuses_shipped_edits() {
    let env = TestEnv::new();
    let mut repo = RepoBuilder::init(&env.path("repo"), true);
    repo.fixture_step("inventory", "1-initial", "");
    let v1 = repo.commit("initial");
    repo.write("migrations/0002_add_index.sql", "CREATE UNIQUE INDEX hosts_name ON hosts (name);\n");
    repo.commit("edit");
    let out = env.run(&repo.dir, &["check"]);
    assert!(out.ends_with("[exit status: 0]\n"), "without a base the edit is invisible: {out}");
    insta::assert_snapshot!("shipped_edit", env.run(&repo.dir, &["check", "--base", &v1.to_string()]));
}
