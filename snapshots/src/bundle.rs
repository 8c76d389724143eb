//! Bundles: a piece of one world, sent to another.
//!
//! A bundle is a single self-contained file: a header (magic, format
//! version, codec), the schemas of the components it carries, their values
//! (entity references stored as uids, as in snapshots) and a checksum of all
//! of it. [`export`] cuts a selection of entities out of a world — with the
//! entities they reference, transitively, unless told not to; [`import`]
//! brings a bundle into a world all or nothing: every byte is checked and
//! every value decoded before the world is touched.
//!
//! Values of components this build does not register travel too: a world
//! restored with [`Unknown::Keep`](crate::restore::Unknown::Keep) holds them byte for byte ([`Kept`](crate::kept::Kept)), and
//! [`export`] carries them with the schema (and shape) their file recorded.
//! [`import_with`] decodes them in an app that registers the type; an app
//! that does not refuses them, drops them or keeps them, as its
//! [`Unknown`](crate::restore::Unknown) policy says.
//!
//! Layout (little endian):
//!
//! | bytes | what |
//! |---|---|
//! | 8 | magic `DIZZYBDL` |
//! | 4 | bundle format version (2; 1 is still read) |
//! | 4 | codec name length `n` (at most 64) |
//! | n | codec name, UTF-8 |
//! | 8 | body length `b` |
//! | b | body: the [`BundleBody`], encoded with the codec |
//! | 8 | CRC-64/XZ of everything before, `u64` (format 1: 32 bytes, SHA-256) |

use dizzy_components::{RefPolicy, codec, is_valid_uid};
use serde::{Deserialize, Serialize};

use crate::checksum::{Crc64, Sha256};
use crate::format::Schema;

mod export;
mod import;

pub use export::export;
pub(crate) use import::keyed_chunk;
pub use import::{ImportOptions, Imported, check_import, import, import_with};

const MAGIC: &[u8; 8] = b"DIZZYBDL";
/// The bundle format version this build writes (and the newest it reads).
pub const BUNDLE_VERSION: u32 = 2;

/// The body of a bundle.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct BundleBody {
    /// The schemas of the components carried.
    pub schemas: Vec<Schema>,
    /// Every entity carried, by uid (some may carry no component).
    pub uids: Vec<u64>,
    /// Per component: its stable name and one keyed chunk (values, then uids).
    pub columns: Vec<(String, Vec<u8>)>,
    /// Where it came from (a file and snapshot, informative).
    pub source: String,
}

/// Which entities to export.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Selection {
    /// These uids.
    Uids(Vec<u64>),
    /// Every entity with this component (stable name).
    With(String),
    /// Every entity of this correlation (see `dizzy_components::CorrelationId`).
    Correlation(u64),
}

/// A bundle could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// A selected uid is not in the world.
    #[error("uid {0} is not in the world")]
    UnknownUid(u64),
    /// A tool (`dizzy::App::as_tool`, the app's own command line) built
    /// from older code than the file's read values with fields its type
    /// does not read: a bundle of them would lack those fields.
    #[error(
        "`{component}` is stored with field(s) `{fields}` that this build's type does not read (it is older than the code that wrote the file): a bundle made by this tool would lack them in every value; nothing was exported. Use a build of the file's current code"
    )]
    FieldsNotRead {
        /// The component's stable name.
        component: String,
        /// The fields, `Struct.field`.
        fields: String,
    },
    /// The component filter names a component that is neither registered
    /// nor kept (from a file, see [`Kept`](crate::kept::Kept)).
    #[error(
        "`{0}` is not a registered component, and the world keeps no values of it from its file"
    )]
    UnknownComponent(String),
    /// Nothing matched the selection.
    #[error("the selection is empty")]
    Empty,
    /// A reference leaves the selection (without the closure) under `RefPolicy::Fail`.
    #[error(
        "`{component}` of uid {holder} references an entity outside the selection; export with its closure, or drop such references"
    )]
    Dangling {
        /// The component's stable name.
        component: String,
        /// The referencing uid.
        holder: u64,
    },
    /// A value of a type this build does not register (kept from the
    /// file) references an entity the bundle would not carry; such a value
    /// cannot be rewritten here, so the reference cannot be dropped.
    #[error(
        "`{component}` of uid {holder} references uid {target}, outside the selection, and this build does not register `{component}` to drop the reference; export with the closure"
    )]
    KeptDangling {
        /// The component's stable name.
        component: String,
        /// The referencing uid.
        holder: u64,
        /// The uid outside the selection.
        target: u64,
    },
    /// Values of a type this build does not register (kept from the file)
    /// are stored at two schemas, which only a build that registers the
    /// type can bring to one.
    #[error(
        "values of `{component}`, a type this build does not register, are stored at {schemas}: this build cannot bring them to one (only a build that registers the type upgrades its values), and a bundle holding both under one schema would not decode; export with the app that registers `{component}`"
    )]
    KeptMixed {
        /// The component's stable name.
        component: String,
        /// The two schemas, "version 1 and version 2".
        schemas: String,
    },
    /// A value could not be encoded.
    #[error("`{component}`: {source}")]
    Codec {
        /// The component's stable name.
        component: String,
        /// The codec's error.
        source: dizzy_components::CodecError,
    },
    /// User code (a `Serialize`, `Deserialize` or `map_entities`) panicked;
    /// the world is as it was.
    #[error(
        "a value's `Serialize` (or `Deserialize`, `map_entities`) panicked while exporting: {0}"
    )]
    Panicked(String),
}

