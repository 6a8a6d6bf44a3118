//! Backup encryption (`WITH encryption_passphrase = '…'`): the key, the `ENCRYPTION-INFO` file
//! that lets RESTORE derive it again, and the chunked AES-256-GCM file format that wraps every
//! data file, checkpoint and manifest of an encrypted backup from outside their envelope.
//!
//! - Key: PBKDF2-HMAC-SHA256 of the passphrase, 64,000 iterations, 32 bytes, with a 16-byte
//!   random salt per backup chain ([`EncryptionKey::derive`]), as CockroachDB does.
//! - `ENCRYPTION-INFO` ([`EncryptionInfo`]), in the full backup's directory, written only if
//!   absent, in the shared versioned and checksummed envelope (kind 4): the salt, the iteration
//!   count, and a key-check value (HMAC-SHA256 of a fixed label under the key) so that a wrong
//!   passphrase is reported before any data file is read. It holds nothing secret: the salt is
//!   public by design, and the check value reveals no more about the key than any ciphertext.
//! - Files ([`seal`], [`open`]): CockroachDB's chunked format, version 2, byte for byte:
//!
//!   | offset | size    | field                                                     |
//!   |--------|---------|-----------------------------------------------------------|
//!   | 0      | 7       | preamble `encrypt`                                        |
//!   | 7      | 1       | version, 2 (chunked)                                      |
//!   | 8      | 12      | the file's random IV                                      |
//!   | 20     | …       | chunks: AES-256-GCM of 64 KiB of plaintext, then its tag  |
//!
//!   Chunk `n`'s nonce is the file IV with its last 8 bytes, read big-endian, plus `n`
//!   (wrapping). Every chunk but the last holds exactly 64 KiB of plaintext; the last holds
//!   less, possibly nothing, and is always present.
//!
//! Why this format and no additional authenticated data: each chunk has its own tag, so any
//! flipped byte fails its chunk; the nonce depends on the chunk number, so chunks moved,
//! swapped or spliced from another file (another random IV) fail; a cut inside a chunk fails
//! that chunk's tag; and a cut at a chunk boundary leaves a file whose last chunk is full-sized,
//! which the reader refuses. Binding the chunk number or an "is last" flag into the AAD would
//! add nothing these rules do not already catch, and would lose byte compatibility with
//! CockroachDB's readers, so the AAD is empty as in CockroachDB.
//!
//! What this module must never do: print or return a passphrase or key (both live in types
//! whose `Debug` prints `redacted`; every error names a file, never a secret), implement any
//! cryptographic primitive itself (RustCrypto's `aes-gcm`, `pbkdf2`, `hmac` and `sha2` do),
//! draw randomness anywhere but from the host's [`Runtime::fill_random`] (so a simulated run is
//! the same on every replay), draw any for an unencrypted backup (so its files and the
//! simulator's random stream stay exactly as they were), or panic on any input.

use crate::env::Runtime;
use crate::format::envelope::{self, FileKind, FormatError};
use crate::statement::Secret;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;

/// The cleartext start of every encrypted file, so that one is recognised at sight (and an
/// unencrypted file read with a key, or an encrypted one without, is told apart).
pub const PREAMBLE: &[u8; 7] = b"encrypt";
/// The format version written and read: CockroachDB's `encryptionVersionChunk`. (Version 1,
/// one GCM message for the whole file, is not written by anything here and is refused.)
pub const VERSION_CHUNKED: u8 = 2;
/// Bytes of a file IV (GCM's standard nonce size).
pub const IV_LEN: usize = 12;
/// Bytes before the first chunk: preamble, version, IV.
pub const HEADER_LEN: usize = PREAMBLE.len() + 1 + IV_LEN;
/// Bytes of a GCM tag.
pub const TAG_LEN: usize = 16;
/// Plaintext bytes of every chunk but the last.
pub const CHUNK_SIZE: usize = 64 << 10;
/// Bytes of the PBKDF2 salt.
pub const SALT_LEN: usize = 16;
/// Bytes of the derived key (AES-256).
pub const KEY_LEN: usize = 32;
/// PBKDF2 iterations, CockroachDB's.
pub const PBKDF2_ITERATIONS: u32 = 64_000;
/// What the key-check value authenticates: a fixed label, so the value depends on the key only.
const KEY_CHECK_LABEL: &[u8] = b"backup-sim ENCRYPTION-INFO key check v1";

