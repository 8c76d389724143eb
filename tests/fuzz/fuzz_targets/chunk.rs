//! One chunk of the fixture file (first byte: which), replaced and restored:
//! chunk framing and column decoding. See `dizzy_tests::hostile::fuzz_chunk`.
#![no_main]

use dizzy_tests::hostile::{self, CountingAlloc};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fuzz_target!(|data: &[u8]| {
    CountingAlloc::limit_each(256 << 20);
    hostile::fuzz_chunk(data);
});
