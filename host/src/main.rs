fn main() -> std::process::ExitCode {
    numbering::cli::main()
}
