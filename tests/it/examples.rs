//! The fleet rollouts in `docs/examples/`: a Kubernetes Indexed Job, an Ansible playbook and a
//! GitHub Actions workflow. Nothing here runs them; the tests hold what they promise: which exit
//! code leads to a retry, a failed shard or a stopped rollout, that the shard count agrees with
//! `--shard I/N`, that receipts come back to be recorded, and that every flag they pass to
//! `migrate` exists.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_yaml::Value;

use crate::common::TestEnv;

const JOB: &str = "kubernetes-fleet-job.yaml";
const PLAYBOOK: &str = "ansible-fleet.yml";
const WORKFLOW: &str = "github-actions-fleet.yml";

/// An example's text and its YAML.
fn example(name: &str) -> (String, Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name} is not YAML: {e}"));
    (text, value)
}

fn text<'a>(value: &'a Value, what: &str) -> &'a str {
    value.as_str().unwrap_or_else(|| panic!("{what} is not a string: {value:?}"))
}

fn number(value: &Value, what: &str) -> u64 {
    value.as_u64().unwrap_or_else(|| panic!("{what} is not a number: {value:?}"))
}

fn list<'a>(value: &'a Value, what: &str) -> &'a [Value] {
    value.as_sequence().unwrap_or_else(|| panic!("{what} is not a list: {value:?}"))
}

fn strings(value: &Value, what: &str) -> Vec<String> {
    list(value, what).iter().map(|v| text(v, what).to_string()).collect()
}

/// The words of a script: one command a line, a `\` at the end continuing it.
fn script_commands(script: &str) -> Vec<Vec<String>> {
    let joined = script.replace("\\\n", " ");
    joined.lines().map(|line| line.split_whitespace().map(str::to_string).collect()).collect()
}

/// A word without the quotes, brackets and punctuation around it in YAML, a shell line or a
/// comment.
fn bare(word: &str) -> &str {
    word.trim_matches(|c| matches!(c, '`' | '"' | '\'' | '[' | ']' | '(' | ')' | ',' | '.' | ':'))
}

#[test]
fn the_kubernetes_job_maps_each_exit_code_to_a_failure_action() {
    let (_, job) = example(JOB);
    assert_eq!(text(&job["apiVersion"], "apiVersion"), "batch/v1");
    assert_eq!(text(&job["kind"], "kind"), "Job");
    let spec = &job["spec"];
    assert_eq!(text(&spec["completionMode"], "completionMode"), "Indexed");
    let completions = number(&spec["completions"], "completions");
    number(&spec["parallelism"], "parallelism");
    number(&spec["backoffLimitPerIndex"], "backoffLimitPerIndex");
    number(&spec["maxFailedIndexes"], "maxFailedIndexes");
    let pod = &spec["template"]["spec"];
    assert_eq!(text(&pod["restartPolicy"], "restartPolicy"), "Never");
    let containers = list(&pod["containers"], "containers");
    let names: BTreeSet<&str> = containers.iter().map(|c| text(&c["name"], "a container's name")).collect();

    let mut by_codes = BTreeMap::new();
    let mut ignores_disruption = false;
    for rule in list(&spec["podFailurePolicy"]["rules"], "podFailurePolicy.rules") {
        let action = text(&rule["action"], "a rule's action");
        if let Some(codes) = rule.get("onExitCodes") {
            assert_eq!(text(&codes["operator"], "operator"), "In", "{rule:?}");
            if let Some(name) = codes.get("containerName") {
                assert!(names.contains(text(name, "containerName")), "no container {name:?}");
            }
            let mut values: Vec<u64> = list(&codes["values"], "values").iter().map(|v| number(v, "a code")).collect();
            values.sort();
            assert!(by_codes.insert(values, action).is_none(), "two rules for the same codes: {rule:?}");
        } else {
            let conditions = list(&rule["onPodConditions"], "onPodConditions");
            let types: Vec<&str> = conditions.iter().map(|c| text(&c["type"], "a condition's type")).collect();
            assert_eq!((action, types.as_slice()), ("Ignore", ["DisruptionTarget"].as_slice()), "{rule:?}");
            ignores_disruption = true;
        }
    }
    let expected = BTreeMap::from([(vec![5], "Count"), (vec![1, 2, 3], "FailIndex"), (vec![4], "FailJob")]);
    assert_eq!(by_codes, expected);
    assert!(ignores_disruption, "no rule ignores a DisruptionTarget pod condition");

    // The container runs migrate itself (no shell): Kubernetes expands `$(VAR)` in its arguments
    // only for the variables the container declares.
    let container = containers.iter().find(|c| c["name"] == "migrate").expect("a container `migrate`");
    let mut words = strings(&container["command"], "command");
    words.extend(strings(&container["args"], "args"));
    assert_eq!(words[..2], ["migrate", "import"]);
    let index = "JOB_COMPLETION_INDEX";
    let declared = list(&container["env"], "env").iter().find(|v| v["name"] == index).expect("JOB_COMPLETION_INDEX");
    assert_eq!(
        text(&declared["valueFrom"]["fieldRef"]["fieldPath"], "fieldPath"),
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    );
    let after = |flag: &str| {
        let at = words.iter().position(|w| w == flag).unwrap_or_else(|| panic!("no {flag} in {words:?}"));
        words[at + 1].clone()
    };
    let shard = after("--shard");
    let (i, n) = shard.split_once('/').unwrap_or_else(|| panic!("--shard {shard} is not I/N"));
    assert_eq!(i, format!("$({index})"));
    assert_eq!(n.parse::<u64>().unwrap(), completions, "--shard I/N: N must be the Job's completions");
    assert!(after("--receipts").contains(&format!("$({index})")), "each shard writes its own receipts folder");
    for flag in ["--fleet", "--env"] {
        after(flag);
    }

    // Every volume the container mounts is one of the pod's volumes.
    let volumes: BTreeSet<&str> = list(&pod["volumes"], "volumes").iter().map(|v| text(&v["name"], "volume")).collect();
    for mount in list(&container["volumeMounts"], "volumeMounts") {
        assert!(volumes.contains(text(&mount["name"], "a mount's name")), "{mount:?} mounts no volume");
    }
}

