//! AWS Lambda entry point of the bucket-triggered lease import (`import-s3`).

fn main() -> std::process::ExitCode {
    use numbering_import::{config::Config, lambda};
    numbering_clients::lambda::start(Config::from_env, lambda::run)
}
