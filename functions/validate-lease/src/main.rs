//! AWS Lambda entry point of the hot path over its function URL (`validate-lease`).

fn main() -> std::process::ExitCode {
    use numbering_validate_lease::{config::Config, lambda};
    numbering_clients::lambda::start(Config::from_env, lambda::run)
}
