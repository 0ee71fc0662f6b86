//! `--help` is the reference: it is pinned so that a change shows up in review.

use crate::common::TestEnv;

#[test]
fn help_lists_commands_and_exit_codes() {
    let env = TestEnv::new();
    insta::assert_snapshot!("help", env.run(env.root.path(), &["--help"]));
    insta::assert_snapshot!("plan_help", env.run(env.root.path(), &["plan", "--help"]));
    insta::assert_snapshot!("check_help", env.run(env.root.path(), &["check", "--help"]));
    for command in
        ["init", "export", "inspect", "verify", "keygen", "sign", "import", "status", "env", "select", "completions"]
    {
        insta::assert_snapshot!(format!("{command}_help"), env.run(env.root.path(), &[command, "--help"]));
    }
    insta::assert_snapshot!("env_record_help", env.run(env.root.path(), &["env", "record", "--help"]));
    insta::assert_snapshot!("env_retire_help", env.run(env.root.path(), &["env", "retire", "--help"]));
}

#[test]
fn usage_errors_exit_2() {
    let env = TestEnv::new();
    let out = env.run(env.root.path(), &["plan", "--base", "a", "--env", "b"]);
    assert!(out.ends_with("[exit status: 2]\n"), "{out}");
    let out = env.run(env.root.path(), &["plan", "--format", "yaml"]);
    assert!(out.ends_with("[exit status: 2]\n"), "{out}");
}

#[test]
fn outside_a_repository_exits_2() {
    let env = TestEnv::new();
    let out = env.run(env.root.path(), &["check"]);
    assert!(out.contains("migrate::not_a_repository"), "{out}");
    assert!(out.ends_with("[exit status: 2]\n"), "{out}");
}

#[test]
fn completions_and_man_page_come_from_the_parser() {
    let env = TestEnv::new();
    let dir = env.root.path();
    let bash = env.stdout(dir, &["completions", "bash"], 0);
    assert!(bash.contains("complete -F _migrate") && bash.contains("--allow-downgrade"), "{bash}");
    let zsh = env.stdout(dir, &["completions", "zsh"], 0);
    assert!(zsh.starts_with("#compdef migrate"), "{zsh}");
    let fish = env.stdout(dir, &["completions", "fish"], 0);
    assert!(fish.contains("complete -c migrate"), "{fish}");
    let man = env.stdout(dir, &["man"], 0);
    assert!(man.contains(".TH migrate 1") && man.contains(".SH NAME") && man.contains("import"), "{man}");
    assert!(env.run(dir, &["completions", "cmd"]).ends_with("[exit status: 2]\n"));
}

#[test]
fn init_starts_a_project_that_checks_clean_and_never_overwrites() {
    let env = TestEnv::new();
    let dir = env.path("demo");
    let out = env.run(env.root.path(), &["init", dir.to_str().unwrap()]);
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    let yaml = std::fs::read_to_string(dir.join("migrate.yaml")).unwrap();
    assert!(
        yaml.starts_with("# yaml-language-server: $schema=./migrate.schema.json\n") && yaml.contains("project: demo")
    );
    for path in ["migrations/0001_create_example.sql", "assets/query/example.yaml", "environments", ".github/workflows"]
    {
        assert!(dir.join(path).exists(), "{path}");
    }
    // The example project is valid as written.
    let mut repo = crate::common::RepoBuilder::init(&env.path("repo"), false);
    for path in ["migrate.yaml", "migrations/0001_create_example.sql", "assets/query/example.yaml"] {
        repo.write(path, std::fs::read(dir.join(path)).unwrap());
    }
    repo.commit("init");
    repo.checkout();
    let out = env.run(&repo.dir, &["check"]);
    assert!(out.contains("0 errors, 0 warnings") && out.ends_with("[exit status: 0]\n"), "{out}");
    // A second init refuses and changes nothing.
    std::fs::write(dir.join("migrate.yaml"), "mine\n").unwrap();
    let out = env.run(env.root.path(), &["init", dir.to_str().unwrap()]);
    assert!(out.contains("migrate::init_exists") && out.ends_with("[exit status: 1]\n"), "{out}");
    assert_eq!(std::fs::read_to_string(dir.join("migrate.yaml")).unwrap(), "mine\n");
}

