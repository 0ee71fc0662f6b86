//! The pure core: takes bytes and values, returns values. No file system, git, database,
//! environment, clock or terminal — clippy holds the line (see `clippy.toml`), so every rule here
//! is testable with in-memory data and gives the same answer on every machine. Sources of files
//! are passed in as a `Source` the shell implements.
#![deny(clippy::disallowed_methods, clippy::disallowed_types)]

pub(crate) mod bookkeeping;
pub(crate) mod bundle;
pub mod catalog;
pub(crate) mod check;
pub(crate) mod connection;
pub(crate) mod decide;
pub(crate) mod diff;
pub(crate) mod finding;
pub(crate) mod fleet;
pub mod hash;
pub mod hazard;
pub(crate) mod identity;
pub mod manifest;
pub mod model;
pub(crate) mod parallel;
pub(crate) mod plan;
pub mod project;
pub mod record;
pub(crate) mod redact;
pub mod report;
pub(crate) mod rollout;
pub(crate) mod select;
pub(crate) mod selection;
pub(crate) mod snapshot;
pub(crate) mod source;
pub(crate) mod sql_script;
pub mod sql_split;
pub(crate) mod state;
pub(crate) mod status;
pub mod verify;
pub mod yaml;
