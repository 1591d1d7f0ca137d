//! The page kernels: a hash of every page (xxh64 for the wire, or xxh3 as a faster fingerprint
//! that only the hash-scan tracker compares with itself) and a zero-page bitmap, in one pass.
//!
//! Safe code only; memory is read through [`SharedBytes`] snapshots (see `shared.rs`).

use std::sync::atomic::{AtomicBool, Ordering};

use xxhash_rust::xxh3::{xxh3_64, Xxh3};
use xxhash_rust::xxh64::{xxh64, Xxh64};

use crate::shared::{SharedBytes, SharedU32s, SharedU64s};

/// Bytes copied out of JavaScript memory at a time: one 4 KiB page, small enough to stay in L1
/// between the copy and the hash.
const CHUNK_BYTES: usize = 4096;

/// Pages between checks of the abort flag.
const ABORT_CHECK_PAGES: usize = 64;

#[repr(C, align(64))]
struct Chunk([u8; CHUNK_BYTES]);

impl Chunk {
    fn new() -> Self {
        Self([0; CHUNK_BYTES])
    }
}

/// Which hash a scan computes per page.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PageHash {
    /// xxh64, seed 0: the protocol's page checksum, shared with the TypeScript twin.
    Xxh64,
    /// xxh3-64 (SIMD): a fingerprint for dirty detection by content, compared only with
    /// fingerprints of the same kernel.
    Xxh3,
}

/// The scan was stopped by its abort flag before it finished.
#[derive(Debug)]
pub struct Aborted;

/// Where a scan writes its results.
pub struct ScanOutput {
    pub hashes: SharedU64s,
    /// `None` when only hashes are wanted.
    pub zero_bits: Option<SharedU32s>,
}

/// Hashes every whole page of `data` into `out.hashes[i]` (xxh64, seed 0) and, if asked, sets
/// bit `i` of `out.zero_bits` iff page `i` is all zero, clearing it otherwise; bits past the
/// last page are left alone. Returns the number of zero pages.
///
/// The caller has checked that `page_size > 0`, `data.len()` is a multiple of it, and the
/// outputs are long enough; violations panic rather than write out of bounds.
pub fn scan_pages(
    data: SharedBytes,
    page_size: usize,
    hash: PageHash,
    out: &ScanOutput,
    abort: Option<&AtomicBool>,
) -> Result<u32, Aborted> {
    assert!(page_size > 0 && data.len().is_multiple_of(page_size));
    let page_count = data.len() / page_size;
    let mut chunk = Chunk::new();
    let mut zero_pages = 0u32;
    let mut bits = 0u32;
    for page in 0..page_count {
        if page % ABORT_CHECK_PAGES == 0 && abort.is_some_and(|a| a.load(Ordering::Relaxed)) {
            return Err(Aborted);
        }
        let (value, nonzero) = hash_range(data, page * page_size, page_size, hash, 0, &mut chunk);
        out.hashes.store(page, value);
        if nonzero == 0 {
            zero_pages += 1;
            bits |= 1 << (page % 32);
        }
        if page % 32 == 31 {
            if let Some(zero_bits) = &out.zero_bits {
                zero_bits.assign_bits(page / 32, u32::MAX, bits);
            }
            bits = 0;
        }
    }
    if !page_count.is_multiple_of(32) {
        if let Some(zero_bits) = &out.zero_bits {
            let mask = (1u32 << (page_count % 32)) - 1;
            zero_bits.assign_bits(page_count / 32, mask, bits);
        }
    }
    Ok(zero_pages)
}

/// xxh64 of all of `data` with `seed`.
pub fn hash_all(data: SharedBytes, seed: u64) -> u64 {
    hash_range(
        data,
        0,
        data.len(),
        PageHash::Xxh64,
        seed,
        &mut Chunk::new(),
    )
    .0
}

/// One streaming hasher, of the kind asked for only. On the stack: no allocation per page.
#[allow(clippy::large_enum_variant)]
enum Streaming {
    Xxh64(Xxh64),
    Xxh3(Xxh3),
}

impl Streaming {
    fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Xxh64(h) => h.update(bytes),
            Self::Xxh3(h) => h.update(bytes),
        }
    }

    fn digest(&self) -> u64 {
        match self {
            Self::Xxh64(h) => h.digest(),
            Self::Xxh3(h) => h.digest(),
        }
    }
}

