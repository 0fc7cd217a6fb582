//! AWS Lambda entry point of the admin API (`admin-api`): the crate's `lambda::run` under
//! `numbering_clients::lambda::start`.

fn main() -> std::process::ExitCode {
    numbering_clients::lambda::start(numbering_admin_api::lambda::run)
}
