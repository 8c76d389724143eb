//! A bundle imported into the fixture's world: the whole file (first byte
//! even) or a body wrapped in a valid envelope (odd), so that changes reach
//! the decoder past the checksum. See `dizzy_tests::hostile::fuzz_bundle`.
#![no_main]

use dizzy_tests::hostile::{self, CountingAlloc};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fuzz_target!(|data: &[u8]| {
    CountingAlloc::limit_each(256 << 20);
    hostile::fuzz_bundle(data);
});
