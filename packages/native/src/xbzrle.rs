//! XBZRLE page deltas, byte-compatible with QEMU's `migration/xbzrle.c`.
//!
//! A delta of `new` against `old` (two pages of the same length) is a sequence of pairs
//!
//! ```text
//! delta = ( zrun nzrun )*          zrun  = len             nzrun = len byte{len}
//! len   = 1 byte 0xxxxxxx (0..=127) | 2 bytes 1xxxxxxx 0xxxxxxx (low 7 bits first; 0..=16383)
//! ```
//!
//! where a zero run keeps `len` bytes of the old page and a literal run (nzrun) replaces the
//! next `len` bytes with the bytes that follow. Trailing unchanged bytes are not encoded, so an
//! unchanged page is the empty delta.
//!
//! Decoding accepts exactly what QEMU's `xbzrle_decode_buffer` accepts: a run length is one
//! or two bytes (a second byte with its top bit set is an error, so lengths stop at 16383);
//! at least 2 bytes must remain wherever a run length starts; only the first zero run may be
//! empty; a literal run may not be empty; no run may go past the page or the delta. The
//! two-byte form of a small length (`81 00`) is accepted, as QEMU does, though never written.
//!
//! Encoding writes what QEMU's `xbzrle_encode_buffer` writes: alternating maximal runs (a
//! single unchanged byte between two changes is a zero run of 1), the first zero run written
//! even when empty. QEMU never encodes a run over 16383 bytes (its pages are smaller); for
//! larger pages this encoder ends a zero run after 16383 bytes and starts the literal run at
//! the next (unchanged) byte, and gives up (`None`) on 16384 or more changed bytes in a row,
//! which the format cannot express.
//!
//! Safe code only; JavaScript memory is read and written through `shared.rs`.

use std::cell::RefCell;
use std::fmt;

use crate::shared::{SharedBytes, SharedBytesMut};

/// The longest run a (two-byte) run length can express.
pub const MAX_RUN: usize = 0x3fff;

/// Scratch memory kept between calls on a thread is dropped when it grows past this.
const KEEP_SCRATCH_BYTES: usize = 1 << 20;

const WORD: usize = 8;
const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = LOW_BITS << 7;

/// A delta that QEMU's decoder would reject: why, and the delta offset of the bad run length.
#[derive(Debug, PartialEq, Eq)]
pub struct DecodeError {
    pub at: usize,
    pub reason: &'static str,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid XBZRLE delta: {} at delta byte {}",
            self.reason, self.at
        )
    }
}

/// Encodes `cur` against `old` into at most `capacity` bytes, passing each piece to
/// `emit(offset, bytes)` in order, and returns the delta's length; `None` if it is longer
/// than `capacity` or cannot be expressed. Pieces already emitted are then garbage.
///
/// Panics if `old` and `cur` differ in length.
pub fn encode(
    old: &[u8],
    cur: &[u8],
    capacity: usize,
    mut emit: impl FnMut(usize, &[u8]),
) -> Option<usize> {
    assert_eq!(old.len(), cur.len(), "old and cur differ in length");
    let len = cur.len();
    let mut written = 0;
    let mut at = 0;
    loop {
        let zrun_start = at;
        let changed = skip_equal(old, cur, at);
        if changed == len {
            return Some(written);
        }
        // An unchanged stretch longer than a run length can say ends the zero run early; the
        // literal run then starts with an unchanged byte.
        let literal_start = changed.min(zrun_start + MAX_RUN);
        let literal_end = skip_different(old, cur, literal_start + 1);
        let literal_len = literal_end - literal_start;
        if literal_len > MAX_RUN {
            return None;
        }
        let mut header = [0u8; 4];
        let header_len = put_len(&mut header, 0, literal_start - zrun_start);
        let header_len = put_len(&mut header, header_len, literal_len);
        let end = written + header_len + literal_len;
        if end > capacity {
            return None;
        }
        emit(written, &header[..header_len]);
        emit(written + header_len, &cur[literal_start..literal_end]);
        written = end;
        at = literal_end;
    }
}

