//! `@ferry/native`: Ferry's page kernels as a Node-API addon.
//!
//! - `hashPages` / `hashPagesAsync`: xxh64 (seed 0) of every page.
//! - `scanPages` / `scanPagesAsync`: the same hashes plus a zero-page bitmap, one pass.
//! - `fingerprintPages` / `fingerprintPagesAsync`: the same pass with xxh3 (SIMD) instead, for
//!   the hash-scan dirty tracker.
//! - `xxh64`: xxh64 of a whole buffer.
//! - `xbzrleEncode` / `xbzrleDecode`: QEMU-compatible XBZRLE page deltas (`xbzrle.rs`).
//! - `MemoryMapping`, `WriteTracker`, `writeTrackingSupport`, `MissingPageHandler`,
//!   `missingFaultSupport`: memory the addon maps (files shared with a VMM, anonymous memory),
//!   kernel dirty tracking of it and post-copy by its page faults (`js_mapping.rs` for
//!   JavaScript; `mapping.rs` and `uffd.rs` for the system calls).
//!
//! Every input may be a view of a `SharedArrayBuffer` that another thread writes meanwhile;
//! see `shared.rs` for how that is read soundly. The TypeScript twin of these kernels is
//! `packages/engine/src/accel/js-kernels.ts`, and a parity test keeps them equal.

#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(unix)]
pub mod js_mapping;
#[cfg(unix)]
mod mapping;
mod scan;
mod shared;
#[cfg(target_os = "linux")]
mod uffd;
mod view;
mod xbzrle;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::{AbortSignal, AsyncTask, BigInt};
use napi::bindgen_prelude::{JsObjectValue, JsValue};
use napi::{Env, Error, Result, Status, Task};
use napi_derive::napi;

use crate::scan::{Aborted, PageHash, ScanOutput};
use crate::shared::SharedBytes;
use crate::view::{Pin, TypedArrayArg};

/// Hashes every page of `data` (xxh64, seed 0) into `out[i]`.
///
/// `data.byteLength` must be a multiple of `pageSize` and `out.length` at least the page
/// count; otherwise this throws. `data` and `out` may be views of a SharedArrayBuffer.
#[napi(ts_args_type = "data: Uint8Array, pageSize: number, out: BigUint64Array")]
pub fn hash_pages(data: TypedArrayArg, page_size: f64, out: TypedArrayArg) -> Result<()> {
    let job = PagesJob::new(&data, page_size, PageHash::Xxh64, &out, None)?;
    job.run(None).map(|_| ())
}

/// Hashes every page like `hashPages` and defines bits `0..pageCount` of `zeroBitsOut`:
/// bit `i` (word `i >>> 5`, bit `i & 31`) is set iff page `i` is all zero bytes. Other bits
/// are left alone. Returns the number of zero pages.
#[napi(
    ts_args_type = "data: Uint8Array, pageSize: number, hashesOut: BigUint64Array, zeroBitsOut: Uint32Array"
)]
pub fn scan_pages(
    data: TypedArrayArg,
    page_size: f64,
    hashes_out: TypedArrayArg,
    zero_bits_out: TypedArrayArg,
) -> Result<u32> {
    scan_now(
        &data,
        page_size,
        PageHash::Xxh64,
        &hashes_out,
        &zero_bits_out,
    )
}

/// xxh64 of all of `data` with `seed` (default 0), as an unsigned 64-bit bigint.
#[napi(
    ts_args_type = "data: Uint8Array, seed?: bigint | undefined | null",
    ts_return_type = "bigint"
)]
pub fn xxh64(data: TypedArrayArg, seed: Option<BigInt>) -> Result<BigInt> {
    let bytes = data.bytes("data")?;
    let seed = match seed {
        None => 0,
        Some(seed) => match seed.get_u64() {
            (false, value, true) => value,
            _ => return Err(invalid("seed must be a bigint in [0, 2^64)")),
        },
    };
    Ok(BigInt::from(scan::hash_all(bytes, seed)))
}

/// Writes the XBZRLE delta of `cur` against `old` (QEMU's format) to the start of `out` and
/// returns its length, or -1 if it is longer than `out.byteLength` or cannot be expressed (a
/// run of more than 16383 changed bytes); `out` may then be partly written. An unchanged page
/// gives 0. `old` and `cur` must have the same length; otherwise this throws.
#[napi(ts_args_type = "old: Uint8Array, cur: Uint8Array, out: Uint8Array")]
pub fn xbzrle_encode(old: TypedArrayArg, cur: TypedArrayArg, out: TypedArrayArg) -> Result<i64> {
    let old = old.bytes("old")?;
    let cur = cur.bytes("cur")?;
    let out = out.bytes_mut("out")?;
    if old.len() != cur.len() {
        return Err(invalid("old and cur must have the same byteLength"));
    }
    Ok(xbzrle::encode_shared(old, cur, out).map_or(-1, |len| len as i64))
}

