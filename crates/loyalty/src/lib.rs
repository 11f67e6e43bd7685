//! The Loyalty engine as a library: the binary `loyalty` is a thin `main` over [`cli::main`];
//! tests and benchmarks build the same app through [`cli::app`].

pub mod bench;
pub mod bench_tiers;
pub mod cache;
pub mod cli;
pub mod engine;
pub mod http;
pub mod import;
pub mod insight;
pub mod jobs;
