//! The `rapport` binary: parse the command line, load settings, start tracing, run.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    rapport::memory::limit_arenas();
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
            // The operator at the terminal needs the database's own words (a migration or
            // distribution that failed says why); the HTTP service never shows them.
            let mut message = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                let cause_text = cause.to_string();
                if !message.ends_with(&cause_text) {
                    message.push_str(": ");
                    message.push_str(&cause_text);
                }
                source = cause.source();
            }
            eprintln!("rapport: {message}");
            ExitCode::FAILURE
        }
    }
}