/// Walks `delta` over a page of `page_len` bytes, calling `literal(offset, bytes)` for each
/// literal run in order, and returns how many page bytes the delta covers. Stops at the first
/// error, after the calls for the runs before it.
pub fn walk(
    delta: &[u8],
    page_len: usize,
    mut literal: impl FnMut(usize, &[u8]),
) -> Result<usize, DecodeError> {
    let mut at = 0;
    let mut covered = 0;
    while at < delta.len() {
        let (zrun, next) = read_len(delta, at)?;
        if zrun == 0 && at != 0 {
            return Err(error(at, "an empty zero run after the first"));
        }
        if zrun > page_len - covered {
            return Err(error(at, "a zero run past the end of the page"));
        }
        covered += zrun;
        at = next;
        let (nzrun, next) = read_len(delta, at)?;
        if nzrun == 0 {
            return Err(error(at, "an empty literal run"));
        }
        if nzrun > page_len - covered {
            return Err(error(at, "a literal run past the end of the page"));
        }
        if nzrun > delta.len() - next {
            return Err(error(at, "a literal run past the end of the delta"));
        }
        literal(covered, &delta[next..next + nzrun]);
        covered += nzrun;
        at = next + nzrun;
    }
    Ok(covered)
}

/// `encode` from JavaScript memory to JavaScript memory. `old` and `cur` are copied to
/// private memory first, so the delta is exactly the encoding of the bytes read.
///
/// Panics if `old` and `cur` differ in length.
pub fn encode_shared(old: SharedBytes, cur: SharedBytes, out: SharedBytesMut) -> Option<usize> {
    let len = old.len();
    assert_eq!(len, cur.len(), "old and cur differ in length");
    let both = len.checked_mul(2).expect("page too large");
    with_scratch(both, |scratch| {
        let (old_copy, cur_copy) = scratch.split_at_mut(len);
        old.snapshot(0, old_copy);
        cur.snapshot(0, cur_copy);
        encode(old_copy, cur_copy, out.len(), |at, bytes| {
            out.store(at, bytes)
        })
    })
}

/// Applies `delta` to `page` in place, after checking all of it: on error `page` is untouched.
/// The delta is copied to private memory first, so what is checked is what is applied.
pub fn decode_shared(delta: SharedBytes, page: SharedBytesMut) -> Result<(), DecodeError> {
    with_scratch(delta.len(), |scratch| {
        delta.snapshot(0, scratch);
        walk(scratch, page.len(), |_, _| {})?;
        walk(scratch, page.len(), |at, bytes| page.store(at, bytes))?;
        Ok(())
    })
}

/// The first index `>= from` where `old` and `cur` differ, or their length.
#[inline]
fn skip_equal(old: &[u8], cur: &[u8], from: usize) -> usize {
    let len = old.len();
    let mut at = from;
    // Four words at a time while they are all equal, then a word at a time to the change.
    while at + 4 * WORD <= len {
        let diff = (word(old, at) ^ word(cur, at))
            | (word(old, at + WORD) ^ word(cur, at + WORD))
            | (word(old, at + 2 * WORD) ^ word(cur, at + 2 * WORD))
            | (word(old, at + 3 * WORD) ^ word(cur, at + 3 * WORD));
        if diff != 0 {
            break;
        }
        at += 4 * WORD;
    }
    while at + WORD <= len {
        let diff = word(old, at) ^ word(cur, at);
        if diff != 0 {
            return at + (diff.trailing_zeros() / 8) as usize;
        }
        at += WORD;
    }
    while at < len && old[at] == cur[at] {
        at += 1;
    }
    at
}

/// The first index `>= from` where `old` and `cur` are equal, or their length.
#[inline]
fn skip_different(old: &[u8], cur: &[u8], from: usize) -> usize {
    let len = old.len();
    let mut at = from;
    while at + WORD <= len {
        let diff = word(old, at) ^ word(cur, at);
        // The lowest set bit of `zero` marks the first zero byte of `diff` (bits above it may
        // be false alarms from the borrow, which do not matter).
        let zero = diff.wrapping_sub(LOW_BITS) & !diff & HIGH_BITS;
        if zero != 0 {
            return at + (zero.trailing_zeros() / 8) as usize;
        }
        at += WORD;
    }
    while at < len && old[at] != cur[at] {
        at += 1;
    }
    at
}

/// Eight bytes at `at`, the first in the low bits whatever the host's byte order.
#[inline(always)]
fn word(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; WORD];
    w.copy_from_slice(&bytes[at..at + WORD]);
    u64::from_le_bytes(w)
}

/// Writes run length `value` (at most [`MAX_RUN`]) at `buf[at..]`; returns the end.
fn put_len(buf: &mut [u8; 4], at: usize, value: usize) -> usize {
    debug_assert!(value <= MAX_RUN);
    if value < 0x80 {
        buf[at] = value as u8;
        at + 1
    } else {
        buf[at] = (value & 0x7f) as u8 | 0x80;
        buf[at + 1] = (value >> 7) as u8;
        at + 2
    }
}

