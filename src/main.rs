//! The scopegate binary: parse the command line and run it (`scopegate::run`).
#![forbid(unsafe_code)]

use clap::Parser;

fn main() -> std::process::ExitCode {
    scopegate::run::main(scopegate::cli::Cli::parse())
}

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
