fn main() {
    std::process::exit(cdex_harness::cli::main());
}
