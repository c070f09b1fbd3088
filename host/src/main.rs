//! The `cally` binary. Everything it does lives in [`cally_host::cli`].

fn main() -> std::process::ExitCode {
    cally_host::cli::main()
}
