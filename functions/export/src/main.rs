//! AWS Lambda entry point of the monthly regulator export
//! (`export-scheduled`): the crate's `lambda::run` under
//! `numbering_clients::lambda::start`.

fn main() -> std::process::ExitCode {
    numbering_clients::lambda::start(numbering_export::lambda::run)
}
