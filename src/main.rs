fn main() -> std::process::ExitCode {
    fluxloop::run()
}
