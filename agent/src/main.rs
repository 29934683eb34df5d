//! The `plumb` binary: everything lives in the library; this maps its result
//! to an exit code and tunes the allocator, which is the binary's choice.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// In the mimalloc library that the `mimalloc` crate links; the crate itself
// declares it only with its `extended` feature.
extern "C" {
    fn mi_collect(force: bool);
}

/// Turns transparent huge pages off for this process. mimalloc asks for them
/// on its arena, so every 2 MiB it touches (32 MiB with the 16 KiB pages of a
/// Raspberry Pi 5 kernel) becomes resident; measured, a first apply of 300
/// objects peaked at 44 MB with them and at 14 MB without. It runs as a
/// constructor that sorts before mimalloc's own (priority 101), because huge
/// pages that mimalloc faults in before `main` would stay. Failure only means
/// a kernel without THP, so there is nothing to turn off.
#[cfg(target_os = "linux")]
extern "C" fn disable_transparent_huge_pages() {
    extern "C" {
        fn prctl(option: std::ffi::c_int, ...) -> std::ffi::c_int;
    }
    const PR_SET_THP_DISABLE: std::ffi::c_int = 41;
    let (on, unused): (std::ffi::c_ulong, std::ffi::c_ulong) = (1, 0);
    // SAFETY: PR_SET_THP_DISABLE reads its integer arguments and no memory.
    unsafe { prctl(PR_SET_THP_DISABLE, on, unused, unused, unused) };
}

#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array.00100"]
static DISABLE_THP: extern "C" fn() = disable_transparent_huge_pages;

fn main() -> std::process::ExitCode {
    // SAFETY: mi_collect only hands free memory back to the OS.
    plumb::daemon::release_memory_with(|| unsafe { mi_collect(true) });
    plumb::cli::main(std::env::args_os().skip(1).collect())
}