/// An Ansible task's command as words: `argv`, `cmd`, or the free form.
fn task_command(task: &Value) -> Option<Vec<String>> {
    ["ansible.builtin.command", "command", "ansible.builtin.shell", "shell"].iter().find_map(|module| {
        let call = task.get(module)?;
        let line = call.as_str().or_else(|| call.get("cmd").and_then(Value::as_str));
        Some(match (line, call.get("argv")) {
            (Some(line), _) => line.split_whitespace().map(str::to_string).collect(),
            (None, Some(argv)) => strings(argv, "argv"),
            (None, None) => panic!("a {module} task without a command: {task:?}"),
        })
    })
}

/// A play's tasks in the order they run, the tasks of blocks included.
fn flatten_tasks<'a>(tasks: &'a [Value], into: &mut Vec<&'a Value>) {
    for task in tasks {
        let mut nested = false;
        for part in ["block", "rescue", "always"] {
            if let Some(inner) = task.get(part) {
                flatten_tasks(list(inner, part), into);
                nested = true;
            }
        }
        if !nested {
            into.push(task);
        }
    }
}

#[test]
fn the_ansible_playbook_starts_with_a_canary_and_retries_only_exit_5() {
    let (_, plays) = example(PLAYBOOK);
    let plays = list(&plays, "the playbook");
    let runs = |task: &&Value, sub: &str| task_command(task).is_some_and(|w| w.len() > 1 && w[..2] == ["migrate", sub]);
    let play = plays
        .iter()
        .find(|play| {
            let mut tasks = Vec::new();
            flatten_tasks(list(&play["tasks"], "tasks"), &mut tasks);
            tasks.iter().any(|t| runs(t, "import"))
        })
        .expect("a play that runs `migrate import`");

    let serial = list(&play["serial"], "serial");
    assert_eq!(serial.first().and_then(Value::as_u64), Some(1), "the first batch is one canary host: {serial:?}");
    assert!(serial.len() > 1, "{serial:?}");
    assert!(play["max_fail_percentage"].is_number(), "max_fail_percentage is not set");

    let mut tasks = Vec::new();
    flatten_tasks(list(&play["tasks"], "tasks"), &mut tasks);
    let verify = tasks.iter().position(|t| runs(t, "verify")).expect("a task runs `migrate verify`");
    let import = tasks.iter().position(|t| runs(t, "import")).unwrap();
    assert!(verify < import, "the bundle is verified before the import");
    assert!(
        tasks[..verify].iter().any(|t| t.get("ansible.builtin.copy").is_some()),
        "a task copies the bundle before it is verified"
    );

    let task = tasks[import];
    let words = task_command(task).unwrap();
    for flag in ["--target", "--env", "--receipt"] {
        assert!(words.iter().any(|w| w == flag), "the import has no {flag}: {words:?}");
    }
    let registered = text(&task["register"], "register");
    let until = text(&task["until"], "until");
    assert!(until.contains(&format!("{registered}.rc")) && until.contains('5'), "until: {until}");
    assert!(number(&task["retries"], "retries") > 0);
    let failed_when = text(&task["failed_when"], "failed_when");
    assert!(failed_when.contains(&format!("{registered}.rc")), "failed_when: {failed_when}");

    let last = tasks.last().unwrap();
    let fetch = last.get("ansible.builtin.fetch").expect("the last task fetches the receipt");
    assert!(text(&fetch["src"], "src").contains("receipt"), "{fetch:?}");
}

