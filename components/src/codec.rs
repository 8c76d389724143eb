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
    /// The type's `Deserialize` refused a value the bytes hold (a
    /// `NonZeroU8` given 0, a check of its own, an enum variant it does not
    /// have): the bytes are well formed, the type is not the one that wrote
    /// them.
    #[error("the type's `Deserialize` refuses a stored value: {0}")]
    Refused(String),
}

/// What serde asks of a format that bincode is not (self-describing), in
/// the words of the serde attributes that ask it.
const NOT_SELF_DESCRIBING: &str = "the codec (bincode) is not self-describing: `#[serde(flatten)]`, \
     `#[serde(tag = ...)]`, `#[serde(untagged)]` and types such as `serde_json::Value` cannot be \
     stored; use plain fields and externally tagged enums";

/// An encoding error, explained when it is one of serde's features the
/// codec lacks.
pub(crate) fn encode_failed(e: bincode::error::EncodeError) -> CodecError {
    use bincode::serde::EncodeError as Serde;
    match e {
        bincode::error::EncodeError::Serde(Serde::SequenceMustHaveLength) => {
            CodecError::Encode(format!(
                "a sequence or map of unknown length (`serialize_map(None)`): {NOT_SELF_DESCRIBING}"
            ))
        }
        e => CodecError::Encode(e.to_string()),
    }
}

/// A decoding error, explained when it is one of serde's features the
/// codec lacks.
pub(crate) fn decode_failed(e: bincode::error::DecodeError) -> CodecError {
    use bincode::serde::DecodeError as Serde;
    let call = match &e {
        bincode::error::DecodeError::Serde(Serde::AnyNotSupported) => "deserialize_any",
        bincode::error::DecodeError::Serde(Serde::IdentifierNotSupported) => {
            "deserialize_identifier"
        }
        bincode::error::DecodeError::Serde(Serde::IgnoredAnyNotSupported) => {
            "deserialize_ignored_any"
        }
        bincode::error::DecodeError::OtherString(reason) => {
            return CodecError::Refused(reason.clone());
        }
        _ => return CodecError::Decode(e.to_string()),
    };
    CodecError::Decode(format!(
        "the type's `Deserialize` calls `{call}`: {NOT_SELF_DESCRIBING}"
    ))
}

/// Appends the encoding of `value` to `out`.
///
/// # Errors
/// `value`'s `Serialize` fails ([`CodecError::Encode`]); `out` may hold part of
/// it.
pub fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    bincode::serde::encode_into_writer(value, Append(out), bincode::config::standard())
        .map_err(encode_failed)
}

/// A buffer as a bincode writer (appending, no `io::Write` detour).
struct Append<'a>(&'a mut Vec<u8>);

impl bincode::enc::write::Writer for Append<'_> {
    #[inline(always)]
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

/// Encodes `value` into a new buffer.
///
/// # Errors
/// `value`'s `Serialize` fails ([`CodecError::Encode`]).
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    encode_into(value, &mut out)?;
    Ok(out)
}

/// Decodes one value from the front of `input`; returns it and the number of
/// bytes it used.
///
/// # Errors
/// The bytes are not a value of `T` (truncated, invalid, or a length prefix
/// beyond the input).
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
                .map_err(decode_failed);
            })*
            bincode::serde::decode_from_slice(input, bincode::config::standard().with_limit::<{ usize::MAX }>())
                .map_err(decode_failed)
        }};
    }
    bucket!(12, 16, 20, 24, 28, 32, 36, 40)
}

/// Decodes `rows` values laid end to end that must use all of `input`,
/// handing each to `each`. One decoder reads the whole run (faster than
/// [`decode_prefix`] per value); together the values may claim at most
/// `16 n` bytes of memory for `n` bytes of input.
///
/// # Errors
/// A value does not decode, fewer than `rows` values fit, or bytes are left
/// over.
pub fn decode_rows<T: DeserializeOwned>(
    input: &[u8],
    rows: usize,
    mut each: impl FnMut(T),
) -> Result<(), CodecError> {
    use bincode::de::DecoderImpl;
    use bincode::serde::OwnedSerdeDecoder;
    let mut tail = Tail(input);
    macro_rules! run {
        ($config:expr) => {{
            let mut decoder = OwnedSerdeDecoder::<DecoderImpl<&mut Tail<'_>, _, ()>>::from_reader(
                &mut tail, $config,
            );
            for _ in 0..rows {
                let value = T::deserialize(decoder.as_deserializer()).map_err(decode_failed)?;
                each(value);
            }
        }};
    }
    macro_rules! bucket {
        ($($n:literal),*) => {{
            let len = input.len().saturating_mul(16);
            $(if len <= (1usize << $n) {
                run!(bincode::config::standard().with_limit::<{ 1usize << $n }>())
            } else)* {
                run!(bincode::config::standard().with_limit::<{ usize::MAX }>())
            }
        }};
    }
    bucket!(12, 16, 20, 24, 28, 32, 36, 40);
    match tail.0.len() {
        0 => Ok(()),
        left => Err(CodecError::Decode(format!(
            "{left} bytes left after {rows} values"
        ))),
    }
}

/// The unread part of an input, as a bincode reader.
struct Tail<'a>(&'a [u8]);

impl bincode::de::read::Reader for Tail<'_> {
    #[inline(always)]
    fn read(&mut self, bytes: &mut [u8]) -> Result<(), bincode::error::DecodeError> {
        let Some((head, rest)) = self.0.split_at_checked(bytes.len()) else {
            return Err(bincode::error::DecodeError::UnexpectedEnd {
                additional: bytes.len() - self.0.len(),
            });
        };
        bytes.copy_from_slice(head);
        self.0 = rest;
        Ok(())
    }
    #[inline]
    fn peek_read(&mut self, n: usize) -> Option<&[u8]> {
        self.0.get(..n)
    }
    #[inline]
    fn consume(&mut self, n: usize) {
        self.0 = self.0.get(n..).unwrap_or_default();
    }
}

/// Decodes a value that must use all of `input`.
///
/// # Errors
/// The bytes are not a value of `T`, or bytes are left over after it.
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
    fn rows_decode_end_to_end_and_must_use_all_of_the_input() {
        let values: Vec<String> = (0..300).map(|i| format!("value {i}")).collect();
        let mut bytes = Vec::new();
        for v in &values {
            encode_into(v, &mut bytes).unwrap();
        }
        let mut back = Vec::new();
        decode_rows::<String>(&bytes, values.len(), |v| back.push(v)).unwrap();
        assert_eq!(back, values);
        // One row too many, one too few, and every truncation.
        assert!(decode_rows::<String>(&bytes, values.len() + 1, |_| {}).is_err());
        let err = decode_rows::<String>(&bytes, values.len() - 1, |_| {}).unwrap_err();
        assert!(
            err.to_string().contains("bytes left after 299 values"),
            "{err}"
        );
        for cut in 0..bytes.len() {
            assert!(decode_rows::<String>(&bytes[..cut], values.len(), |_| {}).is_err());
        }
    }

    #[test]
    fn rows_with_an_absurd_length_are_rejected_without_allocating_it() {
        let mut bytes = encode(&"fine".to_string()).unwrap();
        bytes.push(0xfd);
        bytes.extend_from_slice(&(1u64 << 60).to_le_bytes());
        bytes.extend_from_slice(b"abc");
        let err = decode_rows::<String>(&bytes, 2, |_| {}).unwrap_err();
        assert!(matches!(err, CodecError::Decode(_)), "{err}");
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
