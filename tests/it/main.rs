//! The one integration-test binary: a module per command, `common` for the test kit.

mod check;
mod cli;
mod common;
mod connections;
mod discovery;
mod env;
mod examples;
mod export;
mod fleet;
mod histories;
mod hostile;
mod identity;
mod import;
mod plan;
mod progress;
mod regression;
mod release;
mod schemas;
mod select;
mod tenants;
mod verify;