#[test]
fn the_github_workflow_imports_a_shard_per_matrix_entry_and_records_them_all() {
    let (_, workflow) = example(WORKFLOW);
    assert!(workflow["on"].get("workflow_dispatch").is_some(), "started by hand: workflow_dispatch");
    assert!(!workflow["on"]["workflow_dispatch"]["inputs"].as_mapping().expect("inputs").is_empty());
    let jobs = workflow["jobs"].as_mapping().expect("jobs");
    let run_scripts = |job: &Value| -> Vec<String> {
        list(&job["steps"], "steps").iter().filter_map(|s| s.get("run")).map(|r| text(r, "run").to_string()).collect()
    };
    let uses = |job: &Value, action: &str| -> Vec<Value> {
        list(&job["steps"], "steps")
            .iter()
            .filter(|s| s.get("uses").and_then(Value::as_str) == Some(action))
            .cloned()
            .collect()
    };

    let (import_name, import) =
        jobs.iter().find(|(_, job)| job["strategy"]["matrix"].get("shard").is_some()).expect("a matrix of shards");
    let import_name = text(import_name, "a job's name");
    let strategy = &import["strategy"];
    assert_eq!(strategy["fail-fast"].as_bool(), Some(false), "a failed shard must not cancel the others");
    number(&strategy["max-parallel"], "max-parallel");
    let shards: Vec<u64> = list(&strategy["matrix"]["shard"], "shard").iter().map(|v| number(v, "a shard")).collect();
    assert_eq!(shards, (0..shards.len() as u64).collect::<Vec<_>>(), "shards are 0 to N-1");

    let marker = "--shard ${{ matrix.shard }}/";
    let commands: Vec<Vec<String>> = run_scripts(import).iter().flat_map(|s| script_commands(s)).collect();
    let import_line = commands.iter().find(|w| w.len() > 1 && w[..2] == ["migrate", "import"]).expect("migrate import");
    let line = import_line.join(" ");
    let n = line.split(marker).nth(1).unwrap_or_else(|| panic!("no `{marker}N` in {line}"));
    let n: u64 = n.split_whitespace().next().unwrap().parse().unwrap();
    assert_eq!(n, shards.len() as u64, "--shard I/N: N must be the number of shards");
    assert!(line.contains("--receipts receipts"), "{line}");
    let upload = uses(import, "actions/upload-artifact@v6");
    let [upload] = upload.as_slice() else { panic!("one upload-artifact@v6 step: {upload:?}") };
    assert_eq!(text(&upload["if"], "if"), "always()", "a failed shard's receipts are kept too");
    assert!(text(&upload["with"]["name"], "name").contains("${{ matrix.shard }}"), "an artifact per shard");
    assert!(text(&upload["with"]["path"], "path").starts_with("receipts"));

    let (_, record) = jobs
        .iter()
        .find(|(_, job)| match &job["needs"] {
            Value::String(needs) => needs == import_name,
            needs => needs.as_sequence().is_some_and(|n| n.iter().any(|n| n == import_name)),
        })
        .expect("a job that needs the import");
    assert_eq!(text(&record["if"], "if"), "always()", "receipts are recorded whatever the shards did");
    let download = uses(record, "actions/download-artifact@v7");
    let [download] = download.as_slice() else { panic!("one download-artifact@v7 step: {download:?}") };
    assert!(download["with"]["pattern"].is_string(), "{download:?}");
    assert_eq!(download["with"]["merge-multiple"].as_bool(), Some(true), "{download:?}");
    let scripts = run_scripts(record).join("\n");
    assert!(scripts.contains("migrate env record receipts/*.json"), "{scripts}");
    assert!(scripts.contains("git add environments"), "{scripts}");
    assert!(scripts.contains("git commit"), "{scripts}");
}