/// A bundle was refused; the target is unchanged (but after
/// [`ImportError::Panicked`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The bytes are not a valid bundle (truncated, corrupt, hostile).
    #[error("not a valid bundle: {0}")]
    Invalid(String),
    /// The bundle file cannot be read, or is not a regular file of a
    /// plausible size.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// Written by a newer dizzy.
    #[error("bundle format {found}; this build reads formats up to {supported}")]
    NewerFormat {
        /// The bundle's version.
        found: u32,
        /// The newest this build reads.
        supported: u32,
    },
    /// Encoded with a codec this build does not have.
    #[error("bundle encoded with codec `{0}`; this build has `{supported}`", supported = codec::CODEC)]
    UnknownCodec(String),
    /// A component this build does not register (with [`Unknown::Fail`](crate::restore::Unknown::Fail)).
    #[error(
        "the bundle carries `{0}`, which this build does not register (register it, or import with the unknown-components policy skip or keep)"
    )]
    Unregistered(String),
    /// A component this build does not register, to keep, without the
    /// shape that keeping needs.
    #[error(
        "the bundle carries `{0}`, which this build does not register and cannot keep (the bundle records no shape for it)"
    )]
    Unkeepable(String),
    /// A kept value (of a type this build does not register) references
    /// an entity whose uid the import changes: its bytes cannot be
    /// rewritten here.
    #[error(
        "`{component}` of uid {holder} references uid {target}, which is taken in this world and would get a new uid; this build does not register `{component}` to rewrite the reference (register it, or import with on-conflict skip or replace)"
    )]
    KeptRemapped {
        /// The component's stable name.
        component: String,
        /// The referencing uid (in the bundle).
        holder: u64,
        /// The referenced uid (in the bundle).
        target: u64,
    },
    /// The bundle's values of a type this build does not register are at
    /// another schema than the world's kept values of it: written
    /// together under one schema, one or the other would not decode.
    #[error(
        "`{component}`, a type this build does not register, is at {schemas} in the bundle and the world: this build cannot bring them to one (only a build that registers the type upgrades its values); import with the app that registers `{component}`"
    )]
    KeptSchema {
        /// The component's stable name.
        component: String,
        /// The two schemas, "version 1 and version 2".
        schemas: String,
    },
    /// A stored version without a migration.
    #[error(transparent)]
    Version(#[from] dizzy_components::UpgradeError),
    /// A uid of the bundle is already in the world (`OnConflict::Fail`).
    #[error("uid {0} of the bundle is already in the world (on conflict: fail)")]
    Conflict(u64),
    /// A reference to an entity neither in the bundle nor kept.
    #[error(
        "`{component}` of uid {holder} references uid {target}, which the bundle does not carry"
    )]
    Dangling {
        /// The component's stable name.
        component: String,
        /// The referencing uid.
        holder: u64,
        /// The missing uid.
        target: u64,
    },
    /// A value does not decode.
    #[error("`{component}`: {reason}")]
    Corrupt {
        /// The component's stable name.
        component: String,
        /// What is wrong.
        reason: String,
    },
    /// User code (a hook or an observer of the bundle's components)
    /// panicked while the values went in: the world holds part of the
    /// bundle. A `dizzy::Runtime` that sees this refuses further ticks and
    /// snapshots, so no file ever holds the half-imported world.
    #[error("a hook or an observer panicked while the bundle's values went in: {0}")]
    Panicked(String),
    /// A tool (`dizzy::App::as_tool`, the app's own command line) built
    /// from older code than the bundle's: the bundle's values hold fields its type does not read,
    /// which every value would lose.
    #[error(
        "`{component}`: the bundle's values hold field(s) `{fields}` that this build's type does not read (it is older than the code that wrote the bundle): importing would lose them from every value; nothing was imported. Use a build of the bundle's code"
    )]
    FieldsNotRead {
        /// The component's stable name.
        component: String,
        /// The fields, `Struct.field`.
        fields: String,
    },
}