/// Reads the run length at `delta[at..]`; returns it and where the run's data starts.
fn read_len(delta: &[u8], at: usize) -> Result<(usize, usize), DecodeError> {
    if delta.len() - at < 2 {
        return Err(error(at, "fewer than 2 bytes left for a run"));
    }
    let low = delta[at];
    if low & 0x80 == 0 {
        return Ok((usize::from(low), at + 1));
    }
    let high = delta[at + 1];
    if high & 0x80 != 0 {
        return Err(error(at, "a run length longer than 2 bytes"));
    }
    Ok((usize::from(low & 0x7f) | usize::from(high) << 7, at + 2))
}

fn error(at: usize, reason: &'static str) -> DecodeError {
    DecodeError { at, reason }
}

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on `len` bytes of this thread's scratch memory (contents unspecified).
fn with_scratch<T>(len: usize, f: impl FnOnce(&mut [u8]) -> T) -> T {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => {
            if scratch.len() < len {
                scratch.resize(len, 0);
            }
            let result = f(&mut scratch[..len]);
            if scratch.len() > KEEP_SCRATCH_BYTES {
                *scratch = Vec::new();
            }
            result
        }
        Err(_) => f(&mut vec![0; len]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_vec(old: &[u8], cur: &[u8], capacity: usize) -> Option<Vec<u8>> {
        let mut out = vec![0xEEu8; capacity];
        let len = encode(old, cur, capacity, |at, bytes| {
            out[at..at + bytes.len()].copy_from_slice(bytes)
        })?;
        out.truncate(len);
        Some(out)
    }

    fn decode_vec(delta: &[u8], page: &[u8]) -> Result<Vec<u8>, DecodeError> {
        let mut page = page.to_vec();
        walk(delta, page.len(), |_, _| {})?;
        walk(delta, page.len(), |at, bytes| {
            page[at..at + bytes.len()].copy_from_slice(bytes)
        })?;
        Ok(page)
    }

    /// Byte-at-a-time maximal runs, the plain statement of what `encode` does.
    fn reference_encode(old: &[u8], cur: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut at = 0;
        let len = old.len();
        loop {
            let start = at;
            while at < len && old[at] == cur[at] {
                at += 1;
            }
            if at == len {
                return Some(out);
            }
            let literal_start = at.min(start + MAX_RUN);
            let mut end = literal_start + 1;
            while end < len && old[end] != cur[end] {
                end += 1;
            }
            if end - literal_start > MAX_RUN {
                return None;
            }
            for value in [literal_start - start, end - literal_start] {
                if value < 0x80 {
                    out.push(value as u8);
                } else {
                    out.extend([(value & 0x7f) as u8 | 0x80, (value >> 7) as u8]);
                }
            }
            out.extend_from_slice(&cur[literal_start..end]);
            at = end;
        }
    }

    /// xorshift32, so every run tests the same bytes.
    struct Rng(u32);
    impl Rng {
        fn next(&mut self) -> u32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 17;
            self.0 ^= self.0 << 5;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            self.next() as usize % n
        }
    }

    #[test]
    fn encodes_the_example_of_qemus_xbzrle_docs() {
        let mut old = vec![0u8; 4096];
        let mut cur = vec![0u8; 4096];
        old[1001..1022].copy_from_slice(&[
            0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12,
            0x13, 0x68, 0x00, 0x00, 0x6b, 0x00, 0x6d,
        ]);
        cur[1001..1022].copy_from_slice(&[
            0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
            0x0f, 0x68, 0x00, 0x00, 0x67, 0x00, 0x69,
        ]);
        let expected = [
            0xe9, 0x07, 0x0f, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
            0x0c, 0x0d, 0x0e, 0x0f, 0x03, 0x01, 0x67, 0x01, 0x01, 0x69,
        ];
        assert_eq!(encode_vec(&old, &cur, 4096).unwrap(), expected);
        assert_eq!(decode_vec(&expected, &old).unwrap(), cur);
    }

    #[test]
    fn encodes_an_unchanged_page_as_nothing_and_a_changed_first_byte_with_an_empty_zero_run() {
        let old = vec![7u8; 4096];
        assert_eq!(encode_vec(&old, &old, 0).unwrap(), []);
        let mut cur = old.clone();
        cur[0] = 8;
        assert_eq!(encode_vec(&old, &cur, 3).unwrap(), [0x00, 0x01, 0x08]);
        assert_eq!(encode_vec(&old, &cur, 2), None);
        cur[0] = 7;
        cur[4095] = 9;
        assert_eq!(encode_vec(&old, &cur, 4).unwrap(), [0xff, 0x1f, 0x01, 0x09]);
    }

    #[test]
    fn splits_zero_runs_longer_than_16383_bytes_with_an_unchanged_literal() {
        let old = vec![0u8; 65536];
        let mut cur = old.clone();
        cur[16384] = 1;
        // 16383 kept, then bytes 16383 (unchanged) and 16384 as one literal run.
        assert_eq!(
            encode_vec(&old, &cur, 100).unwrap(),
            [0xff, 0x7f, 0x02, 0x00, 0x01]
        );
        cur[16384] = 0;
        cur[16385] = 1;
        assert_eq!(
            encode_vec(&old, &cur, 100).unwrap(),
            [0xff, 0x7f, 0x01, 0x00, 0x01, 0x01, 0x01]
        );
        cur[16385] = 0;
        cur[65535] = 1;
        let delta = encode_vec(&old, &cur, 100).unwrap();
        assert_eq!(delta, reference_encode(&old, &cur).unwrap());
        assert_eq!(decode_vec(&delta, &old).unwrap(), cur);
    }

    #[test]
    fn gives_up_on_16384_changed_bytes_in_a_row() {
        let old = vec![0u8; 65536];
        let mut cur = old.clone();
        cur[100..100 + MAX_RUN].fill(1);
        assert_eq!(
            encode_vec(&old, &cur, 65536).unwrap().len(),
            1 + 2 + MAX_RUN
        );
        cur[100 + MAX_RUN] = 1;
        assert_eq!(encode_vec(&old, &cur, 65536), None);
    }

    #[test]
    fn matches_the_byte_at_a_time_statement_and_round_trips() {
        let mut rng = Rng(12345);
        for round in 0..400 {
            let len = [4096, 65536, 1, 7, 100, 16385][round % 6];
            let mut old = vec![0u8; len];
            old.iter_mut().for_each(|b| *b = rng.next() as u8);
            let mut cur = old.clone();
            for _ in 0..rng.below(40) {
                let start = rng.below(len);
                let run = 1 + rng.below(if round % 3 == 0 { 300 } else { 9 });
                for b in cur.iter_mut().skip(start).take(run) {
                    *b = b.wrapping_add(1 + rng.below(3) as u8);
                }
            }
            let expected = reference_encode(&old, &cur);
            let got = encode_vec(&old, &cur, 2 * len + 8);
            assert_eq!(got, expected, "round {round}");
            if let Some(delta) = got {
                assert_eq!(decode_vec(&delta, &old).unwrap(), cur, "round {round}");
                if !delta.is_empty() {
                    assert_eq!(encode_vec(&old, &cur, delta.len() - 1), None);
                }
            }
        }
    }

    #[test]
    fn rejects_what_qemu_rejects() {
        let page = [0u8; 16];
        let bad: &[(&[u8], usize, &str)] = &[
            (&[0x00], 0, "fewer than 2 bytes"),
            (&[0x00, 0x01], 1, "fewer than 2 bytes"),
            (&[0x00, 0x00, 0x01], 1, "empty literal"),
            (&[0x00, 0x02, 0x01], 1, "past the end of the delta"),
            (
                &[0x10, 0x01, 0x01],
                1,
                "literal run past the end of the page",
            ),
            (&[0x11, 0x01, 0x01], 0, "zero run past the end of the page"),
            (&[0x00, 0x01, 0x01, 0x00, 0x01, 0x01], 3, "empty zero run"),
            (&[0x80, 0x80, 0x01], 0, "longer than 2 bytes"),
            (&[0x00, 0x81, 0x80], 1, "longer than 2 bytes"),
            (&[0x00, 0x01, 0x01, 0x0f], 3, "fewer than 2 bytes"),
            (
                &[0x0f, 0x01, 0x01, 0x01, 0x01],
                3,
                "zero run past the end of the page",
            ),
        ];
        for &(delta, at, reason) in bad {
            let err = decode_vec(delta, &page).unwrap_err();
            assert_eq!(err.at, at, "{delta:02x?}");
            assert!(err.reason.contains(reason), "{delta:02x?}: {}", err.reason);
        }
        // QEMU accepts the empty delta, an empty first zero run in either length form, and
        // the two-byte form of a small length.
        assert_eq!(walk(&[], 16, |_, _| {}), Ok(0));
        assert_eq!(walk(&[0x80, 0x00, 0x81, 0x00, 0x05], 16, |_, _| {}), Ok(1));
        assert_eq!(walk(&[0x0f, 0x01, 0x05], 16, |_, _| {}), Ok(16));
    }
}
