//! `migrate`: plan, bundle and apply SQL migrations and YAML assets kept in git.
//!
//! `core` is pure (bytes and values in, values out); everything else is the shell that touches
//! git, files and the terminal.

pub(crate) mod apply;
pub mod archive;
pub(crate) mod bundle_file;
pub mod cli;
pub(crate) mod clock;
pub mod core;
pub(crate) mod db;
pub(crate) mod exit;
pub(crate) mod fleet_file;
pub(crate) mod git;
pub(crate) mod output;
pub(crate) mod progress;
pub(crate) mod settings;
pub(crate) mod sign;
pub(crate) mod target;
pub(crate) mod tui;
pub(crate) mod worktree;
