//! The YAML the project reads: an asset file (`catalog::parse_asset`, through `yaml::parse_data`
//! and its fast paths) and the project file `migrate.yaml` (`Project::parse`, through
//! `yaml::parse::<ProjectConfig>` and its validation). Errors are expected; a panic, abort,
//! timeout or running out of memory is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use migrate::core::catalog;
use migrate::core::model::ItemId;
use migrate::core::project::Project;
use migrate::core::yaml;

fuzz_target!(|data: &[u8]| {
    // `migrate.yaml` is read from bytes: UTF-8 and NUL checks, BOM and CRLF normalisation included.
    let _ = Project::parse("migrate.yaml", "", data);
    let Ok(text) = catalog::normalised_text("assets/query/a.yaml", data) else { return };
    let _ = yaml::parse_data(&text);
    let id = ItemId::parse("query/a").expect("a plain identity");
    if let Ok(asset) = catalog::parse_asset(&id, "assets/query/a.yaml", &text) {
        let _ = asset.semantic_hash();
        let _ = asset.content_key();
    }
});