/// Why an encrypted file (or the key to it) could not be used. Every message starts with the
/// file's path (a path inside the destination or a redacted URL, never a credential) and
/// carries no secret; the first three texts are CockroachDB's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncryptionError {
    /// A passphrase was given but the file is not encrypted.
    #[error("{path}: file does not appear to be encrypted")]
    NotEncrypted {
        /// The file.
        path: String,
    },
    /// The file is encrypted and no passphrase was given.
    #[error("{path}: file appears encrypted -- try specifying one of \"encryption_passphrase\" or \"kms\"")]
    KeyRequired {
        /// The file.
        path: String,
    },
    /// `ENCRYPTION-INFO`'s key check does not match the passphrase given (the passphrase is
    /// wrong), or a chunk failed authentication under a key nothing vouched for (the raw
    /// [`open`]), where a wrong key and changed bytes cannot be told apart.
    #[error("{path}: failed to decrypt — maybe incorrect key")]
    DecryptFailed {
        /// The file.
        path: String,
    },
    /// A chunk failed authentication under a key that matched the chain's `ENCRYPTION-INFO`:
    /// the passphrase is right, so the file itself was changed, cut or replaced.
    #[error(
        "{path}: file is damaged: chunk {chunk} of {chunks} (bytes {start} to {end}) fails its authentication check, \
         although the passphrase matches the backup's ENCRYPTION-INFO (the file was changed, cut short or replaced)"
    )]
    Damaged {
        /// The file.
        path: String,
        /// The chunk that failed, from 1.
        chunk: u64,
        /// How many chunks the file's length makes.
        chunks: u64,
        /// The chunk's first byte in the file.
        start: usize,
        /// The byte after the chunk.
        end: usize,
    },
    /// An encryption format version this build does not read.
    #[error("{path}: unexpected encryption scheme/config version {version}")]
    UnsupportedVersion {
        /// The file.
        path: String,
        /// The version byte found.
        version: u8,
    },
    /// The file ends before its header does, or without its final (short) chunk.
    #[error("{path}: encrypted file is truncated ({detail})")]
    Truncated {
        /// The file.
        path: String,
        /// What is missing.
        detail: String,
    },
    /// The backup is encrypted but the `ENCRYPTION-INFO` that holds its salt is missing.
    #[error("{path}: missing: the backup is encrypted and its key cannot be derived without this file")]
    InfoMissing {
        /// Where `ENCRYPTION-INFO` should be.
        path: String,
    },
    /// `ENCRYPTION-INFO` changed under a running backup job (another backup to the same place
    /// wrote a different salt): the job's files could never be decrypted with it.
    #[error("{path}: holds another salt than this backup's key was derived from (did another backup write it meanwhile?)")]
    InfoMismatch {
        /// The file.
        path: String,
    },
    /// The cipher refused to seal (only for a chunk too long for GCM, which 64 KiB never is).
    #[error("{path}: encryption failed")]
    SealFailed {
        /// The file being written.
        path: String,
    },
}

/// A derived AES-256 key. Its `Debug` prints `redacted`; it is stored (serialized) only in a
/// backup job's payload, which nothing prints, so that a node adopting the job keeps
/// encrypting without the passphrase (CockroachDB keeps the key in the job details too).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionKey([u8; KEY_LEN]);

impl EncryptionKey {
    /// PBKDF2-HMAC-SHA256(passphrase, salt, 64,000 iterations), 32 bytes.
    pub fn derive(passphrase: &Secret, salt: &[u8; SALT_LEN]) -> EncryptionKey {
        let mut key = [0u8; KEY_LEN];
        pbkdf2::pbkdf2_hmac::<Sha256>(passphrase.expose().as_bytes(), salt, PBKDF2_ITERATIONS, &mut key);
        EncryptionKey(key)
    }

    /// A key from raw bytes: for a key obtained some other way (tests; a KMS later).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> EncryptionKey {
        EncryptionKey(bytes)
    }

    fn mac(&self) -> Option<Hmac<Sha256>> {
        // HMAC accepts keys of any length: this never fails.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).ok()?;
        mac.update(KEY_CHECK_LABEL);
        Some(mac)
    }

    /// The key-check value `ENCRYPTION-INFO` stores: HMAC-SHA256(key, a fixed label).
    pub fn check_value(&self) -> [u8; 32] {
        match self.mac() {
            Some(mac) => mac.finalize().into_bytes().into(),
            None => [0u8; 32],
        }
    }

    /// True when `check` is this key's check value (compared in constant time).
    pub fn matches_check(&self, check: &[u8; 32]) -> bool {
        self.mac().is_some_and(|mac| mac.verify_slice(check).is_ok())
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.0.into())
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey(redacted)")
    }
}

