//! The process's allocator, tuned for training or for serving: an opt-in for the program, since it
//! is process-wide and a library should not change it behind its caller's back.

/// Keeps memory that training frees for the next step instead of handing it back to the kernel.
///
/// A training step allocates and frees dozens of tensors of megabytes. glibc's malloc serves such
/// blocks with mmap or trims them off its heap when freed, so each step page-faults its
/// activations in again: the kernel zeroing pages took 7.5 % of a profile of mnist_cnn's step.
/// Raising the mmap threshold to its ceiling (32 MiB) and the trim threshold to 1 GiB keeps
/// freed blocks on the heap, which shortens a tract step by a tenth to a third
/// (`cargo bench --bench train_step`). The resident size stays at the largest step's needs until the process
/// ends, as in Keras. Elsewhere than glibc this does nothing.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes two thresholds of the allocator; it is called before training
    // allocates and is safe to call at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// Hands memory a server frees back to the kernel: request bodies and their tensors, megabytes each
/// and gone when the answer is sent, should not stay resident after a burst. glibc raises its mmap
/// threshold each time an mmapped block is freed (up to 32 MiB), after which such blocks come from
/// the heap and stay there; fixing the threshold at 1 MiB keeps every large block mmapped and
/// returned on free. Elsewhere than glibc this does nothing.
pub fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a threshold of the allocator, and is safe to call at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
