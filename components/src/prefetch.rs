//! A cache hint for reads of scattered rows.

/// Hints the CPU to load `ptr` into the cache (a no-op elsewhere than
/// x86-64): for reads of scattered rows, a few rows ahead.
#[doc(hidden)]
#[inline(always)]
pub fn prefetch<T>(ptr: Option<*const T>) {
    #[cfg(target_arch = "x86_64")]
    if let Some(p) = ptr {
        // SAFETY: a prefetch never faults, whatever the address.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>())
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}
