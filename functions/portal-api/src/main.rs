//! AWS Lambda entry point of the portal API (`portal-api`).

fn main() -> std::process::ExitCode {
    use numbering_portal_api::{config::Config, lambda};
    numbering_clients::lambda::start(Config::from_env, lambda::run)
}
