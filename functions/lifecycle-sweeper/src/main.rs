//! AWS Lambda entry point of the scheduled lifecycle sweep
//! (`lifecycle-sweeper`): the crate's `lambda::run` under
//! `numbering_clients::lambda::start`.

fn main() -> std::process::ExitCode {
    numbering_clients::lambda::start(numbering_lifecycle_sweeper::lambda::run)
}
