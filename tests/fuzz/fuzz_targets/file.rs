//! A whole dizzy file, opened and restored from a scratch path (in
//! `/dev/shm` when there is one). See `dizzy_tests::hostile::fuzz_file`.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use dizzy_tests::hostile::{self, CountingAlloc};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let shm = PathBuf::from("/dev/shm");
        let dir = if shm.is_dir() {
            shm
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("dizzy-fuzz-file-{}.redb", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    // redb may allocate one page buffer of up to 4 GiB for a damaged page
    // number (see `hostile::REDB_PAGE_READ`); run with -rss_limit_mb=6144.
    CountingAlloc::limit_each(hostile::REDB_PAGE_READ);
    hostile::fuzz_file(data, scratch());
});
