//! The envelope every backup-sim file is wrapped in, and [`FormatError`], the one error of
//! reading any of them.
//!
//! Layout (all integers little-endian), fixed for every format version:
//!
//! | offset     | size | field                                                          |
//! |------------|------|----------------------------------------------------------------|
//! | 0          | 8    | magic `89 42 4B 50 53 49 4D 0A` (`\x89BKPSIM\n`)               |
//! | 8          | 1    | file kind: 1 data, 2 manifest, 3 checkpoint, 4 encryption-info |
//! | 9          | 2    | format version (u16)                                           |
//! | 11         | 8    | payload length `n` (u64)                                       |
//! | 19         | n    | payload: the value, postcard-encoded                           |
//! | 19 + n     | 4    | CRC-32 (IEEE) of bytes `0 .. 19 + n`                           |
//!
//! Why this shape:
//! - The magic's first byte has its high bit set and the last is a newline (as PNG's), so no
//!   text file (JSON, CSV, a log) can pass for a backup file, and a transfer that mangles
//!   8-bit bytes or line endings breaks it visibly.
//! - Kind 0 is never valid, so a zeroed header is refused; the kind lets a reader tell a
//!   checkpoint from a manifest (a destination holding only a checkpoint is an incomplete
//!   backup) without decoding anything.
//! - The frame (magic, kind, version, length, checksum) never changes; the version describes the
//!   payload only: its codec and its schema. So an old build can still check a new file's
//!   integrity and then refuse it by version, and a later build can switch codec or schema by
//!   bumping [`FORMAT_VERSION`] and keeping a decoder for each version it still reads. A future
//!   that needs a different frame must use a different magic.
//! - The checksum covers the header too, so a flipped kind or version bit is a checksum mismatch,
//!   not a misread. CRC-32 (`crc32fast`, hardware-accelerated) detects every single-bit error,
//!   every odd number of flipped bits and every burst up to 32 bits, and misses random damage
//!   with probability 2⁻³². CockroachDB uses CRC-32C; the difference in detection power is
//!   negligible here, and `crc32fast` is already a dependency where a CRC-32C crate is not. The
//!   checksum is not a defence against tampering: that is the job of encryption's authenticated
//!   cipher, which wraps these bytes from outside.
//!
//! Codec: postcard 1, a documented and stable wire format (its specification is frozen for
//! the 1.x series), compact (varints), and refusing what it cannot read instead of guessing.
//! Not bincode: bincode 3.0.0 is an empty crate that fails to build on purpose, and
//! RUSTSEC-2025-0141 marks bincode unmaintained; a long-lived on-disk format must not depend on
//! an abandoned codec. Postcard needs no `deserialize_any`, so the format types use no
//! `#[serde(untagged)]` or `flatten`.
//!
//! What this module must never do: panic or allocate unboundedly on any input (lengths are
//! checked against the bytes present before use), return a value whose checksum, kind or version
//! did not check out, or print anything but the path it was given (callers pass a path inside
//! the destination or a redacted URL, never credentials).

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;

/// The first eight bytes of every backup-sim file.
pub const MAGIC: [u8; 8] = *b"\x89BKPSIM\n";
/// The format version this build writes every file in, except the manifest, checkpoint and
/// partition descriptors of a locality-aware backup ([`LOCALITY_FORMAT_VERSION`]).
pub const FORMAT_VERSION: u16 = 1;
/// The format version of a locality-aware backup's manifest and checkpoint (version 1's payload
/// followed by where each data file was written, [`super::manifest`]) and of its partition
/// descriptors (a kind that exists from this version on). Everything version 1 can hold is still
/// written as version 1, so a backup that is not locality-aware is byte for byte what earlier
/// builds wrote, and they can still read it; a locality-aware one they refuse by its version
/// rather than misread it.
pub const LOCALITY_FORMAT_VERSION: u16 = 2;
/// The oldest format version this build reads.
pub const MIN_READ_VERSION: u16 = 1;
/// The newest format version this build reads.
pub const MAX_READ_VERSION: u16 = LOCALITY_FORMAT_VERSION;

/// Bytes before the payload: magic, kind, version, length.
pub(crate) const HEADER_LEN: usize = 8 + 1 + 2 + 8;
/// Bytes after the payload: the CRC-32.
pub(crate) const TRAILER_LEN: usize = 4;

