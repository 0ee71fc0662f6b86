//! `manifest.json` as a bundle carries it. Errors are expected; a panic is a finding, and so is a
//! manifest that parses but whose own serialisation does not parse back to the same manifest.
#![no_main]

use libfuzzer_sys::fuzz_target;
use migrate::core::manifest::Manifest;

fuzz_target!(|data: &[u8]| {
    let Ok(manifest) = Manifest::parse(data) else { return };
    let _ = manifest.trusted_comment();
    let again = Manifest::parse(&manifest.to_bytes()).expect("a parsed manifest's bytes parse again");
    assert_eq!(again, manifest, "a parsed manifest round-trips through its bytes");
});
