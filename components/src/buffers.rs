//! Buffers for encoded chunks, kept between captures.
//!
//! A full snapshot encodes each column into chunk-sized buffers (about
//! 1 MiB each by default; `dizzy_snapshots::CaptureSettings::chunk_bytes`),
//! about 350 of them for a world of 10M small entities. Fresh from the
//! system, each buffer's pages are zero-filled by the kernel on first touch:
//! `perf record` of a 10M capture showed those page faults as 38% of its
//! samples. glibc keeps freed memory of that size for reuse only sometimes
//! (at 1M entities a second capture reused it, at 10M it mostly went back
//! to the system), so the capture's cost grew faster than the world.
//! Measured on one 10M world captured six times in one process, alternately
//! after [`clear`] and not: 44,000–85,000 page faults and 325–482 ms of
//! pause each without kept buffers, 2,900–4,500 faults and 289–337 ms with
//! them.
//!
//! The snapshot writer gives each chunk's buffer back here once redb holds
//! its copy ([`recycle`]), and the next capture takes it again ([`take`]):
//! repeated snapshots of a big world reuse warm memory. What is kept is
//! bounded: buffers of [`MIN_CAPACITY`] to [`MAX_CAPACITY`] bytes of
//! capacity, at most [`KEPT_BYTES`] in all, for the whole process. No
//! more buffers come back than were taken and are still out: a request
//! takes the smallest kept buffer that fits ([`take`]), so the captures
//! that made the buffers find them again, and no capture makes more; a
//! buffer that no capture took during the last [`IDLE_CAPTURES`] full
//! captures is freed ([`capture_started`]). What is kept follows what the
//! captures use now: about the capacity of one full snapshot's chunks per
//! world. A full snapshot sizes each chunk's buffer from a sample of its
//! column's values, a delta from what the column's values took in its last
//! chunk, with a quarter more room when it makes a new one
//! ([`take_with_room`]), so the capacity kept is about 1.3 to 1.6 times
//! the bytes a full snapshot writes (fresh testers' worlds of strings and
//! lists: 1.32 times at every one of 12 full snapshots; 1.57–1.59 with
//! seven components; 1.63–1.84 with deltas of 2 MiB between full
//! snapshots), up to 2.3 times when the values grow by 5–20% before every
//! full snapshot (the buffers made for the last sizes are too small for
//! the next, and wait four full snapshots to be freed).
//! [`clear`] hands them back to the allocator (a program that has written
//! its last snapshot for a while); whether the process's resident memory
//! then falls is the allocator's choice: glibc returned 254 MiB of 340 at a
//! first `clear` in one process, 58–81 MiB at a later one.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// At most this many bytes of capacity are kept, over all kept buffers
/// (512 MiB: the buffers of a full snapshot of 10M of the benchmark's
/// particles, 350 chunks in buffers of 1.25 MiB, are 437 MiB).
pub const KEPT_BYTES: usize = 512 << 20;

/// Smaller requests and buffers are left to the allocator (a delta's
/// buffers, sized for the few values at hand; 64 KiB).
pub const MIN_CAPACITY: usize = 64 << 10;

/// Bigger buffers are not kept (a chunk holding one big value; 4 MiB).
pub const MAX_CAPACITY: usize = 4 << 20;

/// A kept buffer that no capture took during this many full captures in a
/// row (of any world of the process) is freed at the next one (4: a
/// process that captures up to four worlds in turn keeps each one's
/// buffers; with more, a world's buffers are freed before its next full
/// capture, which makes them again, as fresh tester t14m saw with six).
pub const IDLE_CAPTURES: u64 = 4;

/// Kept buffers by (capacity, the full captures started when it was kept,
/// a sequence number): the first one at or past a capacity is the
/// smallest that fits, the last one of its capacity the one kept last.
type Key = (usize, u64, u64);

struct Pool {
    buffers: BTreeMap<Key, Vec<u8>>,
    bytes: usize,
    /// Full captures started so far ([`capture_started`]).
    rounds: u64,
    /// Buffers kept so far: the keys' sequence numbers.
    seq: u64,
    /// Buffers in the kept range handed out by [`take`] and not yet given
    /// back: a buffer given back when none is out (one a capture made by
    /// itself) is freed, so the pool never holds more buffers than the
    /// captures took.
    lent: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    buffers: BTreeMap::new(),
    bytes: 0,
    rounds: 0,
    seq: 0,
    lent: 0,
});

/// The pool, whatever a panicking holder left: every change to it is a
/// single insertion or removal with its byte count, so it is never
/// half-made.
fn pool() -> MutexGuard<'static, Pool> {
    POOL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An empty buffer with room for at least `capacity` bytes: if
