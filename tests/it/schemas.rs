//! The published JSON Schemas are generated from the types: `schemas/` must equal what the code
//! generates (set `MIGRATE_UPDATE_SCHEMAS=1` to rewrite them), and every sample under
//! `tests/samples/` must be judged the same by the schema and by the code.

use std::collections::BTreeSet;
use std::path::Path;

use migrate::core::catalog::parse_asset;
use migrate::core::model::ItemId;
use migrate::core::project::Project;
use migrate::core::record::EnvironmentRecord;
use migrate::core::report::json::published_schemas;

use crate::common::{TestEnv, walk};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn published_schemas_match_the_types() {
    let update = std::env::var_os("MIGRATE_UPDATE_SCHEMAS").is_some();
    for (name, schema) in published_schemas() {
        let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        let path = root().join("schemas").join(name);
        if update {
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "`schemas/{name}` is stale: run `MIGRATE_UPDATE_SCHEMAS=1 cargo test published_schemas` and review the diff"
        );
    }
}

fn schema(name: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("schemas").join(name)).unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

/// Every sample: `tests/samples/{valid,invalid}/<name>.<kind>.{yaml,json}`.
#[test]
fn samples_are_judged_alike_by_schema_and_code() {
    let project_schema = schema("migrate.schema.json");
    let record_schema = schema("environment-record.schema.json");
    let asset_schema = schema("asset.schema.json");
    let mut seen = 0;
    for (dir, expect_valid) in [("valid", true), ("invalid", false)] {
        let mut paths: Vec<_> =
            std::fs::read_dir(root().join("tests/samples").join(dir)).unwrap().map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths {
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            let bytes = std::fs::read(&path).unwrap();
            let (by_schema, by_code) = if name.ends_with(".project.yaml") {
                let value: serde_json::Value = serde_yaml::from_slice(&bytes).unwrap();
                (project_schema.is_valid(&value), Project::parse(&name, "", &bytes).is_ok())
            } else if name.ends_with(".record.json") {
                let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                (record_schema.is_valid(&value), EnvironmentRecord::parse(&name, "prod", &bytes).is_ok())
            } else if name.ends_with(".asset.yaml") {
                // The path an asset has is outside the schema's reach, so each sample sits at the
                // path its header names.
                let value: serde_json::Value = serde_yaml::from_slice(&bytes).unwrap_or_default();
                let field =
                    |key: &str, default: &str| value.get(key).and_then(|v| v.as_str()).unwrap_or(default).to_string();
                let id = ItemId::parse(&format!("{}/{}", field("kind", "sample"), field("name", "x"))).unwrap();
                let text: std::sync::Arc<str> = String::from_utf8(bytes).unwrap().into();
                (asset_schema.is_valid(&value), parse_asset(&id, &name, &text).is_ok())
            } else {
                panic!("unknown sample kind: {name}");
            };
            assert_eq!(by_schema, expect_valid, "schema on {dir}/{name}");
            assert_eq!(by_code, expect_valid, "code on {dir}/{name}");
            seen += 1;
        }
    }
    assert!(seen >= 14, "only {seen} samples");
}

