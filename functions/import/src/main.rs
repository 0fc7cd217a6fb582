//! AWS Lambda entry point of the bucket-triggered lease import
//! (`import-s3`): the crate's `lambda::run` under
//! `numbering_clients::lambda::start`.

fn main() -> std::process::ExitCode {
    numbering_clients::lambda::start(numbering_import::lambda::run)
}