/// What a file is. Stored as one byte right after the magic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileKind {
    /// A data file: the entries of one exported span ([`super::DataFile`]).
    Data = 1,
    /// The `BACKUP` manifest ([`super::Manifest`]).
    Manifest = 2,
    /// The `BACKUP-CHECKPOINT` progress file ([`super::Checkpoint`]).
    Checkpoint = 3,
    /// `ENCRYPTION-INFO`: a chain's salt and key check ([`crate::crypto::EncryptionInfo`]).
    EncryptionInfo = 4,
    /// `BACKUP_PART_…`: which files of a locality-aware backup one locality's destination holds
    /// ([`super::partition::PartitionDescriptor`]); from format version 2.
    Partition = 5,
}

impl FileKind {
    /// The byte written for this kind.
    pub fn to_byte(self) -> u8 {
        self as u8
    }

    /// The kind a byte stands for, `None` for an unknown byte (0 is never valid).
    pub fn from_byte(b: u8) -> Option<FileKind> {
        match b {
            1 => Some(FileKind::Data),
            2 => Some(FileKind::Manifest),
            3 => Some(FileKind::Checkpoint),
            4 => Some(FileKind::EncryptionInfo),
            5 => Some(FileKind::Partition),
            _ => None,
        }
    }

    /// The kind's name with its article, as error messages use it ("a manifest").
    pub fn with_article(self) -> &'static str {
        match self {
            FileKind::Data => "a data file",
            FileKind::Manifest => "a manifest",
            FileKind::Checkpoint => "a checkpoint",
            FileKind::EncryptionInfo => "an encryption-info file",
            FileKind::Partition => "a partition descriptor",
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Data => "data file",
            FileKind::Manifest => "manifest",
            FileKind::Checkpoint => "checkpoint",
            FileKind::EncryptionInfo => "encryption-info file",
            FileKind::Partition => "partition descriptor",
        })
    }
}

/// A kind byte as an error message shows it: the kind's name, or the unknown byte.
fn kind_phrase(b: u8) -> String {
    match FileKind::from_byte(b) {
        Some(k) => k.with_article().to_string(),
        None => format!("a file of unknown kind {b}"),
    }
}

/// The versions this build reads, for error messages.
fn readable_versions() -> String {
    if MIN_READ_VERSION == MAX_READ_VERSION {
        format!("{MAX_READ_VERSION}")
    } else {
        format!("{MIN_READ_VERSION} to {MAX_READ_VERSION}")
    }
}

/// Why a file could not be read. Every message starts with the file's path, so an operator
/// knows which file of a destination is damaged. Nothing else from the file is echoed except
/// numbers (checksums, lengths, versions), so a hostile file cannot inject text into logs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The file does not start with [`MAGIC`]: it was not written by backup-sim.
    #[error("{path}: not a backup-sim file (bad magic)")]
    NotBackupFile {
        /// The file.
        path: String,
    },
    /// The file ends before its header or its declared payload and checksum do.
    #[error("{path}: truncated ({detail})")]
    Truncated {
        /// The file.
        path: String,
        /// How much is there and how much should be.
        detail: String,
    },
    /// The file goes on past the end its header declares (appended garbage, or a damaged
    /// length field).
    #[error("{path}: corrupt ({extra} bytes beyond the length its header declares)")]
    TrailingBytes {
        /// The file.
        path: String,
        /// How many bytes too many.
        extra: u64,
    },
    /// The stored checksum (or the one a manifest recorded for the file) differs from the
    /// checksum of the bytes read.
    #[error("{path}: checksum mismatch (expected {expected:#010x}, found {found:#010x})")]
    ChecksumMismatch {
        /// The file.
        path: String,
        /// The checksum the file (or the manifest) says it has.
        expected: u32,
        /// The checksum of the bytes actually read.
        found: u32,
    },
    /// A format version this build cannot read (written by a newer build, or nonsense).
    #[error("{path}: unsupported format version {version} (this build reads {})", readable_versions())]
    UnsupportedVersion {
        /// The file.
        path: String,
        /// The version in the file.
        version: u16,
    },
    /// An intact file of another kind than the caller expected (e.g. a checkpoint where the
    /// manifest should be).
    #[error("{path}: is {}, expected {}", kind_phrase(*found), expected.with_article())]
    WrongKind {
        /// The file.
        path: String,
        /// The kind byte found.
        found: u8,
        /// The kind wanted.
        expected: FileKind,
    },
    /// An intact file whose kind byte this build does not know ([`peek_kind`] only; decoders
    /// report [`FormatError::WrongKind`]).
    #[error("{path}: unknown file kind {kind}")]
    UnknownKind {
        /// The file.
        path: String,
        /// The kind byte found.
        kind: u8,
    },
    /// The checksum matched but the payload does not decode as the expected value: only a file
    /// written by a buggy or foreign writer gets here.
    #[error("{path}: undecodable payload: {reason}")]
    Undecodable {
        /// The file.
        path: String,
        /// What the codec said.
        reason: String,
    },
    /// The payload decoded but breaks an invariant of its kind (unsorted entries, files outside
    /// the backup's spans...).
    #[error("{path}: invalid {kind}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// The kind of file.
        kind: FileKind,
        /// The broken invariant.
        reason: String,
    },
}