/// Every published schema judges a real document: the example project's own files, and what
/// every command that writes JSON writes, on a first install and an upgrade of a SQLite target.
#[test]
fn real_files_and_outputs_match_their_schemas() {
    let env = TestEnv::new();
    let repo = env.inventory("repo", false).dir.clone();
    let mut judged = BTreeSet::new();
    let mut judge = |name: &'static str, what: &str, document: &serde_json::Value| {
        let validator = schema(name);
        let errors: Vec<String> =
            validator.iter_errors(document).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{what} does not match `schemas/{name}`: {errors:#?}\n{document:#}");
        judged.insert(name);
    };
    let json =
        |text: &str| -> serde_json::Value { serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}")) };
    let yaml = |path: &Path| -> serde_json::Value { serde_yaml::from_slice(&std::fs::read(path).unwrap()).unwrap() };

    // The files a project keeps.
    judge("migrate.schema.json", "migrate.yaml", &yaml(&repo.join("migrate.yaml")));
    let mut assets = 0;
    for step in ["1-initial", "2-feature"] {
        for path in walk(&root().join("fixtures/inventory").join(step).join("assets")) {
            judge("asset.schema.json", &path.display().to_string(), &yaml(&path));
            assets += 1;
        }
    }
    assert!(assets >= 8, "only {assets} assets");

    // What the development side writes.
    let check = env.stdout(&repo, &["check", "--format", "json"], 0);
    judge("check-output.schema.json", "check --format json", &json(&check));
    let plan = env.stdout(&repo, &["plan", "--base", "v1", "--format", "json"], 0);
    judge("plan-output.schema.json", "plan --format json", &json(&plan));
    let base = env.path("base.tar");
    let release = env.path("release.tar");
    env.stdout(&repo, &["export", "--head", "v1", "-o", base.to_str().unwrap()], 0);
    env.stdout(&repo, &["export", "--base", "v1", "--head", "feature", "-o", release.to_str().unwrap()], 0);
    let manifest = env.stdout(&repo, &["inspect", release.to_str().unwrap(), "--format", "json"], 0);
    judge("bundle-manifest.schema.json", "inspect --format json", &json(&manifest));
    let verify = env.stdout(&repo, &["verify", release.to_str().unwrap(), "--format", "json"], 0);
    judge("verify-output.schema.json", "verify --format json", &json(&verify));

    // What the target side writes: a first install, a dry run and a real upgrade, nothing to do.
    let site = env.path("site");
    let site_arg = site.to_str().unwrap();
    let status = env.stdout(&repo, &["status", "--target", site_arg, "--format", "json"], 0);
    judge("status-output.schema.json", "status of a folder that is not a target", &json(&status));
    let import = |bundle: &Path, extra: &[&str]| {
        let mut args = vec!["import", bundle.to_str().unwrap(), "--target", site_arg, "--format", "json"];
        args.extend_from_slice(extra);
        json(&env.stdout(&repo, &args, 0))
    };
    let first = import(&base, &["--env", "prod"]);
    assert_eq!(first["decision"], "initialise", "{first:#}");
    judge("import-output.schema.json", "import --format json", &first);
    let dry = import(&release, &["--dry-run"]);
    assert_eq!((dry["decision"].as_str(), dry["dry_run"].as_bool()), (Some("upgrade"), Some(true)), "{dry:#}");
    judge("import-output.schema.json", "import --dry-run --format json", &dry);
    let receipt = env.path("receipt.json");
    let upgrade = import(&release, &["--receipt", receipt.to_str().unwrap()]);
    assert_eq!(upgrade["migrations"], dry["migrations"], "the dry run said what the import did");
    judge("import-output.schema.json", "import --format json", &upgrade);
    let again = import(&release, &[]);
    assert_eq!(again["decision"], "nothing_to_do", "{again:#}");
    judge("import-output.schema.json", "import --format json with nothing to do", &again);
    judge(
        "state.schema.json",
        ".migrate/state.json",
        &json(&std::fs::read_to_string(site.join(".migrate/state.json")).unwrap()),
    );
    judge("receipt.schema.json", "--receipt", &json(&std::fs::read_to_string(&receipt).unwrap()));
    let status = env.stdout(&repo, &["status", "--target", site_arg, "--format", "json"], 0);
    judge("status-output.schema.json", "status --format json", &json(&status));
    let fleet = env.path("fleet.yaml");
    std::fs::write(
        &fleet,
        format!("version: 1\nwaves: [{{name: all, targets: [{{name: site, folder: '{site_arg}'}}]}}]\n"),
    )
    .unwrap();
    let fleet_status = env.stdout(&repo, &["status", "--fleet", fleet.to_str().unwrap(), "--format", "json"], 0);
    judge("status-fleet-output.schema.json", "status --fleet --format json", &json(&fleet_status));
    judge("fleet.schema.json", "a fleet file", &yaml(&fleet));
    let receipts = env.path("receipts");
    let rollout = env.stdout(
        &repo,
        &[
            "import",
            release.to_str().unwrap(),
            "--fleet",
            fleet.to_str().unwrap(),
            "--env",
            "prod",
            "--receipts",
            receipts.to_str().unwrap(),
            "--format",
            "json",
        ],
        0,
    );
    let rollout = json(&rollout);
    assert_eq!(rollout["waves"][0]["targets"][0]["decision"], "nothing_to_do", "{rollout:#}");
    judge("import-fleet-output.schema.json", "import --fleet --format json", &rollout);

    // And back on the development side, the environment record the receipt goes into.
    env.stdout(&repo, &["env", "record", receipt.to_str().unwrap()], 0);
    let record = std::fs::read_to_string(repo.join("environments/prod.json")).unwrap();
    judge("environment-record.schema.json", "environments/prod.json", &json(&record));
    let shown = env.stdout(&repo, &["env", "show", "prod", "--format", "json"], 0);
    judge("env-show-output.schema.json", "env show --format json", &json(&shown));

    let published: BTreeSet<_> = published_schemas().into_iter().map(|(name, _)| name).collect();
    assert_eq!(judged, published, "every published schema judges a real document");
}
