//! The JavaScript face of `mapping.rs` and `uffd.rs`: `MemoryMapping` (memory the addon maps,
//! seen as one external ArrayBuffer), `WriteTracker` (kernel dirty tracking of a mapping) and
//! `MissingPageHandler` (post-copy by page faults). Argument checks and N-API only: the system
//! calls are in `mapping.rs` and `uffd.rs`, and the only `unsafe` here manages the N-API
//! references to the one ArrayBuffer.
//!
//! Safety against use after unmap: a mapping hands JavaScript exactly one ArrayBuffer, and
//! `unmap()` detaches it (its length becomes 0, so every typed array over it reads as empty)
//! before letting go of the memory. The buffer's finalizer and every tracker hold an
//! `Arc<Mapping>`, so the pages are returned to the kernel only when nothing can reach them.

use std::collections::HashMap;
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

use napi::bindgen_prelude::{ArrayBuffer, Function, ObjectFinalize};
use napi::{check_status, sys, Env, Error, JsValue, Result, Status};
use napi_derive::napi;

use crate::mapping::{os_page_size, FileOptions, Mapping};
#[cfg(target_os = "linux")]
use crate::uffd;
use crate::view::TypedArrayArg;

/// How `MemoryMapping.openFile` maps a file.
#[napi(object)]
pub struct MapFileOptions {
    /// Map read-write (default false: the file is never written; a stray write from
    /// JavaScript changes a private copy of its page).
    pub writable: Option<bool>,
    /// Create the file if it does not exist (default false).
    pub create: Option<bool>,
    /// Bytes to map (default: the whole file); a writable file shorter than this is grown.
    pub byte_length: Option<f64>,
}

/// Memory the addon mapped: a file shared with other processes, or private anonymous memory.
/// Page-aligned, so kernel page tracking (`WriteTracker`) works on it.
#[napi(custom_finalize)]
pub struct MemoryMapping {
    id: u32,
    mapping: Option<Arc<Mapping>>,
    buffer: Option<sys::napi_ref>,
    byte_length: f64,
    writable: bool,
}

#[napi]
impl MemoryMapping {
    /// Zero-filled private memory of `byteLength` bytes (a multiple of the OS page size), with
    /// transparent huge pages off so that tracking stays per 4 KiB page.
    #[napi(factory)]
    pub fn anonymous(byte_length: f64) -> Result<Self> {
        let len = to_len(byte_length)?;
        Ok(Self::new(Mapping::anonymous(len).map_err(io_error)?))
    }

    /// Maps the file at `path` shared (`writable`) or copy-on-write (read-only).
    #[napi(factory)]
    pub fn open_file(path: String, options: Option<MapFileOptions>) -> Result<Self> {
        let options = options.unwrap_or(MapFileOptions {
            writable: None,
            create: None,
            byte_length: None,
        });
        let file_options = FileOptions {
            writable: options.writable.unwrap_or(false),
            create: options.create.unwrap_or(false),
            len: options.byte_length.map(to_len).transpose()?,
        };
        let mapping = Mapping::file(Path::new(&path), &file_options)
            .map_err(|err| Error::new(Status::GenericFailure, format!("{path}: {err}")))?;
        Ok(Self::new(mapping))
    }

    /// Another handle on the mapping `id` (see `id`), for another thread of this process, such
    /// as a guest's worker: its `buffer()` views the same memory at the same address, so kernel
    /// tracking of the mapping sees that thread's writes too. Throws if no live handle has `id`.
    #[napi(factory)]
    pub fn attach(id: u32) -> Result<Self> {
        let mapping = registry()
            .lock()
            .map_err(|_| Error::new(Status::GenericFailure, "mapping registry poisoned"))?
            .get(&id)
            .and_then(Weak::upgrade)
            .ok_or_else(|| Error::new(Status::InvalidArg, format!("no mapping {id} to attach")))?;
        Ok(Self::with_id(id, mapping))
    }

    fn new(mapping: Mapping) -> Self {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let mapping = Arc::new(mapping);
        if let Ok(mut map) = registry().lock() {
            map.retain(|_, weak| weak.strong_count() > 0);
            map.insert(id, Arc::downgrade(&mapping));
        }
        Self::with_id(id, mapping)
    }