impl FormatError {
    /// The path of the file the error is about.
    pub fn path(&self) -> &str {
        match self {
            FormatError::NotBackupFile { path }
            | FormatError::Truncated { path, .. }
            | FormatError::TrailingBytes { path, .. }
            | FormatError::ChecksumMismatch { path, .. }
            | FormatError::UnsupportedVersion { path, .. }
            | FormatError::WrongKind { path, .. }
            | FormatError::UnknownKind { path, .. }
            | FormatError::Undecodable { path, .. }
            | FormatError::Invalid { path, .. } => path,
        }
    }
}

/// Wraps `value` in an envelope of kind `kind` at the current [`FORMAT_VERSION`].
///
/// Postcard fails to serialize only a sequence of unknown length or a value whose own
/// `Serialize` reports an error; the format's types (plain derived structs, `Vec`s, `Option`s)
/// have neither. Should it happen anyway, the file is written with an empty payload, which every
/// decoder refuses as undecodable: a broken backup file is found at restore with its path named,
/// never restored wrongly, and BACKUP itself does not panic.
pub fn encode<T: Serialize + ?Sized>(kind: FileKind, value: &T) -> Vec<u8> {
    encode_version(kind, FORMAT_VERSION, value)
}

/// [`encode`] at an explicit version: the writer of tomorrow's format, for tests of refusal.
pub(crate) fn encode_version<T: Serialize + ?Sized>(kind: FileKind, version: u16, value: &T) -> Vec<u8> {
    encode_sized(kind, version, value, 0)
}

/// [`encode`] into a buffer reserved for about `size_hint` payload bytes. The payload is
/// serialized straight into the envelope, then its length and CRC filled in: a 64 MiB data file
/// is neither regrown step by step nor copied into its frame.
pub fn encode_sized<T: Serialize + ?Sized>(kind: FileKind, version: u16, value: &T, size_hint: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + size_hint + TRAILER_LEN);
    out.extend_from_slice(&MAGIC);
    out.push(kind.to_byte());
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    let mut out = match postcard::to_extend(value, out) {
        Ok(out) => out,
        // See above: an empty payload, refused by every decoder.
        Err(_) => return frame(kind.to_byte(), version, &[]),
    };
    let len = (out.len() - HEADER_LEN) as u64;
    out[HEADER_LEN - 8..HEADER_LEN].copy_from_slice(&len.to_le_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Builds the envelope around raw payload bytes: a well-framed file of any kind byte and
/// version, whatever the payload. Public so that the fuzz targets (`fuzz/`) can hand the
/// payload decoders fuzzed payloads with a valid checksum, which random bytes almost never have.
pub fn frame(kind: u8, version: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + TRAILER_LEN);
    out.extend_from_slice(&MAGIC);
    out.push(kind);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The checksum a manifest records for a file: CRC-32 of every byte but the last four, which
/// for an intact file is exactly the CRC stored in its trailer. Not the CRC of the whole file:
/// a CRC over a message followed by its own CRC is the same constant (0x2144df1c) for every
/// message, so it would tell no two valid files apart.
pub fn file_checksum(bytes: &[u8]) -> u32 {
    crc32fast::hash(&bytes[..bytes.len().saturating_sub(TRAILER_LEN)])
}

/// An envelope whose magic, length and checksum checked out.
struct Frame<'a> {
    kind: u8,
    version: u16,
    payload: &'a [u8],
}

