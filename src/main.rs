use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 3's option enum (the `libmimalloc-sys` crate names only
/// some of them).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Parsing 100,000 assets frees and reallocates the YAML parser's buffers constantly; with
    // mimalloc's default 10 ms purge the kernel zeroed gigabytes of re-faulted pages (a fifth of
    // an export's time). Never purging kept every phase's memory to the end instead: an export
    // of a 56 MB migration peaked at 258 MB rather than 174 MB. A second keeps the pages a busy
    // phase reuses (the 100,000-asset export is 3 % slower than never) and returns what a
    // finished phase let go.
    // SAFETY: sets a plain integer option before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000) };
    let cli = migrate::cli::Cli::parse();
    migrate::cli::run(cli, std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()))
}
