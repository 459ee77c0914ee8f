//! The `rapport` binary: parse the command line, load settings, start tracing, run.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = rapport::cli::Cli::parse();
    let settings = match rapport::config::Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("rapport: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    rapport::telemetry::init(settings.log_format);
    match rapport::cli::run(cli, settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rapport: {error}");
            ExitCode::FAILURE
        }
    }
}
