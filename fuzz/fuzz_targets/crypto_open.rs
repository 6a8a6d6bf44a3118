//! `crypto::open`, the chunked AES-256-GCM reader every encrypted file goes through, with a
//! fixed key. Two halves, chosen by the first byte:
//!
//! - even: the rest is a file; `open` never panics, and since the fuzzer cannot forge a tag,
//!   anything it accepts must have been sealed with this key (seeds are real sealed files).
//! - odd: the rest is a plaintext (stretched past one or two 64 KiB chunks when asked) sealed
//!   with `seal`; it opens to the plaintext, and the sealed bytes cut short, lengthened or with
//!   one byte changed never open.
#![no_main]

use backup::crypto::{open, seal, EncryptionKey, CHUNK_SIZE, IV_LEN};
use backup_sim_fuzz::{assert_names_file, PATH};
use libfuzzer_sys::fuzz_target;

fn key() -> EncryptionKey {
    EncryptionKey::from_bytes([0x5a; 32])
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode % 2 == 0 {
        if let Err(e) = open(PATH, &key(), rest) {
            assert_names_file(&e);
        }
        return;
    }
    // Odd: [mode][iv: 12][where: 4][plaintext...]
    if rest.len() < IV_LEN + 4 {
        return;
    }
    let (iv, rest) = rest.split_at(IV_LEN);
    let (at, text) = rest.split_at(4);
    let iv: [u8; IV_LEN] = iv.try_into().unwrap_or_default();
    let at = u32::from_le_bytes(at.try_into().unwrap_or_default()) as usize;
    // Bits 1-2 of the mode stretch the plaintext to cross chunk boundaries: none, one, two.
    let stretch = ((mode >> 1) & 3) as usize % 3;
    let plain: Vec<u8> = if stretch == 0 || text.is_empty() {
        text.to_vec()
    } else {
        let len = stretch * CHUNK_SIZE + text.len() - 1 - (at % 2) * (text.len() - 1);
        text.iter().copied().cycle().take(len).collect()
    };
    let sealed = seal(PATH, &key(), iv, &plain).expect("sealing never fails");
    assert_eq!(open(PATH, &key(), &sealed).as_deref(), Ok(&plain[..]), "seal then open is not the identity");
    let cut = at % sealed.len();
    assert!(open(PATH, &key(), &sealed[..cut]).is_err(), "a file cut to {cut} of {} bytes opened", sealed.len());
    let mut longer = sealed.clone();
    longer.push((at >> 8) as u8);
    assert!(open(PATH, &key(), &longer).is_err(), "a file with a byte appended opened");
    let mut changed = sealed;
    changed[cut] ^= 1 << ((at >> 24) % 8);
    assert!(open(PATH, &key(), &changed).is_err(), "a file with byte {cut} changed opened");
});
