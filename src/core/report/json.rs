//! JSON for machines: each `--format json` document is a type, and the JSON Schemas of those
//! types and of the files users and targets keep are generated from them and published in
//! `schemas/`.

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
    use crate::core::catalog::AssetDocument;
    use crate::core::fleet::FleetFile;
    use crate::core::manifest::Manifest;
    use crate::core::project::ProjectConfig;
    use crate::core::record::{EnvironmentRecord, EnvironmentView, Receipt};
    use crate::core::report::import::ImportReport;
    use crate::core::rollout::Rollout;
    use crate::core::state::TargetState;
    use crate::core::status::{FleetStatus, Status};
    use crate::core::verify::VerifyReport;
    use schemars::schema_for;
    let schema = |s: schemars::Schema| s.to_value();
    vec![
        ("asset.schema.json", schema(schema_for!(AssetDocument))),
        ("bundle-manifest.schema.json", schema(schema_for!(Manifest))),
        ("check-output.schema.json", schema(schema_for!(CheckOutput))),
        ("env-show-output.schema.json", schema(schema_for!(EnvironmentView))),
        ("environment-record.schema.json", schema(schema_for!(EnvironmentRecord))),
        ("fleet.schema.json", schema(schema_for!(FleetFile))),
        ("import-fleet-output.schema.json", schema(schema_for!(Rollout))),
        ("import-output.schema.json", schema(schema_for!(ImportReport))),
        ("migrate.schema.json", schema(schema_for!(ProjectConfig))),
        ("plan-output.schema.json", schema(schema_for!(Plan))),
        ("receipt.schema.json", schema(schema_for!(Receipt))),
        ("state.schema.json", schema(schema_for!(TargetState))),
        ("status-fleet-output.schema.json", schema(schema_for!(FleetStatus))),
        ("status-output.schema.json", schema(schema_for!(Status))),
        ("verify-output.schema.json", schema(schema_for!(VerifyReport))),
    ]
}