/// Applies the XBZRLE delta `delta` to `page` (the old content) in place. Throws, leaving
/// `page` untouched, if QEMU's decoder would reject the delta; the message says why and where.
#[napi(ts_args_type = "delta: Uint8Array, page: Uint8Array")]
pub fn xbzrle_decode(delta: TypedArrayArg, page: TypedArrayArg) -> Result<()> {
    let delta = delta.bytes("delta")?;
    let page = page.bytes_mut("page")?;
    xbzrle::decode_shared(delta, page)
        .map_err(|err| Error::new(Status::GenericFailure, err.to_string()))
}

/// `hashPages` on the libuv thread pool. The caller must not detach (transfer), shrink or
/// resize `data` or `out` until the promise settles; the addon keeps them from being
/// garbage-collected. Aborting `signal` stops the work at the next 64-page boundary and
/// rejects with an `AbortError`; `out` may then be partly written.
#[napi(
    ts_args_type = "data: Uint8Array, pageSize: number, out: BigUint64Array, signal?: AbortSignal | undefined | null",
    ts_return_type = "Promise<void>"
)]
pub fn hash_pages_async(
    data: TypedArrayArg,
    page_size: f64,
    out: TypedArrayArg,
    signal: Option<AbortSignal>,
) -> Result<AsyncTask<HashPagesTask>> {
    let job = PagesJob::new(&data, page_size, PageHash::Xxh64, &out, None)?;
    let task = PagesTask::new(job, &[&data, &out], signal.as_ref())?;
    Ok(AsyncTask::with_optional_signal(HashPagesTask(task), signal))
}

/// `scanPages` on the libuv thread pool, resolving to the number of zero pages. The same
/// rules as `hashPagesAsync` apply to the buffers and to `signal`.
#[napi(
    ts_args_type = "data: Uint8Array, pageSize: number, hashesOut: BigUint64Array, zeroBitsOut: Uint32Array, signal?: AbortSignal | undefined | null",
    ts_return_type = "Promise<number>"
)]
pub fn scan_pages_async(
    data: TypedArrayArg,
    page_size: f64,
    hashes_out: TypedArrayArg,
    zero_bits_out: TypedArrayArg,
    signal: Option<AbortSignal>,
) -> Result<AsyncTask<ScanPagesTask>> {
    scan_later(
        &data,
        page_size,
        PageHash::Xxh64,
        &hashes_out,
        &zero_bits_out,
        signal,
    )
}

/// Like `scanPages`, but the per-page hash is xxh3-64 (SIMD), a fingerprint faster than xxh64
/// for finding changed pages by content. Compare fingerprints only with fingerprints from this
/// function: they are not the protocol's checksums, and the TypeScript fallback has none.
#[napi(
    ts_args_type = "data: Uint8Array, pageSize: number, fingerprintsOut: BigUint64Array, zeroBitsOut: Uint32Array"
)]
pub fn fingerprint_pages(
    data: TypedArrayArg,
    page_size: f64,
    fingerprints_out: TypedArrayArg,
    zero_bits_out: TypedArrayArg,
) -> Result<u32> {
    scan_now(
        &data,
        page_size,
        PageHash::Xxh3,
        &fingerprints_out,
        &zero_bits_out,
    )
}

/// `fingerprintPages` on the libuv thread pool, under the rules of `hashPagesAsync`.
#[napi(
    ts_args_type = "data: Uint8Array, pageSize: number, fingerprintsOut: BigUint64Array, zeroBitsOut: Uint32Array, signal?: AbortSignal | undefined | null",
    ts_return_type = "Promise<number>"
)]
pub fn fingerprint_pages_async(
    data: TypedArrayArg,
    page_size: f64,
    fingerprints_out: TypedArrayArg,
    zero_bits_out: TypedArrayArg,
    signal: Option<AbortSignal>,
) -> Result<AsyncTask<ScanPagesTask>> {
    scan_later(
        &data,
        page_size,
        PageHash::Xxh3,
        &fingerprints_out,
        &zero_bits_out,
        signal,
    )
}

/// `scanPages` / `fingerprintPages` on this thread.
fn scan_now(
    data: &TypedArrayArg,
    page_size: f64,
    hash: PageHash,
    out: &TypedArrayArg,
    zero_bits: &TypedArrayArg,
) -> Result<u32> {
    PagesJob::new(data, page_size, hash, out, Some(zero_bits))?.run(None)
}

