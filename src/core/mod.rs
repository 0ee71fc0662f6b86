//! The pure core: takes bytes and values, returns values. No file system, git, database,
//! environment, clock or terminal — clippy holds the line (see `clippy.toml`), so every rule here
//! is testable with in-memory data and gives the same answer on every machine. Sources of files
//! are passed in as a `Source` the shell implements.
#![deny(clippy::disallowed_methods, clippy::disallowed_types)]

pub mod bundle;
pub mod catalog;
pub mod check;
pub mod connection;
pub mod decide;
pub mod diff;
pub mod finding;
pub mod fleet;
pub mod hash;
pub mod hazard;
pub mod identity;
pub mod manifest;
pub mod model;
pub mod parallel;
pub mod plan;
pub mod project;
pub mod record;
pub mod redact;
pub mod report;
pub mod rollout;
pub mod select;
pub mod selection;
pub mod snapshot;
pub mod source;
pub mod sql_script;
pub mod sql_split;
pub mod state;
pub mod status;
pub mod verify;
pub mod yaml;
