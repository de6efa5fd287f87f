//! `vibectl-server` entry point: parse, run the command, map an error to exit status 1.
use std::process::ExitCode;

use clap::Parser;
use vibectl_server::cli::Cli;
use vibectl_server::commands;

fn main() -> ExitCode {
    match commands::run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