    fn with_id(id: u32, mapping: Arc<Mapping>) -> Self {
        Self {
            id,
            byte_length: mapping.len() as f64,
            writable: mapping.writable(),
            mapping: Some(mapping),
            buffer: None,
        }
    }

    /// Anonymous mappings only: sets bit `i` of `words` for each `pageSize` page that is
    /// resident (has been touched); the others read as zeros without being read. Returns how many.
    #[napi(ts_args_type = "pageSize: number, words: Uint32Array")]
    pub fn resident_pages(&self, page_size: f64, words: TypedArrayArg) -> Result<u32> {
        let mapping = self.live()?;
        let page_size = to_len(page_size)?;
        let words = words.u32s("words")?;
        let pages = mapping.len() / page_size;
        if words.len() < pages.div_ceil(32) {
            return Err(Error::new(
                Status::InvalidArg,
                "words is shorter than pageCount / 32",
            ));
        }
        let mut out = vec![0u32; pages.div_ceil(32)];
        let n = mapping
            .resident_pages(page_size, &mut out)
            .map_err(io_error)?;
        for (i, w) in out.iter().enumerate() {
            words.assign_bits(i, u32::MAX, *w);
        }
        Ok(n as u32)
    }

    /// This process's name for the mapping, for `MemoryMapping.attach` in another thread.
    #[napi(getter)]
    pub fn id(&self) -> u32 {
        self.id
    }

    #[napi(getter)]
    pub fn byte_length(&self) -> f64 {
        self.byte_length
    }

    /// False for a copy-on-write mapping of a file opened read-only.
    #[napi(getter)]
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// False once `unmap()` was called.
    #[napi(getter)]
    pub fn mapped(&self) -> bool {
        self.mapping.is_some()
    }

    /// The memory as an ArrayBuffer (the same one on every call). Throws after `unmap()`.
    #[napi(ts_return_type = "ArrayBuffer")]
    pub fn buffer(&mut self, env: Env) -> Result<sys::napi_value> {
        let mapping = self.live()?.clone();
        if let Some(reference) = self.buffer {
            let mut value = ptr::null_mut();
            // SAFETY: the reference is strong and was made in this environment.
            check_status!(unsafe {
                sys::napi_get_reference_value(env.raw(), reference, &mut value)
            })?;
            return Ok(value);
        }
        let (addr, len) = (mapping.as_ptr(), mapping.len());
        // SAFETY: `addr..addr + len` stays mapped for as long as the buffer exists: the
        // finalizer owns an `Arc<Mapping>`, dropped only when V8 frees the buffer.
        let buffer = unsafe {
            ArrayBuffer::from_external(&env, addr, len, mapping, |_, mapping| drop(mapping))
        }?;
        let value = buffer.raw();
        let mut reference = ptr::null_mut();
        // SAFETY: `value` is live in this call's handle scope.
        check_status!(unsafe { sys::napi_create_reference(env.raw(), value, 1, &mut reference) })?;
        self.buffer = Some(reference);
        Ok(value)
    }

    /// Detaches the ArrayBuffer (every view of it now has length 0) and lets go of the memory;
    /// the pages go back to the kernel once no tracker holds them either. Idempotent.
    #[napi]
    pub fn unmap(&mut self, env: Env) -> Result<()> {
        if let Some(reference) = self.buffer.take() {
            let mut value = ptr::null_mut();
            // SAFETY: the reference is strong and was made in this environment.
            check_status!(unsafe {
                sys::napi_get_reference_value(env.raw(), reference, &mut value)
            })?;
            // SAFETY: `value` is the mapping's ArrayBuffer, live in this call's handle scope.
            check_status!(unsafe { sys::napi_detach_arraybuffer(env.raw(), value) })?;
            // SAFETY: made in this environment and deleted once, here (`take()` above).
            check_status!(unsafe { sys::napi_delete_reference(env.raw(), reference) })?;
        }
        self.mapping = None;
        Ok(())
    }

    fn live(&self) -> Result<&Arc<Mapping>> {
        self.mapping
            .as_ref()
            .ok_or_else(|| Error::new(Status::InvalidArg, "the mapping was unmapped"))
    }
}