/// `scanPagesAsync` / `fingerprintPagesAsync`: the same job on the thread pool.
fn scan_later(
    data: &TypedArrayArg,
    page_size: f64,
    hash: PageHash,
    out: &TypedArrayArg,
    zero_bits: &TypedArrayArg,
    signal: Option<AbortSignal>,
) -> Result<AsyncTask<ScanPagesTask>> {
    let job = PagesJob::new(data, page_size, hash, out, Some(zero_bits))?;
    let task = PagesTask::new(job, &[data, out, zero_bits], signal.as_ref())?;
    Ok(AsyncTask::with_optional_signal(ScanPagesTask(task), signal))
}

/// Checked arguments of one page scan.
struct PagesJob {
    data: SharedBytes,
    page_size: usize,
    hash: PageHash,
    out: ScanOutput,
}

impl PagesJob {
    fn new(
        data: &TypedArrayArg,
        page_size: f64,
        hash: PageHash,
        hashes: &TypedArrayArg,
        zero_bits: Option<&TypedArrayArg>,
    ) -> Result<Self> {
        let data = data.bytes("data")?;
        if !(page_size >= 1.0 && page_size <= f64::from(u32::MAX) && page_size.fract() == 0.0) {
            return Err(invalid("pageSize must be an integer in [1, 2^32)"));
        }
        let page_size = page_size as usize;
        if data.len() % page_size != 0 {
            return Err(invalid("data.byteLength must be a multiple of pageSize"));
        }
        let page_count = data.len() / page_size;
        if u32::try_from(page_count).is_err() {
            return Err(invalid("data holds more than 2^32 - 1 pages"));
        }
        let hashes = hashes.u64s("hashes")?;
        if hashes.len() < page_count {
            return Err(invalid("hashes output is shorter than the page count"));
        }
        let zero_bits = match zero_bits {
            None => None,
            Some(arg) => {
                let words = arg.u32s("zeroBits")?;
                if words.len() < page_count.div_ceil(32) {
                    return Err(invalid(
                        "zeroBits output is shorter than pageCount / 32 words",
                    ));
                }
                Some(words)
            }
        };
        Ok(Self {
            data,
            page_size,
            hash,
            out: ScanOutput { hashes, zero_bits },
        })
    }

    fn run(&self, abort: Option<&AtomicBool>) -> Result<u32> {
        scan::scan_pages(self.data, self.page_size, self.hash, &self.out, abort).map_err(aborted)
    }
}

/// A [`PagesJob`] moved to the thread pool, with its buffers pinned and an abort flag that the
/// signal sets.
pub struct PagesTask {
    job: PagesJob,
    abort: Arc<AtomicBool>,
    _pins: Vec<Pin>,
}

impl PagesTask {
    fn new(job: PagesJob, args: &[&TypedArrayArg], signal: Option<&AbortSignal>) -> Result<Self> {
        let pins = args
            .iter()
            .map(|arg| arg.pin())
            .collect::<Result<Vec<_>>>()?;
        let abort = Arc::new(AtomicBool::new(false));
        if let Some(signal) = signal {
            let flag = Arc::clone(&abort);
            signal.on_abort(move || flag.store(true, Ordering::Relaxed));
        }
        Ok(Self {
            job,
            abort,
            _pins: pins,
        })
    }

    fn compute(&self) -> Result<u32> {
        self.job.run(Some(&self.abort))
    }
}

pub struct HashPagesTask(PagesTask);

impl Task for HashPagesTask {
    type Output = ();
    type JsValue = ();

    fn compute(&mut self) -> Result<()> {
        self.0.compute().map(|_| ())
    }

    fn resolve(&mut self, _env: Env, _output: ()) -> Result<()> {
        Ok(())
    }

    fn reject(&mut self, env: Env, err: Error) -> Result<()> {
        Err(name_abort_error(&env, err))
    }
}

pub struct ScanPagesTask(PagesTask);

impl Task for ScanPagesTask {
    type Output = u32;
    type JsValue = u32;

    fn compute(&mut self) -> Result<u32> {
        self.0.compute()
    }

    fn resolve(&mut self, _env: Env, output: u32) -> Result<u32> {
        Ok(output)
    }

    fn reject(&mut self, env: Env, err: Error) -> Result<u32> {
        Err(name_abort_error(&env, err))
    }
}

fn invalid(reason: &str) -> Error {
    Error::new(Status::InvalidArg, reason)
}

fn aborted(_: Aborted) -> Error {
    Error::new(Status::Cancelled, "the operation was aborted")
}

/// Turns the error of an aborted task into a JavaScript error named `AbortError` (code
/// `Cancelled`), as napi-rs does for a task cancelled before it started.
fn name_abort_error(env: &Env, err: Error) -> Error {
    if err.status != Status::Cancelled {
        return err;
    }
    let named = env.create_error(err).and_then(|mut error| {
        error.set_named_property("name", "AbortError")?;
        Ok(Error::from(error.to_unknown()))
    });
    named.unwrap_or_else(|e| e)
}