/// `capacity` is in the kept range, the smallest kept buffer of at least
/// that capacity (of those, the one kept last, so that buffers the captures
/// no longer need stay untaken and are freed, [`capture_started`]), else a
/// new one with its capacity rounded up to a size class; out of the range,
/// a new one of that capacity.
///
/// Taking the smallest that fits means that the requests of one capture
/// find, at the next, the buffers they made, whatever their order: a
/// request that took a bigger buffer leaves a smaller one that serves the
/// request that would have taken it. Before (any kept buffer big enough),
/// a small request took a chunk-sized buffer, the next chunk made a new
/// one, and what was kept grew at every capture (fresh tester t14k saw it
/// reach [`KEPT_BYTES`] whatever the snapshot's size); with a bound on the
/// size (less than twice the request), a buffer that grew while its chunk
/// was encoded was never taken again (fresh tester t14m: 5 to 12 times a
/// snapshot's bytes kept).
pub fn take(capacity: usize) -> Vec<u8> {
    take_with_room(capacity, capacity)
}

/// As [`take`], but a new buffer gets room for `room` bytes if that is
/// more than `capacity` (at most [`MAX_CAPACITY`]): a request sized from a
/// sample of values that may grow by the next capture (a quarter more, for
/// a full snapshot's columns) then finds again the buffer it made.
pub fn take_with_room(capacity: usize, room: usize) -> Vec<u8> {
    if !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) {
        return Vec::with_capacity(capacity);
    }
    {
        let mut pool = pool();
        pool.lent += 1;
        let smallest = pool
            .buffers
            .range((capacity, 0, 0)..)
            .next()
            .map(|(&(size, _, _), _)| size);
        let fits = smallest.and_then(|size| {
            let mut same = pool
                .buffers
                .range((size, 0, 0)..=(size, u64::MAX, u64::MAX));
            same.next_back().map(|(key, _)| *key)
        });
        if let Some(key) = fits {
            let buffer = pool.buffers.remove(&key).unwrap_or_default();
            pool.bytes -= buffer.capacity();
            return buffer;
        }
    }
    Vec::with_capacity(size_class(room.clamp(capacity, MAX_CAPACITY)))
}

/// `capacity` rounded up to a multiple of an eighth of the next power of
/// two (at most 25% more): requests that differ by a few percent (a full
/// snapshot sizes each buffer for its span of rows, which sampling sets)
/// get buffers of one size, so that each can take the other's. The bytes
/// past what is written are never touched, so they take no memory.
fn size_class(capacity: usize) -> usize {
    let p = capacity.next_power_of_two();
    let (half, step) = (p / 2, (p / 8).max(1));
    half + (capacity - half).div_ceil(step) * step
}

/// Keeps `buffer` for a later [`take`] if its capacity is in the kept
/// range, a buffer [`take`] handed out in that range has not come back yet
/// (this one, or one in its place), and the pool has room for it; frees
/// it otherwise.
pub fn recycle(mut buffer: Vec<u8>) {
    let capacity = buffer.capacity();
    if !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) {
        return;
    }
    buffer.clear();
    let mut pool = pool();
    if pool.lent == 0 {
        return;
    }
    pool.lent -= 1;
    if pool.bytes + capacity <= KEPT_BYTES {
        pool.bytes += capacity;
        pool.seq += 1;
        let key = (capacity, pool.rounds, pool.seq);
        pool.buffers.insert(key, buffer);
    }
}

/// Counts the start of a full capture (the snapshot crate calls it) and
/// frees the kept buffers that no capture has taken since [`IDLE_CAPTURES`]
/// full captures ago: what is kept follows what the process's captures
/// use now, not the biggest snapshot it ever took (a world that shrank, a
/// world no longer captured).
pub fn capture_started() {
    let idle = {
        let mut pool = pool();
        pool.rounds += 1;
        let oldest = pool.rounds.saturating_sub(IDLE_CAPTURES);
        let mut idle = Vec::new();
        let mut freed = 0;
        pool.buffers.retain(|&(capacity, round, _), buffer| {
            let keep = round >= oldest;
            if !keep {
                freed += capacity;
                idle.push(std::mem::take(buffer));
            }
            keep
        });
        pool.bytes -= freed;
        idle
    };
    drop(idle);
}

/// Frees every kept buffer, to the allocator (which may keep the memory
/// for the process rather than give it back to the system); buffers out
/// when it is called are freed when they come back.
pub fn clear() {
    let buffers = {
        let mut pool = pool();
        pool.bytes = 0;
        pool.lent = 0;
        std::mem::take(&mut pool.buffers)
    };
    drop(buffers);
}