/// In a sub-folder of a repository, `init` writes the workflow where GitHub runs it, the root's
/// `.github/workflows/`, named after the project, planning that project only; at the root, it
/// writes the plain one.
#[test]
fn init_in_a_monorepo_sub_folder_writes_the_workflow_at_the_root() {
    let env = TestEnv::new();
    let root = env.path("mono");
    let mut repo = crate::common::RepoBuilder::init(&root, false);
    repo.write("README.md", "a monorepo\n");
    repo.commit("start");
    repo.checkout();
    let out = env.run(&root, &["init", "services/inventory"]);
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    assert!(!root.join("services/inventory/.github").exists(), "GitHub never runs a workflow there");
    let workflow = std::fs::read_to_string(root.join(".github/workflows/migrate-plan-inventory.yml")).unwrap();
    assert!(workflow.contains("name: migrate plan (services/inventory)"), "{workflow}");
    assert!(workflow.contains("paths: [\"services/inventory/**\"]"), "{workflow}");
    assert!(workflow.contains("migrate plan --project services/inventory --base"), "{workflow}");
    assert!(
        workflow.contains("vars.MIGRATE_RELEASE_URL") && workflow.contains("sha256sum -c SHA256SUMS"),
        "{workflow}"
    );
    assert!(!workflow.contains("example.invalid"), "{workflow}");
    // A second project beside it gets its own workflow; the first is untouched.
    let out = env.run(&root, &["init", "services/billing"]);
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    assert!(root.join(".github/workflows/migrate-plan-billing.yml").exists());
    // At the root: the plain workflow.
    let out = env.run(&root, &["init", "."]);
    assert!(out.ends_with("[exit status: 0]\n"), "{out}");
    let plain = std::fs::read_to_string(root.join(".github/workflows/migrate-plan.yml")).unwrap();
    assert!(plain.contains("migrate plan --base") && !plain.contains("--project"), "{plain}");
}

/// The README and the user guide give one exit-code table, with the codes 0 to 5 of `--help`.
#[test]
fn the_guide_and_the_readme_give_the_same_exit_codes() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let table = |file: &str| -> Vec<String> {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let start = text.find("| code | meaning |").unwrap_or_else(|| panic!("{file} has no exit-code table"));
        text[start..].lines().take_while(|l| l.starts_with('|')).map(str::to_string).collect()
    };
    let readme = table("README.md");
    assert_eq!(readme, table("docs/guide.md"));
    let codes: Vec<&str> = readme[2..].iter().map(|l| l.split('|').nth(1).unwrap_or_default().trim()).collect();
    assert_eq!(codes, ["0", "1", "2", "3", "4", "5"]);
}

/// The README, the guide and the reference link only to files of this repository, and every such
/// file exists (a leading `/` is the repository root, as GitHub and GitLab read it; `..` may
/// climb within the repository, never out of it).
#[test]
fn documentation_links_stay_inside_the_repository_and_resolve() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in ["README.md", "docs/guide.md", "docs/reference.md"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let dir = root.join(file).parent().unwrap().to_path_buf();
        for link in text.split("](").skip(1).filter_map(|rest| rest.split(')').next()) {
            let target = link.split('#').next().unwrap_or_default();
            if target.is_empty() || target.starts_with("http") {
                continue;
            }
            let path = match target.strip_prefix('/') {
                Some(from_root) => root.join(from_root),
                None => dir.join(target),
            };
            // Resolved by its words alone, so that a link cannot leave through `..`.
            let mut resolved = std::path::PathBuf::new();
            for part in path.components() {
                match part {
                    std::path::Component::ParentDir => {
                        resolved.pop();
                    }
                    std::path::Component::CurDir => {}
                    other => resolved.push(other),
                }
            }
            assert!(resolved.starts_with(root), "{file} links outside the repository: {link}");
            assert!(resolved.exists(), "{file} links to `{link}`, which does not exist");
        }
    }
}