/// What to do when a uid of the bundle is already in the target world.
///
/// A uid that the target world handed out and no entity holds any more
/// (its entity left) is not a conflict: it is never given again, so the
/// imported entity gets a fresh uid under every policy
/// ([`dizzy_components::Uids::never_given`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OnConflict {
    /// Give the imported entity a fresh uid (default); references follow.
    #[default]
    Remap,
    /// Do not import it; references to it point at the existing entity.
    Skip,
    /// Import into the existing entity: the bundle's values overwrite its
    /// components of the same types.
    Replace,
    /// Refuse the whole import.
    Fail,
}

impl std::str::FromStr for OnConflict {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "remap" => Ok(OnConflict::Remap),
            "skip" => Ok(OnConflict::Skip),
            "replace" => Ok(OnConflict::Replace),
            "fail" => Ok(OnConflict::Fail),
            _ => Err(format!("`{s}`: expected remap, skip, replace or fail")),
        }
    }
}

/// How to export.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// Carry everything the selection references, transitively (default).
    pub closure: bool,
    /// References that leave the selection (without the closure): fail or drop.
    pub refs: RefPolicy,
    /// Where the world came from, recorded in the bundle.
    pub source: String,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            closure: true,
            refs: RefPolicy::Fail,
            source: String::new(),
        }
    }
}

/// What an export carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exported {
    /// The bundle's bytes.
    pub bytes: Vec<u8>,
    /// Uids carried.
    pub entities: usize,
    /// Component names carried.
    pub components: Vec<String>,
}

/// Encodes a bundle body into a bundle file's bytes (bundle format
/// [`BUNDLE_VERSION`], with a CRC-64 of everything before it).
///
/// # Errors
/// A value of the body does not encode.
pub fn write(body: &BundleBody) -> Result<Vec<u8>, dizzy_components::CodecError> {
    Ok(envelope(&codec::encode(body)?))
}

/// A bundle file's bytes around an encoded body: header, body, checksum.
pub(crate) fn envelope(encoded: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded.len() + 96);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&BUNDLE_VERSION.to_le_bytes());
    out.extend_from_slice(&(codec::CODEC.len() as u32).to_le_bytes());
    out.extend_from_slice(codec::CODEC.as_bytes());
    out.extend_from_slice(&(encoded.len() as u64).to_le_bytes());
    out.extend_from_slice(encoded);
    let mut crc = Crc64::new();
    crc.update(&out);
    out.extend_from_slice(&crc.finish().to_le_bytes());
    out
}

/// The most bytes any bundle header takes (magic, version, codec name of at
/// most 64 bytes, body length): [`check_header`] needs no more than this.
pub const BUNDLE_HEADER_MAX: usize = 8 + 4 + 4 + 64 + 8;

/// The length of the checksum that ends a bundle of format `version`.
fn trailer_len(version: u32) -> usize {
    if version == 1 { 32 } else { 8 }
}

/// A bundle's header, checked against the bundle's whole length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleHeader {
    /// The bundle format version.
    pub version: u32,
    /// The codec's name.
    pub codec: String,
    /// Where the body starts.
    pub body_start: usize,
    /// The body's length in bytes.
    pub body_len: u64,
}