/// Bytes of capacity kept now.
pub fn kept_bytes() -> usize {
    pool().bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test: the pool is the process's, and tests run in parallel.
    #[test]
    fn buffers_come_back_within_bounds() {
        clear();
        let a = take(1 << 20);
        assert!(a.capacity() >= 1 << 20);
        let ptr = a.as_ptr();
        recycle(a);
        assert_eq!(kept_bytes(), 1 << 20);
        // A request in range gets the kept buffer, empty.
        let mut b = take(1000 << 10);
        assert_eq!(b.as_ptr(), ptr);
        assert!(b.is_empty());
        assert_eq!(kept_bytes(), 0);
        b.extend_from_slice(&[7; 10]);
        recycle(b);
        assert!(take(1000 << 10).is_empty());

        // Out of range: neither kept nor taken.
        clear();
        let (tiny, huge) = (take(1 << 10), take(MAX_CAPACITY + 1));
        recycle(tiny);
        recycle(huge);
        assert_eq!(kept_bytes(), 0);
        recycle(take(MIN_CAPACITY));
        assert_ne!(take(1 << 10).capacity(), MIN_CAPACITY);
        // A kept buffer too small for the request is left for another.
        assert!(take(2 * MIN_CAPACITY).capacity() >= 2 * MIN_CAPACITY);
        assert_eq!(kept_bytes(), MIN_CAPACITY);

        // Requests a few percent apart get buffers that serve each other.
        clear();
        let small = take(1_070_000);
        assert_eq!(small.capacity(), 1_310_720);
        recycle(small);
        assert_eq!(take(1_180_000).capacity(), 1_310_720);
        assert_eq!(kept_bytes(), 0);
        for (asked, class) in [
            (MIN_CAPACITY, MIN_CAPACITY),
            (MIN_CAPACITY + 1, 80 << 10),
            (1 << 20, 1 << 20),
            ((1 << 20) + 1, 1_310_720),
            (MAX_CAPACITY, MAX_CAPACITY),
        ] {
            assert_eq!(size_class(asked), class, "{asked}");
        }

        // The smallest that fits: a small request leaves a bigger buffer
        // for a big one.
        clear();
        let (big, small) = (take(1 << 20), take(MIN_CAPACITY));
        recycle(big);
        recycle(small);
        assert_eq!(kept_bytes(), (1 << 20) + MIN_CAPACITY);
        assert_eq!(take(MIN_CAPACITY).capacity(), MIN_CAPACITY);
        assert_eq!(take(600 << 10).capacity(), 1 << 20);
        assert_eq!(kept_bytes(), 0);

        // A buffer that grew while its chunk was written is taken again by
        // the request that made it.
        clear();
        let mut grown = take(600 << 10);
        grown.resize(1 << 20, 1);
        assert!(grown.capacity() >= 1 << 20);
        let ptr = grown.as_ptr();
        recycle(grown);
        let again = take(600 << 10);
        assert_eq!(again.as_ptr(), ptr);

        // A new buffer made with room serves a later, bigger request.
        clear();
        let roomy = take_with_room(800 << 10, 1000 << 10);
        assert_eq!(roomy.capacity(), 1 << 20);
        recycle(roomy);
        assert_eq!(take(1000 << 10).capacity(), 1 << 20);
        assert_eq!(
            take_with_room(MAX_CAPACITY, 2 * MAX_CAPACITY).capacity(),
            MAX_CAPACITY
        );

        // No more buffers come back than were taken: one a capture made by
        // itself is kept only in place of one still out.
        clear();
        recycle(Vec::with_capacity(1 << 20));
        assert_eq!(kept_bytes(), 0);
        let out = take(1 << 20);
        recycle(Vec::with_capacity(2 << 20));
        assert_eq!(kept_bytes(), 2 << 20);
        recycle(out);
        assert_eq!(kept_bytes(), 2 << 20);
        // Buffers out at a clear are freed when they come back.
        let out = take(4 << 20);
        clear();
        recycle(out);
        assert_eq!(kept_bytes(), 0);

        // Buffers no capture took for IDLE_CAPTURES full captures are
        // freed; one taken and given back again is kept.
        clear();
        let (big, small) = (take(1 << 20), take(MIN_CAPACITY));
        recycle(big);
        recycle(small);
        for _ in 0..IDLE_CAPTURES {
            capture_started();
            recycle(take(MIN_CAPACITY));
        }
        assert_eq!(kept_bytes(), (1 << 20) + MIN_CAPACITY);
        capture_started();
        assert_eq!(kept_bytes(), MIN_CAPACITY);

        // Of kept buffers of one size, the one kept last is taken: one the
        // captures no longer need stays untaken and is freed.
        clear();
        let (a, b) = (take(1 << 20), take(1 << 20));
        let (unused, used) = (a.as_ptr(), b.as_ptr());
        recycle(a);
        capture_started();
        recycle(b);
        for _ in 0..IDLE_CAPTURES {
            capture_started();
            let again = take(1 << 20);
            assert_eq!(again.as_ptr(), used);
            assert_ne!(again.as_ptr(), unused);
            recycle(again);
        }
        assert_eq!(kept_bytes(), 1 << 20);

        // The bound holds.
        clear();
        let many: Vec<Vec<u8>> = (0..KEPT_BYTES / MAX_CAPACITY + 2)
            .map(|_| take(MAX_CAPACITY))
            .collect();
        for b in many {
            recycle(b);
        }
        assert!(kept_bytes() <= KEPT_BYTES);
        assert!(kept_bytes() > KEPT_BYTES - MAX_CAPACITY);
        clear();
        assert_eq!(kept_bytes(), 0);
    }
}