impl ObjectFinalize for MemoryMapping {
    fn finalize(self, env: Env) -> Result<()> {
        if let Some(reference) = self.buffer {
            // SAFETY: made in this environment and not yet deleted. The buffer itself may live
            // on; its finalizer keeps the memory mapped.
            unsafe { sys::napi_delete_reference(env.raw(), reference) };
        }
        Ok(())
    }
}

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// Live mappings by id, for `attach`; weak, so a registry entry never keeps memory mapped.
fn registry() -> &'static Mutex<HashMap<u32, Weak<Mapping>>> {
    static REGISTRY: std::sync::OnceLock<Mutex<HashMap<u32, Weak<Mapping>>>> =
        std::sync::OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

/// What this kernel offers for kernel-assisted dirty tracking.
#[napi(object)]
pub struct WriteTrackingSupport {
    pub available: bool,
    /// Why not, when `available` is false.
    pub reason: Option<String>,
}

/// Whether `WriteTracker` can work here: Linux 6.7+ with userfaultfd open to this process.
#[napi]
pub fn write_tracking_support() -> WriteTrackingSupport {
    match support() {
        Ok(_) => WriteTrackingSupport {
            available: true,
            reason: None,
        },
        Err(reason) => WriteTrackingSupport {
            available: false,
            reason: Some(reason),
        },
    }
}

/// Whether `MissingPageHandler` can work here: Linux with userfaultfd open to this process.
#[napi]
pub fn missing_fault_support() -> WriteTrackingSupport {
    #[cfg(target_os = "linux")]
    let result = uffd::missing_fault_support();
    #[cfg(not(target_os = "linux"))]
    let result: std::result::Result<(), String> =
        Err("page faults by userfaultfd need Linux".into());
    match result {
        Ok(()) => WriteTrackingSupport {
            available: true,
            reason: None,
        },
        Err(reason) => WriteTrackingSupport {
            available: false,
            reason: Some(reason),
        },
    }
}

#[cfg(target_os = "linux")]
fn support() -> std::result::Result<u64, String> {
    uffd::write_tracking_support()
}

#[cfg(not(target_os = "linux"))]
fn support() -> std::result::Result<u64, String> {
    Err("kernel write tracking needs Linux userfaultfd".into())
}

/// Kernel dirty tracking of one `MemoryMapping`: the first write to a page after each
/// `collect` takes a write-protect fault that the kernel resolves by itself, remembering the
/// page; `collect` reports those pages and protects them again in one page-table walk.
#[napi]
pub struct WriteTracker {
    #[cfg(target_os = "linux")]
    inner: Option<uffd::WrittenPages>,
    page_size: usize,
}

#[napi]
impl WriteTracker {
    /// Registers all of `mapping` and write-protects it: from now on every written page is
    /// recorded. `pageSize` (the guest's) must be a multiple of the OS page size.
    #[napi(factory)]
    pub fn create(mapping: &MemoryMapping, page_size: f64) -> Result<Self> {
        let mapping = mapping.live()?.clone();
        let page_size = to_len(page_size)?;
        let features = support().map_err(|reason| Error::new(Status::GenericFailure, reason))?;
        #[cfg(target_os = "linux")]
        {
            let tracker = uffd::WrittenPages::new(mapping, features).map_err(io_error)?;
            Ok(Self {
                inner: Some(tracker),
                page_size,
            })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (mapping, features);
            unreachable!("support() fails off Linux")
        }
    }

    /// ORs the bits of the pages written since the last call (or since `create`) into `words`
    /// (bit `i` = word `i >>> 5`, bit `i & 31`, one bit per guest page) and protects those
    /// pages again. Returns how many bits were newly set. `words` may be shared.
    #[napi(ts_args_type = "words: Uint32Array")]
    pub fn collect(&mut self, words: TypedArrayArg) -> Result<u32> {
        let words = words.u32s("words")?;
        #[cfg(target_os = "linux")]
        {
            let tracker = self
                .inner
                .as_mut()
                .ok_or_else(|| Error::new(Status::InvalidArg, "the tracker was closed"))?;
            tracker.collect(self.page_size, &words).map_err(io_error)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = words;
            Err(Error::new(Status::GenericFailure, "closed"))
        }
    }

