//! AWS Lambda entry point of the hot path behind its function URL
//! (`validate-lease`): the crate's `lambda::run` under
//! `numbering_clients::lambda::start`.

fn main() -> std::process::ExitCode {
    numbering_clients::lambda::start(numbering_validate_lease::lambda::run)
}
