//! The `cally` binary, built inside this package so the end-to-end tests can
//! run it as a process (Cargo only hands tests the binaries of their own package).

fn main() -> std::process::ExitCode {
    cally_host::cli::main()
}
