//! Progress goes to stderr: a bar on a terminal (here a pseudo-terminal made by `script` from
//! util-linux), lines in a log with `--progress always`, nothing when piped or with `--quiet`;
//! stdout carries only the product.

use std::path::Path;
use std::process::Command;

use crate::common::TestEnv;

/// Runs `migrate ARGS` in `dir` on a pseudo-terminal and returns what the terminal showed.
fn on_terminal(env: &TestEnv, dir: &Path, args: &[&str]) -> String {
    let line = std::iter::once(env!("CARGO_BIN_EXE_migrate")).chain(args.iter().copied()).collect::<Vec<_>>().join(" ");
    let output = env
        .isolated(Command::new("script"))
        .args(["-qec", &line, "/dev/null"])
        .current_dir(dir)
        .env("TERM", "xterm")
        .output()
        .expect("`script` (util-linux) runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The full bundle of the `scripts` fixture's head.
fn full_bundle(env: &TestEnv) -> std::path::PathBuf {
    let repo = env.scripts("repo.git").dir.clone();
    let bundle = env.path("b.tar");
    env.stdout(&repo, &["export", "--head", "change", "-o", bundle.to_str().unwrap()], 0);
    bundle
}

fn stderr_of(rendered: &str) -> &str {
    rendered.split("----- stderr -----\n").nth(1).unwrap_or_default()
}

#[test]
fn export_draws_a_bar_on_a_terminal_and_nothing_with_quiet() {
    let env = TestEnv::new();
    let repo = env.scripts("repo.git").dir.clone();
    let bundle = env.path("b.tar");
    let shown = on_terminal(
        &env,
        &repo,
        &["export", "--head", "change", "-o", bundle.to_str().unwrap(), "--progress", "always"],
    );
    assert!(shown.contains("reading and validating the head"), "{shown:?}");
    assert!(shown.contains("archiving ["), "{shown:?}");
    // indicatif redraws in place and clears the bar before the closing status line.
    assert!(shown.contains("\r\x1b[2K"), "{shown:?}");
    assert!(shown.trim_end().ends_with("items"), "the bar is cleared before `wrote …`: {shown:?}");

    let quiet = on_terminal(&env, &repo, &["export", "--head", "change", "-o", bundle.to_str().unwrap(), "--quiet"]);
    assert_eq!(quiet, "", "--quiet on a terminal shows nothing");
}

#[test]
fn export_writes_progress_lines_to_a_log_only_when_asked() {
    let env = TestEnv::new();
    let repo = env.scripts("repo.git").dir.clone();
    let bundle = env.path("b.tar");
    let bundle = bundle.to_str().unwrap();
    let piped = env.run(&repo, &["export", "--head", "change", "-o", bundle]);
    assert!(!piped.contains("archiving") && !piped.contains("validating"), "{piped}");
    let logged = env.run(&repo, &["export", "--head", "change", "-o", bundle, "--progress", "always"]);
    let stderr = stderr_of(&logged);
    assert!(logged.starts_with("----- stderr -----"), "nothing on stdout: {logged}");
    assert!(stderr.starts_with("reading and validating the head\nbuilding the bundle\narchiving ["), "{stderr}");
    // Fewer than a hundred members: a line each, from the first to the last.
    let archived: Vec<&str> = stderr.lines().filter(|l| l.starts_with("archiving [")).collect();
    let total = archived.len();
    assert!(total >= 5, "{stderr}");
    assert!(
        archived[0].starts_with(&format!("archiving [{:>w$}/{total}]", 1, w = total.to_string().len())),
        "{stderr}"
    );
    assert!(archived[total - 1].starts_with(&format!("archiving [{total}/{total}]")), "{stderr}");
}

#[test]
fn import_progress_never_reaches_stdout() {
    let env = TestEnv::new();
    let bundle = full_bundle(&env);
    let site = env.path("site");
    let args = ["import", bundle.to_str().unwrap(), "--target", site.to_str().unwrap(), "--format", "json"];
    let rendered = env.run(env.root.path(), &[&args[..], &["--progress", "always"]].concat());
    let (stdout, stderr) = rendered.split_once("----- stderr -----\n").unwrap();
    let report: serde_json::Value = serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(report["decision"], "initialise");
    assert!(stderr.contains("\nmigrating [1/"), "{stderr}");
    assert!(stderr.starts_with("verifying the bundle\n"), "{stderr}");
}

#[test]
fn verbose_import_logs_each_step_and_its_decision_on_stderr() {
    let env = TestEnv::new();
    let bundle = full_bundle(&env);
    let import = |site: &str, extra: &[&str]| {
        let site = env.path(site);
        let args = ["import", bundle.to_str().unwrap(), "--target", site.to_str().unwrap()];
        env.run(env.root.path(), &[extra, &args[..]].concat())
    };
    let plain = import("site", &[]);
    assert!(plain.starts_with("initialise: release") && !plain.contains("debug:"), "{plain}");
    let verbose = import("site2", &["-v"]);
    let (stdout, stderr) = verbose.split_once("----- stderr -----\n").unwrap();
    assert!(stdout.starts_with("initialise: release") && !stdout.contains("debug"), "{verbose}");
    for step in ["verifying the bundle", "no history table", "decision: initialise", "migrating: "] {
        assert!(stderr.lines().any(|l| l.starts_with("debug: ") && l.contains(step)), "{step}: {stderr}");
    }
}

#[test]
fn import_draws_its_bar_on_a_terminal_and_clears_it() {
    let env = TestEnv::new();
    let bundle = full_bundle(&env);
    let site = env.path("site");
    let args = ["import", bundle.to_str().unwrap(), "--target", site.to_str().unwrap(), "--progress", "always"];
    let shown = on_terminal(&env, env.root.path(), &args);
    assert!(shown.contains("migrating [") && shown.contains("\r\x1b[2K"), "{shown:?}");
    // The product comes after the bar is gone, on a clean line.
    let product = shown.rsplit("\x1b[2K").next().unwrap_or_default();
    assert!(product.starts_with("initialise: release"), "{shown:?}");
}