/// True when `bytes` start with the encryption preamble (CockroachDB's `AppearsEncrypted`).
pub fn appears_encrypted(bytes: &[u8]) -> bool {
    bytes.starts_with(PREAMBLE)
}

/// The nonce of chunk `n` of a file whose IV is `iv`.
fn chunk_nonce(iv: &[u8; IV_LEN], n: u64) -> Nonce<aes_gcm::aead::consts::U12> {
    let mut nonce = *iv;
    let mut counter = [0u8; 8];
    counter.copy_from_slice(&iv[4..]);
    nonce[4..].copy_from_slice(&u64::from_be_bytes(counter).wrapping_add(n).to_be_bytes());
    Nonce::from(nonce)
}

/// Encrypts `plaintext` under `key` with file IV `iv` (which must be fresh random bytes for
/// every file): the header, then every chunk sealed with its tag. `path` only names the file in
/// the (unreachable) error.
pub fn seal(path: &str, key: &EncryptionKey, iv: [u8; IV_LEN], plaintext: &[u8]) -> Result<Vec<u8>, EncryptionError> {
    let cipher = key.cipher();
    let chunks = plaintext.len() / CHUNK_SIZE + 1;
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + chunks * TAG_LEN);
    out.extend_from_slice(PREAMBLE);
    out.push(VERSION_CHUNKED);
    out.extend_from_slice(&iv);
    for n in 0..chunks {
        let from = n * CHUNK_SIZE;
        let to = (from + CHUNK_SIZE).min(plaintext.len());
        let start = out.len();
        out.extend_from_slice(&plaintext[from..to]);
        let tag = cipher
            .encrypt_in_place_detached(&chunk_nonce(&iv, n as u64), b"", &mut out[start..])
            .map_err(|_| EncryptionError::SealFailed { path: path.into() })?;
        out.extend_from_slice(&tag);
    }
    Ok(out)
}

/// Decrypts a file [`seal`] wrote. Checks, in order: the preamble (else
/// [`EncryptionError::NotEncrypted`]), the header's length and version, then every chunk's tag
/// (else [`EncryptionError::DecryptFailed`]: with a key nothing vouched for, a wrong key and
/// changed bytes look alike), and that the file ends with a short final chunk (else
/// [`EncryptionError::Truncated`]). `path` only names the file in errors.
pub fn open(path: &str, key: &EncryptionKey, bytes: &[u8]) -> Result<Vec<u8>, EncryptionError> {
    open_chunks(path, key, bytes).map_err(|e| match e {
        OpenFailure::Chunk { .. } => EncryptionError::DecryptFailed { path: path.into() },
        OpenFailure::Other(e) => e,
    })
}

/// Why [`open_chunks`] failed: a chunk's tag (what the caller's knowledge of the key must
/// explain), or anything else.
enum OpenFailure {
    /// Chunk `index` (from 0) of `count`, at bytes `start..end`, failed authentication.
    Chunk { index: u64, count: u64, start: usize, end: usize },
    /// Not encrypted, truncated, or an unknown version.
    Other(EncryptionError),
}

impl From<EncryptionError> for OpenFailure {
    fn from(e: EncryptionError) -> Self {
        OpenFailure::Other(e)
    }
}

