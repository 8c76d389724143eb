//! One snapshot as one object: its record and every chunk row, byte for
//! byte as the file stores them, framed and checksummed, so that an object
//! is either whole or refused.
//!
//! ```text
//! magic      8 bytes  "DZSNAP" 0x00 0x01 (object format 1)
//! id         u64 LE
//! record     u32 LE length, then the record's bytes
//! chunks     u32 LE count, then per chunk:
//!              u16 LE column name length, the name (UTF-8),
//!              u32 LE chunk number, u64 LE length, the chunk's bytes
//! sha256     32 bytes: SHA-256 of everything before it
//! ```

use dizzy_snapshots::{RawChunk, RawSnapshot};
use sha2::{Digest, Sha256};

/// The first bytes of every snapshot object.
const MAGIC: &[u8; 8] = b"DZSNAP\x00\x01";
const DIGEST: usize = 32;

/// Encodes a snapshot as one object.
pub(crate) fn encode(raw: &RawSnapshot) -> Vec<u8> {
    let body: usize = raw
        .chunks
        .iter()
        .map(|c| 2 + c.column.len() + 4 + 8 + c.bytes.len())
        .sum();
    let mut out = Vec::with_capacity(MAGIC.len() + 8 + 4 + raw.record.len() + 4 + body + DIGEST);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&raw.id.to_le_bytes());
    out.extend_from_slice(&(raw.record.len() as u32).to_le_bytes());
    out.extend_from_slice(&raw.record);
    out.extend_from_slice(&(raw.chunks.len() as u32).to_le_bytes());
    for c in &raw.chunks {
        out.extend_from_slice(&(c.column.len() as u16).to_le_bytes());
        out.extend_from_slice(c.column.as_bytes());
        out.extend_from_slice(&c.index.to_le_bytes());
        out.extend_from_slice(&(c.bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(&c.bytes);
    }
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    out
}

/// Whether `raw` can be framed (every length fits its field).
pub(crate) fn fits(raw: &RawSnapshot) -> Result<(), String> {
    if u32::try_from(raw.record.len()).is_err() {
        return Err(format!("snapshot {}: its record is over 4 GiB", raw.id));
    }
    if u32::try_from(raw.chunks.len()).is_err() {
        return Err(format!("snapshot {}: over 2^32 chunks", raw.id));
    }
    match raw
        .chunks
        .iter()
        .find(|c| u16::try_from(c.column.len()).is_err())
    {
        Some(c) => Err(format!(
            "snapshot {}: a column name of {} bytes",
            raw.id,
            c.column.len()
        )),
        None => Ok(()),
    }
}

/// SHA-256 of `bytes`, in hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads the fields of an object in order; every length is checked against
/// what is left, so nothing is allocated beyond the object's own size.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if self.rest.len() < n {
            return Err(format!(
                "truncated: {what} needs {n} bytes, {} are left",
                self.rest.len()
            ));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let bytes = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(bytes);
        Ok(a)
    }

    fn u16(&mut self, what: &str) -> Result<u16, String> {
        self.array(what).map(u16::from_le_bytes)
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> Result<u64, String> {
        self.array(what).map(u64::from_le_bytes)
    }

    fn len(&mut self, n: u64, what: &str) -> Result<&'a [u8], String> {
        let n = usize::try_from(n).map_err(|_| format!("{what}: absurd length {n}"))?;
        self.take(n, what)
    }
}

/// Decodes a snapshot object; `Err` says what is wrong with it. The
/// checksum is verified before anything else is read.
pub(crate) fn decode(bytes: &[u8]) -> Result<RawSnapshot, String> {
    if bytes.len() < MAGIC.len() + DIGEST {
        return Err(format!(
            "{} bytes, too short for a snapshot object",
            bytes.len()
        ));
    }
    if &bytes[..MAGIC.len()] != MAGIC {
        return if bytes.starts_with(&MAGIC[..6]) {
            Err(format!(
                "a snapshot object of format {}, which this build does not read",
                bytes[7]
            ))
        } else {
            Err("not a dizzy snapshot object".to_owned())
        };
    }
    let (body, digest) = bytes.split_at(bytes.len() - DIGEST);
    if Sha256::digest(body).as_slice() != digest {
        return Err("checksum mismatch: the object is damaged or incomplete".to_owned());
    }
    let mut r = Reader {
        rest: &body[MAGIC.len()..],
    };
    let id = r.u64("the snapshot id")?;
    let record_len = r.u32("the record's length")?;
    let record = r.len(u64::from(record_len), "the record")?.to_vec();
    let count = r.u32("the number of chunks")?;
    // Each chunk takes at least 14 bytes: the count cannot reserve more
    // than the object holds.
    let mut chunks = Vec::with_capacity((count as usize).min(r.rest.len() / 14));
    for i in 0..count {
        let name_len = r.u16("a column name's length")?;
        let name = r.len(u64::from(name_len), "a column name")?;
        let column = std::str::from_utf8(name)
            .map_err(|_| format!("chunk {i}: the column name is not UTF-8"))?
            .to_owned();
        let index = r.u32("a chunk number")?;
        let len = r.u64("a chunk's length")?;
        let bytes = r.len(len, "a chunk")?.to_vec();
        chunks.push(RawChunk {
            column,
            index,
            bytes,
        });
    }
    if !r.rest.is_empty() {
        return Err(format!("{} stray bytes after the last chunk", r.rest.len()));
    }
    Ok(RawSnapshot { id, record, chunks })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RawSnapshot {
        RawSnapshot {
            id: 42,
            record: vec![0xff, 2, 9, 9, 9],
            chunks: vec![
                RawChunk {
                    column: "@uid".into(),
                    index: 0,
                    bytes: (0..100u8).collect(),
                },
                RawChunk {
                    column: "particles.position".into(),
                    index: 3,
                    bytes: vec![],
                },
            ],
        }
    }

    #[test]
    fn objects_round_trip() {
        let raw = sample();
        assert!(fits(&raw).is_ok());
        let bytes = encode(&raw);
        assert_eq!(decode(&bytes).unwrap(), raw);
    }

    #[test]
    fn every_truncation_and_flipped_byte_is_refused() {
        let bytes = encode(&sample());
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err(), "truncated to {n}");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x20;
            assert!(decode(&b).is_err(), "byte {i} flipped");
        }
    }

    #[test]
    fn lengths_that_lie_are_errors_not_allocations() {
        // A well-checksummed object whose chunk length claims 2^60 bytes.
        let mut body = MAGIC.to_vec();
        body.extend_from_slice(&1u64.to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(&u32::MAX.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.push(b'x');
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(&(1u64 << 60).to_le_bytes());
        let digest = Sha256::digest(&body);
        body.extend_from_slice(&digest);
        let e = decode(&body).unwrap_err();
        assert!(e.contains("a chunk needs"), "{e}");
        let mut newer = encode(&sample());
        newer[7] = 9;
        assert!(decode(&newer).unwrap_err().contains("format 9"));
        assert_eq!(
            decode(&[0u8; 64]).unwrap_err(),
            "not a dizzy snapshot object"
        );
    }
}
