//! JSON for machines: the `Plan` and `CheckOutput` types are the documents; their JSON Schemas
//! are generated from the same types and published in `schemas/`.

use super::CheckOutput;
use crate::core::plan::Plan;

/// Renders a plan as pretty JSON with a trailing newline.
pub fn plan(plan: &Plan) -> String {
    to_json(plan)
}

/// Renders a check report as pretty JSON with a trailing newline.
pub fn check(report: &CheckOutput) -> String {
    to_json(report)
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Serialising plain data with string keys cannot fail.
    let mut text = serde_json::to_string_pretty(value).expect("report types serialise to JSON");
    text.push('\n');
    text
}

/// Returns the JSON Schemas we publish, by file name under `schemas/`.
pub fn published_schemas() -> Vec<(&'static str, serde_json::Value)> {
    use crate::core::project::ProjectConfig;
    use crate::core::record::{EnvironmentRecord, Receipt};
    let schema = |s: schemars::Schema| s.to_value();
    use crate::core::manifest::Manifest;
    vec![
        ("bundle-manifest.schema.json", schema(schemars::schema_for!(Manifest))),
        ("check-output.schema.json", schema(schemars::schema_for!(CheckOutput))),
        ("environment-record.schema.json", schema(schemars::schema_for!(EnvironmentRecord))),
        ("migrate.schema.json", schema(schemars::schema_for!(ProjectConfig))),
        ("plan-output.schema.json", schema(schemars::schema_for!(Plan))),
        ("receipt.schema.json", schema(schemars::schema_for!(Receipt))),
        ("state.schema.json", schema(schemars::schema_for!(crate::core::state::TargetState))),
        ("status-output.schema.json", schema(schemars::schema_for!(crate::core::status::Status))),
    ]
}