/// [`open`], reporting which chunk failed.
fn open_chunks(path: &str, key: &EncryptionKey, bytes: &[u8]) -> Result<Vec<u8>, OpenFailure> {
    if !appears_encrypted(bytes) {
        return Err(EncryptionError::NotEncrypted { path: path.into() }.into());
    }
    if bytes.len() < HEADER_LEN {
        return Err(EncryptionError::Truncated { path: path.into(), detail: format!("{} bytes, its header alone has {HEADER_LEN}", bytes.len()) }.into());
    }
    let version = bytes[PREAMBLE.len()];
    if version != VERSION_CHUNKED {
        return Err(EncryptionError::UnsupportedVersion { path: path.into(), version }.into());
    }
    let mut iv = [0u8; IV_LEN];
    iv.copy_from_slice(&bytes[PREAMBLE.len() + 1..HEADER_LEN]);
    let cipher = key.cipher();
    let full = CHUNK_SIZE + TAG_LEN;
    let mut rest = &bytes[HEADER_LEN..];
    let mut out = Vec::with_capacity(rest.len());
    let mut n: u64 = 0;
    loop {
        // A piece of a whole sealed chunk's length is never the last: the last is shorter.
        let last = rest.len() < full;
        let piece = if last { rest } else { &rest[..full] };
        if piece.len() < TAG_LEN {
            let detail = if piece.is_empty() {
                "it ends without its final chunk, which is always shorter than 64 KiB".to_string()
            } else {
                format!("its final chunk has {} bytes, less than a tag", piece.len())
            };
            return Err(EncryptionError::Truncated { path: path.into(), detail }.into());
        }
        let (ciphertext, tag) = piece.split_at(piece.len() - TAG_LEN);
        let start = out.len();
        out.extend_from_slice(ciphertext);
        if cipher.decrypt_in_place_detached(&chunk_nonce(&iv, n), b"", &mut out[start..], Tag::from_slice(tag)).is_err() {
            let body = bytes.len() - HEADER_LEN;
            let at = HEADER_LEN + (n as usize) * full;
            return Err(OpenFailure::Chunk { index: n, count: (body / full) as u64 + 1, start: at, end: at + piece.len() });
        }
        if last {
            return Ok(out);
        }
        rest = &rest[full..];
        n = n.wrapping_add(1);
    }
}

/// The contents of `ENCRYPTION-INFO`: what RESTORE (and a later backup of the same chain)
/// needs, with the passphrase, to derive the chain's key and to tell a wrong passphrase at
/// once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionInfo {
    /// The PBKDF2 salt, random per chain.
    pub salt: [u8; SALT_LEN],
    /// PBKDF2 iterations: recorded so that a later build can change the count and still read
    /// old chains; this build reads only [`PBKDF2_ITERATIONS`].
    pub iterations: u32,
    /// [`EncryptionKey::check_value`] of the chain's key.
    pub key_check: [u8; 32],
}

impl EncryptionInfo {
    /// The info of a new chain with salt `salt`, and its key.
    pub fn new(passphrase: &Secret, salt: [u8; SALT_LEN]) -> (EncryptionInfo, EncryptionKey) {
        let key = EncryptionKey::derive(passphrase, &salt);
        (EncryptionInfo { salt, iterations: PBKDF2_ITERATIONS, key_check: key.check_value() }, key)
    }

    /// The file's bytes, in a [`FileKind::EncryptionInfo`] envelope (never encrypted itself).
    pub fn encode(&self) -> Vec<u8> {
        envelope::encode(FileKind::EncryptionInfo, self)
    }

    /// Reads the file: envelope checks, then an iteration count this build uses (a damaged or
    /// hostile count could otherwise make key derivation run for hours).
    pub fn decode(path: &str, bytes: &[u8]) -> Result<EncryptionInfo, FormatError> {
        let info: EncryptionInfo = envelope::decode(path, FileKind::EncryptionInfo, bytes)?;
        if info.iterations != PBKDF2_ITERATIONS {
            return Err(FormatError::Invalid {
                path: path.into(),
                kind: FileKind::EncryptionInfo,
                reason: format!("{} PBKDF2 iterations, this build uses {PBKDF2_ITERATIONS}", info.iterations),
            });
        }
        Ok(info)
    }

    /// The chain's key for `passphrase`, or [`EncryptionError::DecryptFailed`] naming `path`
    /// when the passphrase is not the chain's.
    pub fn key(&self, path: &str, passphrase: &Secret) -> Result<EncryptionKey, EncryptionError> {
        let key = EncryptionKey::derive(passphrase, &self.salt);
        if key.matches_check(&self.key_check) {
            Ok(key)
        } else {
            Err(EncryptionError::DecryptFailed { path: path.into() })
        }
    }
}

/// How the files of one backup are written and read: sealed under a key, or left as they are.
/// One value serves a whole job or restore, so the call sites stay the same either way.
///
/// Its key is always one that matched the chain's `ENCRYPTION-INFO` (checked when a restore or
/// SHOW BACKUP derived it, or when the backup job was planned), so a chunk that fails to
/// decrypt under it is reported as a damaged file ([`EncryptionError::Damaged`]), never as a
/// wrong passphrase.
#[derive(Clone, Debug, Default)]
pub struct FileCipher {
    key: Option<EncryptionKey>,
}

