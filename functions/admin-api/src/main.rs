//! AWS Lambda entry point of the admin API (`admin-api`).

fn main() -> std::process::ExitCode {
    use numbering_admin_api::{config::Config, lambda};
    numbering_clients::lambda::start(Config::from_env, lambda::run)
}
