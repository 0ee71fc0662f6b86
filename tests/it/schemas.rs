//! The published JSON Schemas are generated from the types: `schemas/` must equal what the code
//! generates (set `MIGRATE_UPDATE_SCHEMAS=1` to rewrite them), and every sample under
//! `tests/samples/` must be judged the same by the schema and by the code.

use std::path::Path;

use migrate::core::project::Project;
use migrate::core::record::EnvironmentRecord;
use migrate::core::report::json::published_schemas;

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
            } else {
                panic!("unknown sample kind: {name}");
            };
            assert_eq!(by_schema, expect_valid, "schema on {dir}/{name}");
            assert_eq!(by_code, expect_valid, "code on {dir}/{name}");
            seen += 1;
        }
    }
    assert!(seen >= 8, "only {seen} samples");
}