impl FileCipher {
    /// No encryption: files are written as they are, and an encrypted file read is refused
    /// with [`EncryptionError::KeyRequired`].
    pub fn plaintext() -> FileCipher {
        FileCipher { key: None }
    }

    /// Encryption under `key`, which must be one that matched the chain's `ENCRYPTION-INFO`
    /// ([`EncryptionInfo::key`]): a file that fails to decrypt under it is called damaged.
    pub fn with_checked_key(key: EncryptionKey) -> FileCipher {
        FileCipher { key: Some(key) }
    }

    /// The key, if any: what a RESTORE job keeps in its payload so that a node adopting it
    /// reads the backup without the passphrase.
    pub fn checked_key(&self) -> Option<&EncryptionKey> {
        self.key.as_ref()
    }

    /// The bytes to store for `plaintext` at `path`: unchanged without a key (and no
    /// randomness drawn), otherwise sealed under a fresh IV from `rt`.
    pub fn seal(&self, rt: &dyn Runtime, path: &str, plaintext: Vec<u8>) -> Result<Vec<u8>, EncryptionError> {
        match &self.key {
            None => Ok(plaintext),
            Some(key) => {
                let mut iv = [0u8; IV_LEN];
                rt.fill_random(&mut iv);
                seal(path, key, iv, &plaintext)
            }
        }
    }

    /// The plaintext of stored `bytes` read from `path` (`path` names the file in errors).
    pub fn open(&self, path: &str, bytes: Vec<u8>) -> Result<Vec<u8>, EncryptionError> {
        match &self.key {
            None if appears_encrypted(&bytes) => Err(EncryptionError::KeyRequired { path: path.into() }),
            None => Ok(bytes),
            Some(key) => open_chunks(path, key, &bytes).map_err(|e| match e {
                OpenFailure::Chunk { index, count, start, end } => EncryptionError::Damaged { path: path.into(), chunk: index + 1, chunks: count, start, end },
                OpenFailure::Other(e) => e,
            }),
        }
    }
}

/// What an encrypted backup job keeps in its payload.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEncryption {
    /// The chain's derived key (never the passphrase): lets whichever node coordinates the job
    /// encrypt, including one that adopts it after the first coordinator died.
    pub key: EncryptionKey,
    /// The location (credentials included; never printed) whose `ENCRYPTION-INFO` holds the
    /// chain's salt: the full backup's directory. Checked again before the manifest is written.
    pub info_location: String,
}