    /// Stops tracking and lifts the protection. Idempotent.
    #[napi]
    pub fn close(&mut self) {
        #[cfg(target_os = "linux")]
        drop(self.inner.take());
    }
}

/// Post-copy by real page faults: the mapping's missing pages are dropped and registered with
/// userfaultfd in missing mode, so a thread that touches one blocks in the kernel; a fault
/// thread of ours reports each fault (`onFault(page)` on the JavaScript thread), and `copy`
/// fills the page with UFFDIO_COPY, which wakes whoever waits on it. Private anonymous
/// mappings only (`MemoryMapping.anonymous`).
#[napi]
pub struct MissingPageHandler {
    #[cfg(target_os = "linux")]
    inner: Option<uffd::MissingPages>,
    page_size: usize,
}

#[napi]
impl MissingPageHandler {
    /// Drops the pages whose bits are set in `missing` (bit `i` = word `i >>> 5`, bit `i & 31`,
    /// one bit per guest page) and starts reporting faults on them. Nothing may touch them
    /// until then; the engine's own writes must go through `copy`.
    #[napi(
        factory,
        ts_args_type = "mapping: MemoryMapping, pageSize: number, missing: Uint32Array, onFault: (page: number) => void"
    )]
    pub fn create(
        mapping: &MemoryMapping,
        page_size: f64,
        missing: TypedArrayArg,
        on_fault: Function<u32, ()>,
    ) -> Result<Self> {
        let mapping = mapping.live()?.clone();
        let page_size = to_len(page_size)?;
        let words = missing.u32s("missing")?;
        let tsfn = on_fault
            .build_threadsafe_function()
            .callee_handled::<false>()
            .weak::<true>()
            .build()?;
        #[cfg(target_os = "linux")]
        {
            let inner = uffd::MissingPages::new(mapping, page_size, &words, move |page| {
                tsfn.call(
                    page,
                    napi::threadsafe_function::ThreadsafeFunctionCallMode::NonBlocking,
                );
            })
            .map_err(io_error)?;
            Ok(Self {
                inner: Some(inner),
                page_size,
            })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (mapping, words, tsfn);
            Err(Error::new(
                Status::GenericFailure,
                "userfaultfd needs Linux",
            ))
        }
    }

    /// Fills guest page `page` with the page-size bytes at `offset` in `data` and wakes its
    /// waiters. False if it was there already. An offset rather than a view per page.
    #[napi(ts_args_type = "page: number, data: Uint8Array, offset: number")]
    pub fn copy(&self, page: u32, data: TypedArrayArg, offset: f64) -> Result<bool> {
        let data = data.bytes("data")?;
        if !(offset >= 0.0
            && offset.fract() == 0.0
            && offset as usize + self.page_size <= data.len())
        {
            return Err(Error::new(
                Status::InvalidArg,
                "data must hold a whole page at offset",
            ));
        }
        #[cfg(target_os = "linux")]
        {
            let inner = self
                .inner
                .as_ref()
                .ok_or_else(|| Error::new(Status::InvalidArg, "the handler was closed"))?;
            inner
                .copy(
                    page as usize * self.page_size,
                    data,
                    offset as usize,
                    self.page_size,
                )
                .map_err(io_error)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (page, data, offset);
            Err(Error::new(Status::GenericFailure, "closed"))
        }
    }

    /// Stops the fault thread and unregisters the memory. Pages still missing then read as zero.
    #[napi]
    pub fn close(&mut self) {
        #[cfg(target_os = "linux")]
        drop(self.inner.take());
    }
}

fn to_len(value: f64) -> Result<usize> {
    if value >= 1.0 && value <= (1u64 << 53) as f64 && value.fract() == 0.0 {
        let len = value as usize;
        if len.is_multiple_of(os_page_size()) {
            return Ok(len);
        }
    }
    Err(Error::new(
        Status::InvalidArg,
        format!(
            "a length must be a positive multiple of the OS page size ({} bytes)",
            os_page_size()
        ),
    ))
}

fn io_error(err: std::io::Error) -> Error {
    Error::new(Status::GenericFailure, err.to_string())
}
