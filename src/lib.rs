//! `migrate`: plan, bundle and apply SQL migrations and YAML assets kept in git.
//!
//! `core` is pure (bytes and values in, values out); everything else is the shell that touches
//! git, files and the terminal.

pub mod apply;
pub mod archive;
pub mod cli;
pub mod clock;
pub mod core;
pub mod db;
pub mod exit;
pub mod git;
pub mod output;
pub mod progress;
pub mod settings;
pub mod sign;
pub mod target;
pub mod tui;
pub mod worktree;
