//! `loyalty`: the membership engine's one binary.

/// jemalloc instead of glibc's allocator, for SQLite's allocations as well as Rust's (its
/// `malloc` is the process's): the import allocates and frees millions of small values per
/// batch, and glibc's chunk consolidation was a fifth of its profile (BENCHMARKS.md, run I).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    loyalty::cli::main()
}
