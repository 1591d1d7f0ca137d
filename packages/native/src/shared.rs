//! Raw views of JavaScript memory that another thread may be writing while we read it.
//!
//! Guest memory is usually a `SharedArrayBuffer` that a worker writes while a scan runs, and
//! the outputs may be shared too. Forming a Rust `&[u8]` over such memory would assert that
//! nobody writes it, which is false, so this module never does. Every access to JavaScript
//! memory goes through a relaxed atomic load or store of one naturally aligned word: a racing
//! write then yields old or new bytes, never undefined behaviour. Kernels read a page (or a
//! chunk of it) into private memory first and hash that snapshot, so a page's hash and its
//! zero flag always describe the same bytes.
//!
//! Writes go the same way: [`SharedBytesMut::store`] copies private bytes out with relaxed
//! atomic stores, so a racing reader or writer sees old or new bytes, never undefined
//! behaviour.
//!
//! Only this module and `view.rs` (which builds these views from Node-API values) touch
//! JavaScript memory with `unsafe` code. The other `unsafe` code is system calls, each in its
//! own module: `mmap` and friends in `mapping.rs`; userfaultfd, PAGEMAP_SCAN, `madvise`, the
//! eventfd and the fault thread in `uffd.rs`; and the N-API references to a mapping's
//! ArrayBuffer in `js_mapping.rs`.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};

const WORD: usize = std::mem::size_of::<u64>();

/// Bytes of JavaScript memory, read with atomic loads.
#[derive(Clone, Copy)]
pub struct SharedBytes {
    ptr: *const u8,
    len: usize,
}

/// Bytes of JavaScript memory, written (and read) with atomic operations.
#[derive(Clone, Copy)]
pub struct SharedBytesMut {
    ptr: *mut u8,
    len: usize,
}

/// Words of a `BigUint64Array`, written with atomic stores.
#[derive(Clone, Copy)]
pub struct SharedU64s {
    ptr: *const AtomicU64,
    len: usize,
}

/// Words of a `Uint32Array`, updated with atomic read-modify-writes.
#[derive(Clone, Copy)]
pub struct SharedU32s {
    ptr: *const AtomicU32,
    len: usize,
}

// SAFETY: the views hold addresses, not data, and every access through them is atomic, so
// they may be used from a libuv pool thread. Keeping the memory alive while they are used is
// the creator's obligation (see `new`), which the async tasks meet by pinning the JavaScript
// values until they settle.
unsafe impl Send for SharedBytes {}
// SAFETY: as above.
unsafe impl Send for SharedBytesMut {}
// SAFETY: as above.
unsafe impl Send for SharedU64s {}
// SAFETY: as above.
unsafe impl Send for SharedU32s {}

