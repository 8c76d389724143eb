//! A snapshot record (`dizzy.snapshots` value), decoded and then restored
//! against the fixture's real chunks. See `dizzy_tests::hostile::fuzz_meta`.
#![no_main]

use dizzy_tests::hostile::{self, CountingAlloc};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fuzz_target!(|data: &[u8]| {
    CountingAlloc::limit_each(256 << 20);
    hostile::fuzz_meta(data);
});