/// Checks a bundle's header from its first bytes (`prefix`, up to
/// [`BUNDLE_HEADER_MAX`] of them) and the bundle's total length, before
/// anything else is read: the magic, the format version, the codec name,
/// and a body length that accounts for every byte. A file that is not a
/// bundle, or claims a body it does not hold, costs nothing more.
///
/// # Errors
/// [`ImportError::Invalid`] naming what is wrong, [`ImportError::NewerFormat`].
pub fn check_header(prefix: &[u8], total: u64) -> Result<BundleHeader, ImportError> {
    let bad = |m: &str| ImportError::Invalid(m.to_owned());
    if total < 8 + 4 + 4 + 8 + 8 || prefix.len() < 16 {
        return Err(ImportError::Invalid(format!(
            "{total} bytes is shorter than any bundle"
        )));
    }
    if &prefix[..8] != MAGIC {
        return Err(bad("it does not start with the bundle magic (DIZZYBDL)"));
    }
    let u32_at =
        |i: usize| u32::from_le_bytes([prefix[i], prefix[i + 1], prefix[i + 2], prefix[i + 3]]);
    let version = u32_at(8);
    if version == 0 {
        return Err(bad("bundle format 0"));
    }
    if version > BUNDLE_VERSION {
        return Err(ImportError::NewerFormat {
            found: version,
            supported: BUNDLE_VERSION,
        });
    }
    let trailer = trailer_len(version) as u64;
    let n = u32_at(12) as usize;
    if n > 64 {
        return Err(ImportError::Invalid(format!(
            "a codec name of {n} bytes (at most 64: corrupt)"
        )));
    }
    if (16 + n + 8) as u64 + trailer > total || prefix.len() < 16 + n + 8 {
        return Err(ImportError::Invalid(format!(
            "{total} bytes end inside its header (a codec name of {n} bytes, then the body's length and its checksum): truncated"
        )));
    }
    let codec = std::str::from_utf8(&prefix[16..16 + n])
        .map_err(|_| bad("the codec name is not UTF-8"))?
        .to_owned();
    let at = 16 + n;
    let mut len = [0u8; 8];
    len.copy_from_slice(&prefix[at..at + 8]);
    let body_len = u64::from_le_bytes(len);
    let body_start = at + 8;
    let expected = total - body_start as u64 - trailer;
    if body_len != expected {
        return Err(ImportError::Invalid(format!(
            "the header announces a body of {body_len} bytes, the file holds {expected} (truncated or corrupt)"
        )));
    }
    Ok(BundleHeader {
        version,
        codec,
        body_start,
        body_len,
    })
}

/// Whether `trailer` is the checksum of `content` for a bundle of format
/// `version` (SHA-256 for format 1, CRC-64/XZ after).
fn checksum_matches(version: u32, content: &[u8], trailer: &[u8]) -> bool {
    if version == 1 {
        let mut sha = Sha256::new();
        sha.update(content);
        sha.finish().as_slice() == trailer
    } else {
        let mut crc = Crc64::new();
        crc.update(content);
        crc.finish().to_le_bytes().as_slice() == trailer
    }
}

/// Checks a bundle file's bytes and decodes its body. Bounded: nothing is
/// allocated beyond a small multiple of `bytes.len()`. Bundles of every
/// earlier format are read (and their checksums verified).
///
/// # Errors
/// The bytes are not a valid bundle of a format this build reads
/// ([`ImportError`]).
pub fn read(bytes: &[u8]) -> Result<BundleBody, ImportError> {
    let bad = |m: &str| ImportError::Invalid(m.to_owned());
    let prefix = &bytes[..bytes.len().min(BUNDLE_HEADER_MAX)];
    let header = check_header(prefix, bytes.len() as u64)?;
    let (content, sum) = bytes.split_at(bytes.len() - trailer_len(header.version));
    if !checksum_matches(header.version, content, sum) {
        return Err(bad("the checksum does not match (corrupt)"));
    }
    if header.codec != codec::CODEC {
        return Err(ImportError::UnknownCodec(header.codec));
    }
    let body: BundleBody = codec::decode(&content[header.body_start..])
        .map_err(|e| ImportError::Invalid(e.to_string()))?;
    let mut sorted = body.uids.clone();
    sorted.sort_unstable();
    if let Some(u) = body.uids.iter().find(|&&u| !is_valid_uid(u)) {
        return Err(ImportError::Invalid(format!(
            "uid {u} is invalid or repeated"
        )));
    }
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(ImportError::Invalid(format!(
            "uid {} is invalid or repeated",
            w[0]
        )));
    }
    Ok(body)
}

