//! AWS Lambda entry point of the portal API (`portal-api`): the crate's `lambda::run` under
//! `numbering_clients::lambda::start`.

fn main() -> std::process::ExitCode {
    numbering_clients::lambda::start(numbering_portal_api::lambda::run)
}
