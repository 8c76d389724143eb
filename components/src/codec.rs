//! The one module that knows the binary codec.
//!
//! Everything dizzy persists is encoded here with bincode 2.0.1 in its
//! `standard` configuration (little endian, variable-length integers). A
//! different codec would be a new on-disk format version, and only this file
//! would change.
//!
//! Decoding is bounded: a value decoded from `n` bytes may claim at most
//! `16 n` bytes of memory (bincode counts every decoded integer at its
//! in-memory size, up to 16 bytes for one input byte, and allocates a string
//! *before* it reads it, so an absurd length prefix would otherwise allocate
//! whatever it says). The limit follows the length of the input, never a guess.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The codec name recorded in every file and bundle.
pub const CODEC: &str = "bincode-2.0.1-standard";

/// A value could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The value's `Serialize` implementation failed.
    #[error("cannot encode: {0}")]
    Encode(String),
    /// The bytes are not a valid encoding of the expected type.
    #[error("cannot decode: {0}")]
    Decode(String),
}

/// Appends the encoding of `value` to `out`.
pub fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    bincode::serde::encode_into_std_write(value, out, bincode::config::standard())
        .map(|_| ())
        .map_err(|e| CodecError::Encode(e.to_string()))
}

/// Encodes `value` into a new buffer.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    encode_into(value, &mut out)?;
    Ok(out)
}

/// Decodes one value from the front of `input`; returns it and the number of
/// bytes it used.
pub fn decode_prefix<T: DeserializeOwned>(input: &[u8]) -> Result<(T, usize), CodecError> {
    // bincode's limit is a const generic: pick the smallest bucket that holds
    // the input, so that no length prefix can claim more than the input has.
    macro_rules! bucket {
        ($($n:literal),*) => {{
            let len = input.len().saturating_mul(16);
            $(if len <= (1usize << $n) {
                return bincode::serde::decode_from_slice(
                    input,
                    bincode::config::standard().with_limit::<{ 1usize << $n }>(),
                )
                .map_err(|e| CodecError::Decode(e.to_string()));
            })*
            bincode::serde::decode_from_slice(input, bincode::config::standard().with_limit::<{ usize::MAX }>())
                .map_err(|e| CodecError::Decode(e.to_string()))
        }};
    }
    bucket!(12, 16, 20, 24, 28, 32, 36, 40)
}

/// Decodes a value that must use all of `input`.
pub fn decode<T: DeserializeOwned>(input: &[u8]) -> Result<T, CodecError> {
    let (value, used) = decode_prefix(input)?;
    if used != input.len() {
        return Err(CodecError::Decode(format!(
            "{} trailing bytes after the value",
            input.len() - used
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let v = (1u64, "hello".to_string(), vec![1.5f32, 2.5]);
        let bytes = encode(&v).unwrap();
        let back: (u64, String, Vec<f32>) = decode(&bytes).unwrap();
        assert_eq!(v, back);
    }

    #[test]
    fn absurd_string_length_is_rejected_without_allocating_it() {
        // varint marker 0xfd = u64 follows; claim a 2^60-byte string.
        let mut bytes = vec![0xfd];
        bytes.extend_from_slice(&(1u64 << 60).to_le_bytes());
        bytes.extend_from_slice(b"abc");
        let err = decode::<String>(&bytes).unwrap_err();
        assert!(matches!(err, CodecError::Decode(_)), "{err}");
    }

    #[test]
    fn small_integers_claim_more_than_their_encoding() {
        // Each u64 below takes one byte but bincode counts it as eight.
        let v: Vec<u64> = vec![1; 4000];
        let back: Vec<u64> = decode(&encode(&v).unwrap()).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut bytes = encode(&7u32).unwrap();
        bytes.push(0);
        assert!(decode::<u32>(&bytes).is_err());
    }

    #[test]
    fn truncated_input_is_an_error_at_every_offset() {
        let bytes = encode(&("a longer string value", 123_456u64, vec![9u8; 40])).unwrap();
        for cut in 0..bytes.len() {
            assert!(
                decode::<(String, u64, Vec<u8>)>(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
    }
}
