//! Process-wide allocator tuning.

/// Blocks of 1 MiB and more get a mapping of their own, returned to the OS when freed.
///
/// Each password check allocates argon2's 19 MiB of 64-byte-aligned blocks. After the first
/// such block is freed, glibc's malloc raises its mmap threshold above it and serves the next
/// ones from the heap, where carving aligned blocks fragments it: measured, the server's RSS
/// grew by about 3 MB per login, to 3.3 GB after 5 s of logins at 64 connections. A fixed threshold
/// also turns that dynamic adjustment off. The price: each check now maps and faults in fresh
/// pages, ~30% fewer logins per second (91 -> 64 at two at a time); reusing one buffer per
/// hashing thread would win that back. Call it first thing, before threads start.
pub fn return_large_blocks_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes malloc's tuning; nothing else runs yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