/// `docs/reference.md` documents every command that `--help` lists (found from the help itself,
/// so a new command fails here), each under a heading of its own (`` ### `migrate plan` ``), and
/// every flag: a command's own flags, long and short, in its section, and the flags of
/// `migrate --help` (which every command takes) in "Global flags".
#[test]
fn the_reference_names_every_command_and_flag() {
    let env = TestEnv::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let reference = std::fs::read_to_string(root.join("docs/reference.md")).unwrap();
    let help = |command: &[&str]| {
        let mut args = command.to_vec();
        args.push("--help");
        env.stdout(env.root.path(), &args, 0)
    };
    // The flags of a help text: `-o` and `--output` of a line like `  -o, --output <FILE>` (flag
    // lines are indented at most 6 columns, their descriptions 10).
    let flags = |help: &str| -> Vec<String> {
        let mut flags = Vec::new();
        for line in help.lines() {
            let text = line.trim_start();
            if line.len() - text.len() > 6 || !text.starts_with('-') {
                continue;
            }
            for word in text.split([' ', ',']).take_while(|w| w.is_empty() || w.starts_with('-')) {
                let long = word.len() > 2 && word.starts_with("--");
                let short = word.len() == 2 && word.chars().nth(1).is_some_and(|c| c.is_ascii_alphanumeric());
                if long || short {
                    flags.push(word.to_string());
                }
            }
        }
        flags
    };
    // The commands of a help text's `Commands:` list, but clap's own `help`.
    let commands = |help: &str| -> Vec<String> {
        help.lines()
            .skip_while(|l| *l != "Commands:")
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .filter_map(|l| l.split_whitespace().next())
            .filter(|c| *c != "help")
            .map(str::to_string)
            .collect()
    };
    // The text under a heading, up to the next heading of the same or a higher level.
    let section = |heading: &str| -> Option<String> {
        let mut lines =
            reference.lines().skip_while(|l| !l.starts_with('#') || l.trim_start_matches('#').trim() != heading);
        let level = lines.next()?.chars().take_while(|c| *c == '#').count();
        let body = lines.take_while(|l| !l.starts_with('#') || l.chars().take_while(|c| *c == '#').count() > level);
        Some(body.collect::<Vec<_>>().join("\n"))
    };
    let mut missing = Vec::new();
    let top = help(&[]);
    let global = flags(&top);
    assert!(global.contains(&"--format".to_string()) && !commands(&top).is_empty(), "{top}");
    let global_section = section("Global flags").unwrap_or_default();
    for flag in &global {
        if !global_section.contains(&format!("`{flag}`")) {
            missing.push(format!("`{flag}` (a global flag) is not in \"Global flags\""));
        }
    }
    let mut pending: Vec<Vec<String>> = commands(&top).into_iter().map(|c| vec![c]).collect();
    while let Some(command) = pending.pop() {
        let words: Vec<&str> = command.iter().map(String::as_str).collect();
        let text = help(&words);
        let name = format!("`migrate {}`", words.join(" "));
        pending.extend(commands(&text).into_iter().map(|sub| [command.clone(), vec![sub]].concat()));
        let Some(body) = section(&name) else {
            missing.push(format!("{name} has no section (a heading \"### {name}\")"));
            continue;
        };
        for flag in flags(&text).into_iter().filter(|f| !global.contains(f)) {
            if !body.contains(&format!("`{flag}`")) {
                missing.push(format!("{name}: `{flag}` is not in its section"));
            }
        }
    }
    missing.sort();
    assert!(missing.is_empty(), "docs/reference.md lacks:\n  {}", missing.join("\n  "));
}