/// Reads a bundle file whole, checking it first: it must be a regular file
/// (not a device, a pipe or a directory) no larger than `max_bytes`, its
/// header must hold (see [`check_header`]) and its checksum match (read
/// streaming, in constant memory) before it is read into one buffer of
/// exactly the file's size. `/dev/zero`, a
/// sparse file of a gigabyte or a file that is not a bundle costs a few
/// bytes of memory, not its size.
///
/// # Errors
/// [`ImportError::File`] for a file that cannot be read or is not a
/// regular file of a plausible size; the header's errors.
pub fn read_file(path: &std::path::Path, max_bytes: u64) -> Result<Vec<u8>, ImportError> {
    use std::io::Read;
    let file_error = |reason: String| ImportError::File {
        path: path.to_owned(),
        reason,
    };
    let not_regular =
        || file_error("not a regular file (a bundle is read from a regular file)".to_owned());
    // Checked before opening too: opening a named pipe waits for a writer.
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return Err(not_regular());
    }
    let mut file = std::fs::File::open(path).map_err(|e| file_error(e.to_string()))?;
    let meta = file.metadata().map_err(|e| file_error(e.to_string()))?;
    if !meta.is_file() {
        return Err(file_error(
            "not a regular file (a bundle is read from a regular file)".to_owned(),
        ));
    }
    let total = meta.len();
    if total > max_bytes {
        return Err(file_error(format!(
            "{total} bytes is more than the {max_bytes} bytes a bundle may have here"
        )));
    }
    let mut prefix = vec![0u8; (total as usize).min(BUNDLE_HEADER_MAX)];
    file.read_exact(&mut prefix)
        .map_err(|e| file_error(e.to_string()))?;
    let header = check_header(&prefix, total)?;
    // The checksum is verified streaming first (a few KiB of memory), so a
    // damaged or forged file of any size costs its reading, not its size.
    let trailer = trailer_len(header.version) as u64;
    let mut content = (&mut file).take(total - prefix.len() as u64 - trailer);
    let mut buffer = vec![0u8; 64 << 10];
    let mut sha = Sha256::new();
    let mut crc = Crc64::new();
    sha.update(&prefix);
    crc.update(&prefix);
    loop {
        let n = content
            .read(&mut buffer)
            .map_err(|e| file_error(e.to_string()))?;
        if n == 0 {
            break;
        }
        if header.version == 1 {
            sha.update(&buffer[..n]);
        } else {
            crc.update(&buffer[..n]);
        }
    }
    let mut sum = vec![0u8; trailer as usize];
    file.read_exact(&mut sum)
        .map_err(|e| file_error(e.to_string()))?;
    let matches = if header.version == 1 {
        sha.finish().as_slice() == sum.as_slice()
    } else {
        crc.finish().to_le_bytes().as_slice() == sum.as_slice()
    };
    if !matches {
        return Err(ImportError::Invalid(
            "the checksum does not match (corrupt)".to_owned(),
        ));
    }
    drop(buffer);
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(prefix.len() as u64))
        .map_err(|e| file_error(e.to_string()))?;
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(total as usize)
        .map_err(|_| file_error(format!("no memory for {total} bytes")))?;
    bytes.extend_from_slice(&prefix);
    (&mut file)
        .take(total - prefix.len() as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| file_error(e.to_string()))?;
    if bytes.len() as u64 != total {
        return Err(file_error(format!(
            "changed while being read ({} bytes read of {total})",
            bytes.len()
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_damage_is_named() {
        let body = BundleBody {
            schemas: vec![],
            uids: vec![2, 3],
            columns: vec![],
            source: "test".into(),
        };
        let bytes = write(&body).unwrap();
        assert_eq!(read(&bytes).unwrap(), body);
        for cut in 0..bytes.len() {
            assert!(read(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            assert!(read(&b).is_err(), "flipped byte {i}");
        }
        let mut newer = bytes.clone();
        newer[8] = 9;
        assert!(matches!(
            read(&newer),
            Err(ImportError::NewerFormat { found: 9, .. })
        ));
    }
}
