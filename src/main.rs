// mimalloc rather than glibc's malloc: a simulator under load allocates the JSON of every
// push on the request path's threads and frees it on the live check's, where glibc spent a
// third of the CPU (docs/performance.md, "The mock server under load").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(cdex_harness::cli::main());
}
