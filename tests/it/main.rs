//! The one integration-test binary: a module per command, `common` for the test kit.

mod check;
mod cli;
mod common;
mod plan;
mod schemas;