/// Checks magic, length and checksum, in that order: the magic says whether this is our file
/// at all, the length where the checksum is, and the checksum whether anything else can be
/// believed. Version and kind are checked after the checksum, so a damaged version or kind byte
/// reads as damage, not as a newer or different file.
fn open<'a>(path: &str, bytes: &'a [u8]) -> Result<Frame<'a>, FormatError> {
    let min = HEADER_LEN + TRAILER_LEN;
    if bytes.len() < MAGIC.len() {
        if MAGIC.starts_with(bytes) {
            let detail = if bytes.is_empty() {
                format!("empty file, a backup-sim file has at least {min} bytes")
            } else {
                format!("{} bytes, a backup-sim file has at least {min}", bytes.len())
            };
            return Err(FormatError::Truncated { path: path.into(), detail });
        }
        return Err(FormatError::NotBackupFile { path: path.into() });
    }
    if bytes[..MAGIC.len()] != MAGIC {
        return Err(FormatError::NotBackupFile { path: path.into() });
    }
    if bytes.len() < HEADER_LEN {
        return Err(FormatError::Truncated { path: path.into(), detail: format!("{} bytes, a backup-sim file has at least {min}", bytes.len()) });
    }
    let kind = bytes[8];
    let version = u16::from_le_bytes([bytes[9], bytes[10]]);
    let mut len_bytes = [0u8; 8];
    len_bytes.copy_from_slice(&bytes[11..HEADER_LEN]);
    let declared = u64::from_le_bytes(len_bytes);
    // The whole file as the header describes it, in u128 so that no declared length overflows.
    let expected_total = HEADER_LEN as u128 + declared as u128 + TRAILER_LEN as u128;
    let actual_total = bytes.len() as u128;
    if actual_total < expected_total {
        return Err(FormatError::Truncated { path: path.into(), detail: format!("{actual_total} bytes, its header declares {expected_total}") });
    }
    if actual_total > expected_total {
        let extra = u64::try_from(actual_total - expected_total).unwrap_or(u64::MAX);
        return Err(FormatError::TrailingBytes { path: path.into(), extra });
    }
    // From here on the file is exactly as long as its header says, so the casts cannot truncate.
    let crc_at = bytes.len() - TRAILER_LEN;
    let mut crc_bytes = [0u8; 4];
    crc_bytes.copy_from_slice(&bytes[crc_at..]);
    let expected = u32::from_le_bytes(crc_bytes);
    let found = crc32fast::hash(&bytes[..crc_at]);
    if expected != found {
        return Err(FormatError::ChecksumMismatch { path: path.into(), expected, found });
    }
    Ok(Frame { kind, version, payload: &bytes[HEADER_LEN..crc_at] })
}

fn check_version(path: &str, version: u16) -> Result<(), FormatError> {
    if (MIN_READ_VERSION..=MAX_READ_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(FormatError::UnsupportedVersion { path: path.into(), version })
    }
}

/// The kind of an intact file, without decoding its payload: lets a reader tell a destination
/// holding a finished backup from one holding only a checkpoint. Checks magic, length, checksum
/// and version like [`decode`].
pub fn peek_kind(path: &str, bytes: &[u8]) -> Result<FileKind, FormatError> {
    let frame = open(path, bytes)?;
    let kind = FileKind::from_byte(frame.kind).ok_or(FormatError::UnknownKind { path: path.into(), kind: frame.kind })?;
    check_version(path, frame.version)?;
    Ok(kind)
}

/// The format version of an intact file of kind `kind` that this build reads, without decoding
/// its payload: what a reader whose payload differs by version ([`super::Manifest::decode`])
/// decodes by. Checks like [`decode`].
pub fn version_of(path: &str, kind: FileKind, bytes: &[u8]) -> Result<u16, FormatError> {
    let frame = open(path, bytes)?;
    if frame.kind != kind.to_byte() {
        return Err(FormatError::WrongKind { path: path.into(), found: frame.kind, expected: kind });
    }
    check_version(path, frame.version)?;
    Ok(frame.version)
}