/// The hash (xxh64 with `seed`, or xxh3-64) of `len` bytes at `start`, and the OR of those
/// bytes (0 iff all zero). Up to a chunk in one call; longer, a chunk at a time.
#[inline(always)]
fn hash_range(
    data: SharedBytes,
    start: usize,
    len: usize,
    hash: PageHash,
    seed: u64,
    chunk: &mut Chunk,
) -> (u64, u64) {
    if len <= CHUNK_BYTES {
        let bytes = &mut chunk.0[..len];
        let nonzero = data.snapshot(start, bytes);
        let value = match hash {
            PageHash::Xxh64 => xxh64(bytes, seed),
            PageHash::Xxh3 => xxh3_64(bytes),
        };
        return (value, nonzero);
    }
    let mut hasher = match hash {
        PageHash::Xxh64 => Streaming::Xxh64(Xxh64::new(seed)),
        PageHash::Xxh3 => Streaming::Xxh3(Xxh3::new()),
    };
    let mut nonzero = 0;
    let mut at = start;
    let end = start + len;
    while at < end {
        let n = CHUNK_BYTES.min(end - at);
        let bytes = &mut chunk.0[..n];
        nonzero |= data.snapshot(at, bytes);
        hasher.update(bytes);
        at += n;
    }
    (hasher.digest(), nonzero)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(v: &[u8]) -> SharedBytes {
        // SAFETY: every test keeps `v` alive while the view is used.
        unsafe { SharedBytes::new(v.as_ptr(), v.len()) }
    }

    #[test]
    fn hash_all_matches_one_shot_xxh64_across_chunk_boundaries() {
        let data: Vec<u8> = (0..3 * CHUNK_BYTES + 17).map(|i| (i * 31) as u8).collect();
        for len in [0, 1, 3, 32, CHUNK_BYTES, CHUNK_BYTES + 1, data.len()] {
            assert_eq!(hash_all(bytes(&data[..len]), 7), xxh64(&data[..len], 7));
        }
        assert_eq!(hash_all(bytes(&[]), 0), 0xef46_db37_51d8_e999);
    }

    #[test]
    fn scan_pages_hashes_pages_and_defines_exactly_the_bits_of_its_pages() {
        for page_size in [4096usize, 65536, 100] {
            let pages = 40;
            let mut data = vec![0u8; page_size * pages];
            for p in (0..pages).filter(|p| p % 3 != 0) {
                data[p * page_size + (p % 2) * (page_size - 1)] = 1;
            }
            let mut hashes = vec![0u64; pages];
            let mut words = vec![0xFFFF_FFFFu32, 0xFFFF_FFFF, 0xFFFF_FFFF];
            // SAFETY: the vectors outlive the views.
            let out = unsafe {
                ScanOutput {
                    hashes: SharedU64s::new(hashes.as_mut_ptr(), pages),
                    zero_bits: Some(SharedU32s::new(words.as_mut_ptr(), words.len())),
                }
            };
            let zeros = scan_pages(bytes(&data), page_size, PageHash::Xxh64, &out, None).unwrap();
            let mut fingerprints = vec![0u64; pages];
            // SAFETY: the vector outlives the view.
            let fp_out = ScanOutput {
                hashes: unsafe { SharedU64s::new(fingerprints.as_mut_ptr(), pages) },
                zero_bits: None,
            };
            assert_eq!(
                scan_pages(bytes(&data), page_size, PageHash::Xxh3, &fp_out, None).unwrap(),
                14
            );
            assert_eq!(zeros, 14);
            for p in 0..pages {
                let page = &data[p * page_size..(p + 1) * page_size];
                assert_eq!(hashes[p], xxh64(page, 0));
                assert_eq!(fingerprints[p], xxh3_64(page));
                assert_eq!(words[p / 32] >> (p % 32) & 1 == 1, p % 3 == 0, "page {p}");
            }
            assert_eq!(words[1] >> 8, 0xFF_FFFF, "bits past the last page are kept");
            assert_eq!(words[2], 0xFFFF_FFFF);
        }
    }

    #[test]
    fn scan_pages_stops_when_aborted() {
        let data = vec![0u8; 4096 * 4];
        let mut hashes = vec![0u64; 4];
        // SAFETY: the vector outlives the view.
        let out = ScanOutput {
            hashes: unsafe { SharedU64s::new(hashes.as_mut_ptr(), 4) },
            zero_bits: None,
        };
        let abort = AtomicBool::new(true);
        assert!(scan_pages(bytes(&data), 4096, PageHash::Xxh3, &out, Some(&abort)).is_err());
    }
}
