use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = migrate::cli::Cli::parse();
    migrate::cli::run(cli, std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()))
}