impl fmt::Debug for JobEncryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobEncryption").field("key", &self.key).field("info_location", &crate::storage::url::redact_location(&self.info_location)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::test_support::CountingRuntime;

    fn key(b: u8) -> EncryptionKey {
        EncryptionKey::from_bytes([b; KEY_LEN])
    }

    const IV: [u8; IV_LEN] = [7, 1, 2, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe];

    fn plaintext(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    /// Sizes around every boundary that matters: empty, one byte, a chunk less one, a chunk,
    /// a chunk plus one, and several chunks with and without a partial tail.
    const SIZES: [usize; 8] = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 3 * CHUNK_SIZE + 17, 5 * CHUNK_SIZE];

    #[test]
    fn round_trips_at_every_boundary() {
        for len in SIZES {
            let p = plaintext(len);
            let c = seal("f", &key(1), IV, &p).unwrap();
            let chunks = len / CHUNK_SIZE + 1;
            assert_eq!(c.len(), HEADER_LEN + len + chunks * TAG_LEN, "{len}");
            assert_eq!(&c[..7], b"encrypt");
            assert_eq!(c[7], 2);
            assert_eq!(&c[8..20], &IV);
            assert_eq!(open("f", &key(1), &c).unwrap(), p, "{len}");
        }
    }

    #[test]
    fn chunk_nonces_add_the_chunk_number_to_the_last_eight_bytes_big_endian_wrapping() {
        assert_eq!(chunk_nonce(&IV, 0).as_slice(), &IV);
        assert_eq!(chunk_nonce(&IV, 1).as_slice(), &[7, 1, 2, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(chunk_nonce(&IV, 2).as_slice(), &[7, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0], "wraps, leaving the first 4 bytes");
        assert_eq!(chunk_nonce(&IV, 0x103).as_slice(), &[7, 1, 2, 3, 0, 0, 0, 0, 0, 0, 1, 1]);
    }

    #[test]
    fn each_chunk_is_one_gcm_message_under_its_own_nonce() {
        // Independent of `open`: chunk 0 is the GCM sealing of the first 64 KiB under the
        // file IV, chunk 1 that of the 5-byte tail under IV + 1.
        use aes_gcm::aead::Aead;
        let p = plaintext(CHUNK_SIZE + 5);
        let c = seal("f", &key(3), IV, &p).unwrap();
        let cipher = key(3).cipher();
        let first = cipher.encrypt(&chunk_nonce(&IV, 0), &p[..CHUNK_SIZE]).unwrap();
        let second = cipher.encrypt(&chunk_nonce(&IV, 1), &p[CHUNK_SIZE..]).unwrap();
        assert_eq!(&c[HEADER_LEN..HEADER_LEN + CHUNK_SIZE + TAG_LEN], &first[..]);
        assert_eq!(&c[HEADER_LEN + CHUNK_SIZE + TAG_LEN..], &second[..]);
    }

    #[test]
    fn every_truncation_is_detected() {
        for len in [0, 1, 100, CHUNK_SIZE, CHUNK_SIZE + 1] {
            let c = seal("dir/f", &key(1), IV, &plaintext(len)).unwrap();
            // Every cut point of small files; for large ones, every point near the header, the
            // chunk boundaries and the end, and a stride through the middle.
            let cuts: Vec<usize> = if c.len() < 400 {
                (0..c.len()).collect()
            } else {
                let b = HEADER_LEN + CHUNK_SIZE + TAG_LEN;
                let mut v: Vec<usize> = (0..64).collect();
                v.extend(b.saturating_sub(40)..(b + 40).min(c.len()));
                v.extend(c.len() - 40..c.len());
                v.extend((0..c.len()).step_by(997));
                v
            };
            for cut in cuts {
                let e = open("dir/f", &key(1), &c[..cut]).expect_err("truncation must be detected");
                assert!(e.to_string().starts_with("dir/f: "), "{cut}: {e}");
            }
        }
        // A cut exactly at a chunk boundary, named as such.
        let c = seal("f", &key(1), IV, &plaintext(CHUNK_SIZE)).unwrap();
        let e = open("f", &key(1), &c[..HEADER_LEN + CHUNK_SIZE + TAG_LEN]).unwrap_err();
        assert_eq!(e.to_string(), "f: encrypted file is truncated (it ends without its final chunk, which is always shorter than 64 KiB)");
        let e = open("f", &key(1), &c[..HEADER_LEN]).unwrap_err();
        assert!(matches!(e, EncryptionError::Truncated { .. }), "{e}");
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        for len in [0, 40] {
            let c = seal("f", &key(1), IV, &plaintext(len)).unwrap();
            for i in 0..c.len() {
                for bit in [0x01, 0x80] {
                    let mut b = c.clone();
                    b[i] ^= bit;
                    let e = open("d/f", &key(1), &b).expect_err("flip must be detected");
                    assert!(e.to_string().starts_with("d/f: "), "{e}");
                }
            }
        }
        // In a multi-chunk file: a flip in each chunk, and in each tag.
        let c = seal("f", &key(1), IV, &plaintext(2 * CHUNK_SIZE + 3)).unwrap();
        for i in [HEADER_LEN, HEADER_LEN + CHUNK_SIZE + 1, HEADER_LEN + CHUNK_SIZE + TAG_LEN + 7, c.len() - 1, c.len() - TAG_LEN - 1] {
            let mut b = c.clone();
            b[i] ^= 0x10;
            assert_eq!(open("f", &key(1), &b), Err(EncryptionError::DecryptFailed { path: "f".into() }), "{i}");
        }
    }

    #[test]
    fn reordered_and_spliced_chunks_are_detected() {
        let p = plaintext(2 * CHUNK_SIZE + 10);
        let c = seal("f", &key(1), IV, &p).unwrap();
        let full = CHUNK_SIZE + TAG_LEN;
        let (h, body) = c.split_at(HEADER_LEN);
        let mut swapped = h.to_vec();
        swapped.extend_from_slice(&body[full..2 * full]);
        swapped.extend_from_slice(&body[..full]);
        swapped.extend_from_slice(&body[2 * full..]);
        assert!(matches!(open("f", &key(1), &swapped), Err(EncryptionError::DecryptFailed { .. })));
        // The same plaintext under another IV: its chunks do not fit this file.
        let other = seal("f", &key(1), [9; IV_LEN], &p).unwrap();
        let mut spliced = c[..HEADER_LEN + full].to_vec();
        spliced.extend_from_slice(&other[HEADER_LEN + full..]);
        assert!(matches!(open("f", &key(1), &spliced), Err(EncryptionError::DecryptFailed { .. })));
        // Appended bytes.
        let mut longer = c.clone();
        longer.push(0);
        assert!(open("f", &key(1), &longer).is_err());
    }

    #[test]
    fn wrong_key_and_unencrypted_input_are_told_apart() {
        let c = seal("f", &key(1), IV, b"hello").unwrap();
        assert_eq!(open("a/BACKUP", &key(2), &c).unwrap_err().to_string(), "a/BACKUP: failed to decrypt — maybe incorrect key");
        let plain = crate::format::envelope::encode(FileKind::Manifest, &1u8);
        assert_eq!(open("a/BACKUP", &key(1), &plain).unwrap_err().to_string(), "a/BACKUP: file does not appear to be encrypted");
        assert_eq!(open("a/BACKUP", &key(1), b"encr").unwrap_err(), EncryptionError::NotEncrypted { path: "a/BACKUP".into() });
        assert!(matches!(open("a/BACKUP", &key(1), b"encrypt\x02abc"), Err(EncryptionError::Truncated { .. })));
        let mut v1 = c.clone();
        v1[7] = 1;
        assert_eq!(open("f", &key(1), &v1).unwrap_err().to_string(), "f: unexpected encryption scheme/config version 1");
        // Without a key: refused by name, and plaintext passes through untouched.
        let none = FileCipher::plaintext();
        assert_eq!(
            none.open("a/BACKUP", c.clone()).unwrap_err().to_string(),
            "a/BACKUP: file appears encrypted -- try specifying one of \"encryption_passphrase\" or \"kms\""
        );
        assert_eq!(none.open("a/BACKUP", plain.clone()).unwrap(), plain);
    }

    #[test]
    fn a_checked_key_calls_a_failing_chunk_damage_naming_the_file_and_the_chunk() {
        let p = plaintext(2 * CHUNK_SIZE + 3);
        let c = seal("f", &key(1), IV, &p).unwrap();
        let full = CHUNK_SIZE + TAG_LEN;
        let checked = FileCipher::with_checked_key(key(1));
        // A flip in the IV fails the first chunk; one in each chunk (and in the last tag) fails
        // that chunk.
        for (at, chunk) in [(8, 1), (HEADER_LEN + 5, 1), (HEADER_LEN + full + 9, 2), (c.len() - 1, 3)] {
            let mut b = c.clone();
            b[at] ^= 0x01;
            let start = HEADER_LEN + (chunk as usize - 1) * full;
            let end = if chunk == 3 { c.len() } else { start + full };
            assert_eq!(
                checked.open("d/data/1.sst", b.clone()),
                Err(EncryptionError::Damaged { path: "d/data/1.sst".into(), chunk, chunks: 3, start, end }),
                "flip at {at}"
            );
            // The raw function has no knowledge of the key: it keeps CockroachDB's words.
            assert_eq!(open("d/data/1.sst", &key(1), &b), Err(EncryptionError::DecryptFailed { path: "d/data/1.sst".into() }));
        }
        let mut b = c.clone();
        b[HEADER_LEN] ^= 0x80;
        let text = checked.open("d/BACKUP", b).unwrap_err().to_string();
        assert_eq!(
            text,
            format!(
                "d/BACKUP: file is damaged: chunk 1 of 3 (bytes 20 to {}) fails its authentication check, although the passphrase \
                 matches the backup's ENCRYPTION-INFO (the file was changed, cut short or replaced)",
                HEADER_LEN + full
            )
        );
        assert!(!text.contains("incorrect key"));
        // A file of another chain (another key) under the checked key is damaged too: it is not
        // the file this backup wrote.
        let foreign = seal("f", &key(2), IV, b"x").unwrap();
        assert!(matches!(checked.open("f", foreign), Err(EncryptionError::Damaged { chunk: 1, chunks: 1, .. })));
        // Cuts keep their own, more precise, error.
        assert!(matches!(checked.open("f", c[..HEADER_LEN + full].to_vec()), Err(EncryptionError::Truncated { .. })));
    }

    #[test]
    fn ivs_make_equal_plaintexts_differ() {
        let a = seal("f", &key(1), [1; IV_LEN], b"same").unwrap();
        let b = seal("f", &key(1), [2; IV_LEN], b"same").unwrap();
        assert_ne!(a[HEADER_LEN..], b[HEADER_LEN..]);
    }

    #[test]
    fn key_derivation_is_pbkdf2_hmac_sha256_64000() {
        let salt = [0x5a; SALT_LEN];
        let k = EncryptionKey::derive(&Secret::new("correct horse"), &salt);
        let mut want = [0u8; KEY_LEN];
        pbkdf2::pbkdf2_hmac::<Sha256>(b"correct horse", &salt, 64_000, &mut want);
        assert_eq!(k, EncryptionKey::from_bytes(want));
        assert_ne!(k, EncryptionKey::derive(&Secret::new("correct horse"), &[0x5b; SALT_LEN]), "the salt matters");
        // RFC 6070-style known answer for PBKDF2-HMAC-SHA256 (1 iteration), so the primitive
        // itself is the standard one.
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(b"password", b"salt", 1, &mut out);
        assert_eq!(out[..4], [0x12, 0x0f, 0xb6, 0xcf]);
    }

    #[test]
    fn secrets_never_print() {
        let k = EncryptionKey::from_bytes([0xab; KEY_LEN]);
        assert_eq!(format!("{k:?}"), "EncryptionKey(redacted)");
        let j = JobEncryption { key: k, info_location: "s3://b/p?AWS_SECRET_ACCESS_KEY=hunter2".into() };
        let shown = format!("{j:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("171") && !shown.contains("ab"), "{shown}");
    }

    #[test]
    fn encryption_info_round_trips_and_checks_the_passphrase() {
        let (info, k) = EncryptionInfo::new(&Secret::new("pw"), [3; SALT_LEN]);
        let bytes = info.encode();
        assert_eq!(crate::format::peek_kind("f", &bytes), Ok(FileKind::EncryptionInfo));
        let back = EncryptionInfo::decode("d/ENCRYPTION-INFO", &bytes).unwrap();
        assert_eq!(back, info);
        assert_eq!(back.key("d/ENCRYPTION-INFO", &Secret::new("pw")).unwrap(), k);
        assert_eq!(back.key("d/ENCRYPTION-INFO", &Secret::new("other")).unwrap_err().to_string(), "d/ENCRYPTION-INFO: failed to decrypt — maybe incorrect key");
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x04;
            assert!(EncryptionInfo::decode("f", &b).is_err(), "flip at {i}");
        }
        let odd = EncryptionInfo { iterations: 4_000_000_000, ..info };
        let e = EncryptionInfo::decode("f", &odd.encode()).unwrap_err();
        assert_eq!(e.to_string(), "f: invalid encryption-info file: 4000000000 PBKDF2 iterations, this build uses 64000");
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_open_or_panic(tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), version in 0u8..4) {
            let mut bytes = b"encrypt".to_vec();
            bytes.push(version);
            bytes.extend_from_slice(&tail);
            let e = open("x/y", &key(1), &bytes).unwrap_err();
            proptest::prop_assert!(e.to_string().starts_with("x/y: "));
            proptest::prop_assert!(open("x/y", &key(1), &tail).is_err());
        }
    }

    #[test]
    fn the_plaintext_cipher_draws_no_randomness_and_changes_nothing() {
        let rt = CountingRuntime(std::sync::Mutex::new(0));
        let bytes = b"\x89BKPSIM\n...".to_vec();
        assert_eq!(FileCipher::plaintext().seal(&rt, "f", bytes.clone()).unwrap(), bytes);
        assert_eq!(*rt.0.lock().unwrap(), 0);
        let c = FileCipher::with_checked_key(key(4));
        let a = c.seal(&rt, "f", bytes.clone()).unwrap();
        let b = c.seal(&rt, "f", bytes.clone()).unwrap();
        assert_ne!(a, b, "a fresh IV per file");
        assert_eq!(&a[8..20], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(c.open("f", a).unwrap(), bytes);
        assert_eq!(c.open("f", bytes.clone()).unwrap_err(), EncryptionError::NotEncrypted { path: "f".into() });
    }
}
