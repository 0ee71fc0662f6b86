//! Found from anywhere (issue 14, item 5): like cargo with `Cargo.toml`, migrate run from any
//! folder inside the repository finds the nearest `migrate.yaml` upwards; `--project` still
//! decides; from a folder above several projects it lists them.

use std::path::Path;

use crate::common::{RepoBuilder, TestEnv};

/// The project folder migrate settled on, from its `-v` line, and the exit code.
fn project_of(env: &TestEnv, dir: &Path, extra: &[&str]) -> (String, String) {
    let mut args = vec!["check", "-v"];
    args.extend_from_slice(extra);
    let out = env.run(dir, &args);
    let folder = out
        .lines()
        .find_map(|l| l.split("project folder ").nth(1))
        .map(|f| f.trim_matches('"').to_string())
        .unwrap_or_default();
    (folder, out)
}

fn project(repo: &mut RepoBuilder, folder: &str, name: &str) {
    repo.write(&format!("{folder}migrate.yaml"), format!("version: 1\nproject: {name}\ndialects: [sqlite]\n"))
        .write(&format!("{folder}migrations/0001_a.sql"), "CREATE TABLE a (id INTEGER);\n");
}

#[test]
fn the_nearest_migrate_yaml_upwards_is_the_project() {
    let env = TestEnv::new();
    let root = env.path("mono");
    let mut repo = RepoBuilder::init(&root, false);
    project(&mut repo, "services/inventory/", "inventory");
    project(&mut repo, "services/billing/", "billing");
    repo.write("docs/README.md", "docs\n");
    repo.commit("two projects");
    repo.checkout();

    // From a project's folder, and from a folder inside it.
    let (folder, out) = project_of(&env, &root.join("services/billing"), &[]);
    assert_eq!(folder, "services/billing/", "{out}");
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    let (folder, out) = project_of(&env, &root.join("services/inventory/migrations"), &[]);
    assert_eq!(folder, "services/inventory/", "{out}");
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    // `--project` decides, from anywhere.
    let (folder, out) = project_of(&env, &root.join("services/inventory"), &["--project", "services/billing"]);
    assert_eq!(folder, "services/billing/", "{out}");
    // Above both, or beside them: an error naming them.
    for dir in [root.clone(), root.join("docs"), root.join("services")] {
        let out = env.run(&dir, &["check"]);
        assert!(out.contains("migrate::several_projects"), "{out}");
        // The message may wrap: compared without spaces and margins.
        let flat: String = out.chars().filter(|c| !c.is_whitespace() && *c != '│').collect();
        assert!(flat.contains("2projects:`services/billing`,`services/inventory`"), "{out}");
        assert!(out.ends_with("[exit status: 2]\n"), "{out}");
    }
}

#[test]
fn a_repository_with_one_project_in_a_sub_folder_finds_it_from_the_root() {
    let env = TestEnv::new();
    let root = env.path("one");
    let mut repo = RepoBuilder::init(&root, false);
    project(&mut repo, "db/", "only");
    repo.write("src/main.c", "int main(void) { return 0; }\n");
    repo.commit("one project");
    repo.checkout();
    for dir in [root.clone(), root.join("src"), root.join("db/migrations")] {
        let (folder, out) = project_of(&env, &dir, &[]);
        assert_eq!(folder, "db/", "{out}");
        assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    }
    // The control: a repository with no project says so.
    let empty = env.path("none");
    let mut repo = RepoBuilder::init(&empty, false);
    repo.write("README.md", "nothing\n");
    repo.commit("none");
    repo.checkout();
    let out = env.run(&empty, &["check"]);
    assert!(out.contains("migrate::no_project") && out.ends_with("[exit status: 2]\n"), "{out}");
}
