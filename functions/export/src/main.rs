//! AWS Lambda entry point of the monthly regulator export
//! (`export-scheduled`), invoked by an EventBridge schedule.

fn main() -> std::process::ExitCode {
    use numbering_export::{config::Config, lambda};
    numbering_clients::lambda::start(Config::from_env, lambda::run)
}