/// Unwraps and decodes a file that must be of kind `kind`. `path` only names the file in
/// errors. The checks run in order: magic, length, checksum, kind, version, payload; the first
/// that fails is reported. Version 1 payloads are postcard; a later version adds its decoder
/// here, matched on `version`.
pub fn decode<T: DeserializeOwned>(path: &str, kind: FileKind, bytes: &[u8]) -> Result<T, FormatError> {
    let frame = open(path, bytes)?;
    if frame.kind != kind.to_byte() {
        return Err(FormatError::WrongKind { path: path.into(), found: frame.kind, expected: kind });
    }
    check_version(path, frame.version)?;
    let (value, rest) = postcard::take_from_bytes::<T>(frame.payload).map_err(|e| FormatError::Undecodable { path: path.into(), reason: e.to_string() })?;
    if !rest.is_empty() {
        return Err(FormatError::Undecodable { path: path.into(), reason: format!("{} bytes left over after the {kind}", rest.len()) });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Small {
        name: String,
        n: u64,
        v: Vec<u32>,
    }

    fn small() -> Small {
        Small { name: "t".into(), n: 300, v: vec![1, 2] }
    }

    #[test]
    fn layout_byte_by_byte() {
        let bytes = encode(FileKind::Manifest, &7u8);
        let mut want = b"\x89BKPSIM\n".to_vec();
        want.push(2); // kind
        want.extend_from_slice(&[1, 0]); // version 1, LE
        want.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]); // payload length 1, LE
        want.push(7); // postcard of 7u8
        let crc = crc32fast::hash(&want);
        want.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(bytes, want);
        assert_eq!(decode::<u8>("f", FileKind::Manifest, &bytes), Ok(7));
    }

    #[test]
    fn file_checksum_tells_files_apart() {
        let a = encode(FileKind::Data, &1u8);
        let b = encode(FileKind::Data, &2u8);
        assert_ne!(file_checksum(&a), file_checksum(&b));
        assert_eq!(file_checksum(&a).to_le_bytes(), a[a.len() - 4..]);
        // Why not the CRC of the whole file: it is one constant for every intact file.
        assert_eq!(crc32fast::hash(&a), crc32fast::hash(&b));
        assert_eq!(file_checksum(&[1, 2]), crc32fast::hash(&[]));
    }

    #[test]
    fn round_trip() {
        let bytes = encode(FileKind::Data, &small());
        assert_eq!(decode::<Small>("f", FileKind::Data, &bytes), Ok(small()));
        assert_eq!(peek_kind("f", &bytes), Ok(FileKind::Data));
    }

    #[test]
    fn every_flipped_bit_and_every_truncation_is_detected() {
        let bytes = encode(FileKind::Checkpoint, &small());
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            let e = decode::<Small>("dir/f", FileKind::Checkpoint, &b).expect_err("flip must be detected");
            assert_eq!(e.path(), "dir/f");
        }
        for len in 0..bytes.len() {
            let e = decode::<Small>("dir/f", FileKind::Checkpoint, &bytes[..len]).expect_err("truncation must be detected");
            assert!(matches!(e, FormatError::Truncated { .. }), "{len}: {e}");
            assert!(e.to_string().starts_with("dir/f: truncated ("), "{e}");
        }
    }

    #[test]
    fn flips_are_diagnosed_by_field() {
        let bytes = encode(FileKind::Data, &small());
        let flip = |i: usize| {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            decode::<Small>("f", FileKind::Data, &b).unwrap_err()
        };
        assert!(matches!(flip(0), FormatError::NotBackupFile { .. }));
        assert!(matches!(flip(8), FormatError::ChecksumMismatch { .. }), "kind byte");
        assert!(matches!(flip(9), FormatError::ChecksumMismatch { .. }), "version byte");
        assert!(matches!(flip(11), FormatError::TrailingBytes { .. } | FormatError::Truncated { .. }), "length");
        assert!(matches!(flip(HEADER_LEN), FormatError::ChecksumMismatch { .. }), "payload");
        assert!(matches!(flip(bytes.len() - 1), FormatError::ChecksumMismatch { .. }), "crc");
    }

    #[test]
    fn messages_name_the_file() {
        let bytes = encode(FileKind::Checkpoint, &small());
        let e = decode::<Small>("b/BACKUP", FileKind::Manifest, &bytes).unwrap_err();
        assert_eq!(e.to_string(), "b/BACKUP: is a checkpoint, expected a manifest");
        let e = decode::<Small>("b/BACKUP", FileKind::Manifest, b"{\"spans\": []}").unwrap_err();
        assert_eq!(e.to_string(), "b/BACKUP: not a backup-sim file (bad magic)");
        let e = decode::<Small>("b/BACKUP", FileKind::Manifest, b"").unwrap_err();
        assert_eq!(e.to_string(), "b/BACKUP: truncated (empty file, a backup-sim file has at least 23 bytes)");
        let mut b = bytes.clone();
        *b.last_mut().unwrap() ^= 0xff;
        let e = decode::<Small>("b/x", FileKind::Checkpoint, &b).unwrap_err();
        assert!(e.to_string().starts_with("b/x: checksum mismatch (expected 0x"), "{e}");
        let mut b = bytes.clone();
        b.push(0);
        assert_eq!(decode::<Small>("b/x", FileKind::Checkpoint, &b).unwrap_err().to_string(), "b/x: corrupt (1 bytes beyond the length its header declares)");
    }

    #[test]
    fn newer_and_zero_versions_are_refused() {
        let bytes = encode_version(FileKind::Manifest, MAX_READ_VERSION + 1, &small());
        let e = decode::<Small>("b/BACKUP", FileKind::Manifest, &bytes).unwrap_err();
        assert_eq!(e.to_string(), format!("b/BACKUP: unsupported format version {} (this build reads 1 to {MAX_READ_VERSION})", MAX_READ_VERSION + 1));
        assert!(matches!(peek_kind("b", &bytes), Err(FormatError::UnsupportedVersion { .. })));
        let bytes = encode_version(FileKind::Manifest, 0, &small());
        assert!(matches!(decode::<Small>("b", FileKind::Manifest, &bytes), Err(FormatError::UnsupportedVersion { version: 0, .. })));
    }

    #[test]
    fn unknown_kinds_are_refused() {
        let bytes = frame(0, FORMAT_VERSION, &[]);
        assert_eq!(peek_kind("f", &bytes).unwrap_err().to_string(), "f: unknown file kind 0");
        let e = decode::<u8>("f", FileKind::Data, &frame(9, FORMAT_VERSION, &[1])).unwrap_err();
        assert_eq!(e.to_string(), "f: is a file of unknown kind 9, expected a data file");
        let e = decode::<u8>("f", FileKind::Data, &encode(FileKind::EncryptionInfo, &1u8)).unwrap_err();
        assert_eq!(e.to_string(), "f: is an encryption-info file, expected a data file");
    }

    #[test]
    fn bad_payloads_under_a_good_checksum_are_refused() {
        // Valid frame, payload that is not a `Small`.
        let e = decode::<Small>("f", FileKind::Data, &frame(1, FORMAT_VERSION, &[0xff, 0xff])).unwrap_err();
        assert!(e.to_string().starts_with("f: undecodable payload: "), "{e}");
        // Valid `Small` followed by leftovers.
        let mut p = postcard::to_stdvec(&small()).unwrap();
        p.push(0);
        let e = decode::<Small>("f", FileKind::Data, &frame(1, FORMAT_VERSION, &p)).unwrap_err();
        assert_eq!(e.to_string(), "f: undecodable payload: 1 bytes left over after the data file");
        // A vector claiming a huge length must not allocate it.
        let e = decode::<Vec<u64>>("f", FileKind::Data, &frame(1, FORMAT_VERSION, &[0xff, 0xff, 0xff, 0xff, 0x0f])).unwrap_err();
        assert!(matches!(e, FormatError::Undecodable { .. }));
    }

    #[test]
    fn huge_declared_length_is_truncation_not_overflow() {
        let mut b = encode(FileKind::Data, &small());
        b[11..19].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(decode::<Small>("f", FileKind::Data, &b), Err(FormatError::Truncated { .. })));
    }

    #[test]
    fn failing_serialize_gives_a_file_decoders_refuse() {
        struct Bad;
        impl Serialize for Bad {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no"))
            }
        }
        let bytes = encode(FileKind::Data, &Bad);
        assert!(matches!(decode::<Small>("f", FileKind::Data, &bytes), Err(FormatError::Undecodable { .. })));
    }

    proptest! {
        #[test]
        fn random_bytes_never_decode_or_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let e = decode::<Small>("x/y", FileKind::Data, &bytes).unwrap_err();
            prop_assert_eq!(e.path(), "x/y");
            prop_assert!(e.to_string().starts_with("x/y: "));
        }

        #[test]
        fn random_bytes_after_the_magic_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut bytes = MAGIC.to_vec();
            bytes.extend_from_slice(&tail);
            prop_assert!(decode::<Small>("f", FileKind::Data, &bytes).is_err());
        }

        #[test]
        fn random_payloads_in_a_valid_frame_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode::<Small>("f", FileKind::Data, &frame(1, FORMAT_VERSION, &payload));
            let _ = decode::<crate::format::Manifest>("f", FileKind::Data, &frame(1, FORMAT_VERSION, &payload));
            let _ = decode::<crate::format::DataFile>("f", FileKind::Data, &frame(1, FORMAT_VERSION, &payload));
        }
    }
}