impl SharedBytes {
    /// # Safety
    /// `ptr` must be valid for reads of `len` bytes for as long as the view is used, and the
    /// memory may only ever be written by other threads, never freed or unmapped meanwhile.
    /// `ptr` may be dangling when `len` is 0.
    pub unsafe fn new(ptr: *const u8, len: usize) -> Self {
        Self { ptr, len }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The address of bytes `start..start + len`, for the kernel to read itself (a system call
    /// such as UFFDIO_COPY reads user memory without any Rust reference to it).
    ///
    /// Panics if the range is out of bounds.
    pub fn range_ptr(&self, start: usize, len: usize) -> *const u8 {
        let end = start.checked_add(len).expect("range overflows");
        assert!(end <= self.len, "range out of bounds");
        self.ptr.wrapping_add(start)
    }

    /// Copies `dst.len()` bytes starting at byte `start` into `dst` and returns the OR of
    /// everything copied (zero iff every byte was zero). One pass over the source.
    ///
    /// Panics if the range is out of bounds.
    pub fn snapshot(&self, start: usize, dst: &mut [u8]) -> u64 {
        let end = start.checked_add(dst.len()).expect("range overflows");
        assert!(end <= self.len, "range out of bounds");
        let mut acc = 0u64;
        let mut at = start;
        let mut out = 0;
        // Bytes up to the first aligned word, then whole words, then the tail.
        let head = (self.ptr as usize + at).wrapping_neg() % WORD;
        let head = head.min(dst.len());
        while out < head {
            let b = self.load_byte(at);
            acc |= u64::from(b);
            dst[out] = b;
            at += 1;
            out += 1;
        }
        let words = (dst.len() - out) / WORD;
        for chunk in dst[out..out + words * WORD].chunks_exact_mut(WORD) {
            let w = self.load_word(at);
            acc |= w;
            chunk.copy_from_slice(&w.to_ne_bytes());
            at += WORD;
        }
        out += words * WORD;
        while out < dst.len() {
            let b = self.load_byte(at);
            acc |= u64::from(b);
            dst[out] = b;
            at += 1;
            out += 1;
        }
        acc
    }

    #[inline(always)]
    fn load_byte(&self, at: usize) -> u8 {
        debug_assert!(at < self.len);
        // SAFETY: `at` is in bounds (checked by the caller, `snapshot`), the memory is valid
        // per `new`'s contract, and `AtomicU8` has the layout and alignment of `u8`.
        unsafe { AtomicU8::from_ptr(self.ptr.add(at).cast_mut()) }.load(Ordering::Relaxed)
    }

    #[inline(always)]
    fn load_word(&self, at: usize) -> u64 {
        debug_assert!(at + WORD <= self.len && (self.ptr as usize + at).is_multiple_of(WORD));
        // SAFETY: the word is in bounds and 8-byte aligned (`snapshot` only calls this after
        // aligning `at`), the memory is valid per `new`'s contract, and `AtomicU64` has the
        // size of `u64` and an alignment of 8.
        unsafe { AtomicU64::from_ptr(self.ptr.add(at).cast::<u64>().cast_mut()) }
            .load(Ordering::Relaxed)
    }
}

impl SharedBytesMut {
    /// # Safety
    /// `ptr` must be valid for reads and writes of `len` bytes for as long as the view is
    /// used, under the same rules as [`SharedBytes::new`]. `ptr` may be dangling when `len`
    /// is 0.
    pub unsafe fn new(ptr: *mut u8, len: usize) -> Self {
        Self { ptr, len }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The same memory as a read-only view.
    pub fn as_shared(&self) -> SharedBytes {
        // SAFETY: readable for `len` bytes per `new`'s contract, which is `SharedBytes::new`'s.
        unsafe { SharedBytes::new(self.ptr, self.len) }
    }

    /// Copies `src` to bytes `start..start + src.len()`: bytes up to the first aligned word,
    /// then whole words, then the tail, each with one relaxed atomic store.
    ///
    /// Panics if the range is out of bounds.
    pub fn store(&self, start: usize, src: &[u8]) {
        let end = start.checked_add(src.len()).expect("range overflows");
        assert!(end <= self.len, "range out of bounds");
        let head = (self.ptr as usize + start).wrapping_neg() % WORD;
        let (head, rest) = src.split_at(head.min(src.len()));
        let mut at = start;
        for &b in head {
            self.store_byte(at, b);
            at += 1;
        }
        let mut words = rest.chunks_exact(WORD);
        for chunk in &mut words {
            let mut word = [0u8; WORD];
            word.copy_from_slice(chunk);
            self.store_word(at, u64::from_ne_bytes(word));
            at += WORD;
        }
        for &b in words.remainder() {
            self.store_byte(at, b);
            at += 1;
        }
    }

    #[inline(always)]
    fn store_byte(&self, at: usize, value: u8) {
        debug_assert!(at < self.len);
        // SAFETY: `at` is in bounds (checked by `store`), the memory is valid for writes per
        // `new`'s contract, and `AtomicU8` has the layout and alignment of `u8`.
        unsafe { AtomicU8::from_ptr(self.ptr.add(at)) }.store(value, Ordering::Relaxed);
    }

    #[inline(always)]
    fn store_word(&self, at: usize, value: u64) {
        debug_assert!(at + WORD <= self.len && (self.ptr as usize + at).is_multiple_of(WORD));
        // SAFETY: the word is in bounds and 8-byte aligned (`store` only calls this after
        // aligning `at`), the memory is valid for writes per `new`'s contract, and `AtomicU64`
        // has the size of `u64` and an alignment of 8.
        unsafe { AtomicU64::from_ptr(self.ptr.add(at).cast::<u64>()) }
            .store(value, Ordering::Relaxed);
    }
}

impl SharedU64s {
    /// # Safety
    /// `ptr` must be 8-byte aligned and valid for reads and writes of `len` words for as long
    /// as the view is used (dangling when `len` is 0), under the same rules as
    /// [`SharedBytes::new`].
    pub unsafe fn new(ptr: *mut u64, len: usize) -> Self {
        Self {
            ptr: ptr.cast::<AtomicU64>(),
            len,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Panics if `index` is out of bounds.
    #[inline(always)]
    pub fn store(&self, index: usize, value: u64) {
        assert!(index < self.len, "index out of bounds");
        // SAFETY: in bounds, and valid and aligned per `new`'s contract.
        unsafe { &*self.ptr.add(index) }.store(value, Ordering::Relaxed);
    }
}

impl SharedU32s {
    /// # Safety
    /// `ptr` must be 4-byte aligned and valid for reads and writes of `len` words for as long
    /// as the view is used (dangling when `len` is 0), under the same rules as
    /// [`SharedBytes::new`].
    pub unsafe fn new(ptr: *mut u32, len: usize) -> Self {
        Self {
            ptr: ptr.cast::<AtomicU32>(),
            len,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Word `index`. Panics if `index` is out of bounds.
    #[inline(always)]
    pub fn load(&self, index: usize) -> u32 {
        assert!(index < self.len, "index out of bounds");
        // SAFETY: in bounds, and valid and aligned per `new`'s contract.
        unsafe { &*self.ptr.add(index) }.load(Ordering::Relaxed)
    }

    /// ORs `bits` into word `index` atomically; returns the bits that were not set before.
    ///
    /// Panics if `index` is out of bounds.
    #[inline(always)]
    pub fn or_bits(&self, index: usize, bits: u32) -> u32 {
        assert!(index < self.len, "index out of bounds");
        // SAFETY: in bounds, and valid and aligned per `new`'s contract.
        let word = unsafe { &*self.ptr.add(index) };
        bits & !word.fetch_or(bits, Ordering::Relaxed)
    }

    /// Sets the bits of word `index` selected by `mask` to those of `bits`, leaving the others
    /// as they are, even if another thread updates them at the same time.
    ///
    /// Panics if `index` is out of bounds.
    #[inline(always)]
    pub fn assign_bits(&self, index: usize, mask: u32, bits: u32) {
        assert!(index < self.len, "index out of bounds");
        // SAFETY: in bounds, and valid and aligned per `new`'s contract.
        let word = unsafe { &*self.ptr.add(index) };
        if mask == u32::MAX {
            word.store(bits, Ordering::Relaxed);
        } else {
            let _ = word.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some((old & !mask) | (bits & mask))
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_copies_every_alignment_and_reports_nonzero() {
        let backing: Vec<u64> = vec![0; 8];
        let base = backing.as_ptr().cast::<u8>();
        for offset in 0..8 {
            for len in 0..40 {
                // SAFETY: `backing` outlives the view and holds 64 bytes.
                let view = unsafe { SharedBytes::new(base.add(offset), 64 - offset) };
                let mut dst = vec![0xAAu8; len];
                assert_eq!(view.snapshot(0, &mut dst), 0);
                assert!(dst.iter().all(|&b| b == 0));
            }
        }
        let mut bytes = [0u8; 64];
        bytes[37] = 1;
        // SAFETY: `bytes` outlives the view.
        let view = unsafe { SharedBytes::new(bytes.as_ptr(), bytes.len()) };
        for start in 0..38 {
            let mut dst = vec![0u8; 38 - start];
            assert_ne!(view.snapshot(start, &mut dst), 0);
            assert_eq!(dst, bytes[start..38]);
        }
    }

    #[test]
    fn store_writes_exactly_its_range_at_every_alignment() {
        let src: Vec<u8> = (1..=40).collect();
        for offset in 0..8 {
            for start in 0..8 {
                for len in 0..=src.len() {
                    let mut backing: Vec<u64> = vec![0; 8];
                    let base = backing.as_mut_ptr().cast::<u8>();
                    // SAFETY: `backing` outlives the view and holds 64 bytes.
                    let view = unsafe { SharedBytesMut::new(base.add(offset), 64 - offset) };
                    view.store(start, &src[..len]);
                    let mut bytes = vec![0u8; 64 - offset];
                    view.as_shared().snapshot(0, &mut bytes);
                    let mut expected = vec![0u8; 64 - offset];
                    expected[start..start + len].copy_from_slice(&src[..len]);
                    assert_eq!(bytes, expected, "offset {offset} start {start} len {len}");
                }
            }
        }
    }
}
