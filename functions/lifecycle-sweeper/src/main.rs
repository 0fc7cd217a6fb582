//! AWS Lambda entry point of the scheduled lifecycle sweep (`lifecycle-sweeper`).

fn main() -> std::process::ExitCode {
    use numbering_lifecycle_sweeper::{config::Config, lambda};
    numbering_clients::lambda::start(Config::from_env, lambda::run)
}
