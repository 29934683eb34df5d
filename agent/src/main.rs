//! The `plumb` binary: everything lives in the library; this maps its result to an exit code.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    plumb::cli::main(std::env::args_os().skip(1).collect())
}