/// The `--flags` each subcommand is given in `words`, from a `migrate` to the end of its command
/// (a shell operator, a comment's closing backtick, the end of the words).
fn flags_after_migrate(words: &[String], used: &mut BTreeMap<&'static str, BTreeSet<String>>) {
    for start in 0..words.len() {
        if bare(&words[start]) != "migrate" {
            continue;
        }
        let rest = &words[start + 1..];
        let (sub, skip) = match rest.iter().map(|w| bare(w)).collect::<Vec<_>>().as_slice() {
            ["import", ..] => ("import", 1),
            ["verify", ..] => ("verify", 1),
            ["env", "record", ..] => ("env record", 2),
            _ => continue,
        };
        let flags = used.entry(sub).or_default();
        if rest[skip - 1].contains('`') {
            continue;
        }
        for word in &rest[skip..] {
            if matches!(word.as_str(), "&&" | "||" | "|" | ";" | ">" | "#") {
                break;
            }
            if let Some(name) = word.strip_prefix("--") {
                let name: String = name.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
                if !name.is_empty() {
                    flags.insert(format!("--{name}"));
                }
            }
            if word.contains('`') || word.ends_with(';') {
                break;
            }
        }
    }
}

/// Every command line in a YAML value: a container's `command` and `args` together, any list of
/// words, and each line of any string.
fn command_lines(value: &Value, into: &mut Vec<Vec<String>>) {
    match value {
        Value::String(s) => into.extend(script_commands(s)),
        Value::Sequence(items) => {
            if items.iter().all(Value::is_string) {
                into.push(items.iter().map(|v| v.as_str().unwrap().to_string()).collect());
            }
            items.iter().for_each(|v| command_lines(v, into));
        }
        Value::Mapping(map) => {
            if let (Some(Value::Sequence(command)), Some(Value::Sequence(args))) = (map.get("command"), map.get("args"))
            {
                let words = command.iter().chain(args).filter_map(Value::as_str).map(str::to_string).collect();
                into.push(words);
            }
            map.values().for_each(|v| command_lines(v, into));
        }
        Value::Tagged(tagged) => command_lines(&tagged.value, into),
        _ => {}
    }
}

/// The long flags of a `--help`.
fn help_flags(help: &str) -> BTreeSet<String> {
    let words = help.split(|c: char| c.is_whitespace() || matches!(c, ',' | '[' | ']' | '='));
    words.filter(|w| w.starts_with("--") && w.len() > 2).map(str::to_string).collect()
}

#[test]
fn every_flag_the_examples_give_migrate_is_in_its_help() {
    let mut used = BTreeMap::new();
    for name in [JOB, PLAYBOOK, WORKFLOW] {
        let (source, value) = example(name);
        let mut lines = Vec::new();
        command_lines(&value, &mut lines);
        // The comments too: what they tell readers to run must work.
        lines.extend(source.lines().map(|line| line.split_whitespace().map(str::to_string).collect()));
        for words in &lines {
            flags_after_migrate(words, &mut used);
        }
    }
    // The scan sees what the examples are known to use.
    for (sub, flag) in [("import", "--fleet"), ("import", "--shard"), ("import", "--receipts"), ("import", "--target")]
        .into_iter()
        .chain([("import", "--receipt"), ("verify", "--trust")])
    {
        assert!(used.get(sub).is_some_and(|f| f.contains(flag)), "`{sub} {flag}` not found: {used:?}");
    }
    assert!(used.contains_key("env record"), "no `migrate env record`: {used:?}");

    let env = TestEnv::new();
    let mut missing = Vec::new();
    for (sub, flags) in &used {
        let mut args: Vec<&str> = sub.split(' ').collect();
        args.push("--help");
        let output = env.command(env.root.path(), &args).output().unwrap();
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "migrate {}: {help}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        let known = help_flags(&help);
        missing.extend(flags.iter().filter(|f| !known.contains(*f)).map(|f| format!("migrate {sub} {f}")));
    }
    assert!(missing.is_empty(), "flags the examples use that migrate does not have: {missing:?}");
}
