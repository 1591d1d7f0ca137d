//! Linux userfaultfd, the parts Ferry uses: asynchronous write protection for dirty tracking
//! (UFFD_FEATURE_WP_ASYNC with the PAGEMAP_SCAN ioctl, Linux 6.7+) and, for post-copy, missing
//! faults resolved with UFFDIO_COPY.
//!
//! Two layers: the raw descriptor and ioctls (`Userfaultfd`, `Pagemap`), and what
//! `js_mapping.rs` wraps for JavaScript on top of them: `WrittenPages` (a write-protected
//! mapping and its scans) and `MissingPages` (dropped pages, a missing-mode registration, the
//! eventfd and the fault thread that reports faults), with the support checks that explain why
//! either is unavailable.
//!
//! Why asynchronous write protection: with classic uffd-wp every first write to a protected
//! page stops the writing thread until a handler thread reads the fault and lifts the
//! protection (two context switches per page and round). With WP_ASYNC the kernel lifts it in
//! the fault itself and remembers the page as written; PAGEMAP_SCAN later returns the written
//! pages and protects them again in the same page-table walk, so a page written between the
//! two is never missed. The constants are those of `linux/userfaultfd.h` and `linux/fs.h`
//! (older libc headers lack the newer ones).

use std::io;
use std::sync::Arc;

use crate::mapping::{Fd, Mapping};
use crate::shared::{SharedBytes, SharedU32s};

const UFFD_API: u64 = 0xAA;
const UFFD_USER_MODE_ONLY: libc::c_int = 1;
const USERFAULTFD_IOC_NEW: libc::c_ulong = 0xAA00;

const UFFDIO_API: libc::c_ulong = 0xC018_AA3F;
const UFFDIO_REGISTER: libc::c_ulong = 0xC020_AA00;
const UFFDIO_UNREGISTER: libc::c_ulong = 0x8010_AA01;
const UFFDIO_WRITEPROTECT: libc::c_ulong = 0xC018_AA06;
const UFFDIO_COPY: libc::c_ulong = 0xC028_AA03;
const UFFD_EVENT_PAGEFAULT: u8 = 0x12;
const REGISTER_MODE_MISSING: u64 = 1 << 0;
const PAGEMAP_SCAN: libc::c_ulong = 0xC060_6610;

pub const FEATURE_PAGEFAULT_FLAG_WP: u64 = 1 << 0;
pub const FEATURE_WP_HUGETLBFS_SHMEM: u64 = 1 << 12;
pub const FEATURE_WP_UNPOPULATED: u64 = 1 << 13;
pub const FEATURE_WP_ASYNC: u64 = 1 << 15;

const REGISTER_MODE_WP: u64 = 1 << 1;
const WRITEPROTECT_MODE_WP: u64 = 1 << 0;

const PM_SCAN_WP_MATCHING: u64 = 1 << 0;
const PM_SCAN_CHECK_WPASYNC: u64 = 1 << 1;
const PAGE_IS_WRITTEN: u64 = 1 << 1;

#[repr(C)]
struct UffdioApi {
    api: u64,
    features: u64,
    ioctls: u64,
}

#[repr(C)]
struct UffdioRange {
    start: u64,
    len: u64,
}

#[repr(C)]
struct UffdioRegister {
    range: UffdioRange,
    mode: u64,
    ioctls: u64,
}

#[repr(C)]
struct UffdioWriteprotect {
    range: UffdioRange,
    mode: u64,
}

#[repr(C)]
struct UffdioCopy {
    dst: u64,
    src: u64,
    len: u64,
    mode: u64,
    copy: i64,
}

#[repr(C)]
struct PmScanArg {
    size: u64,
    flags: u64,
    start: u64,
    end: u64,
    walk_end: u64,
    vec: u64,
    vec_len: u64,
    max_pages: u64,
    category_inverted: u64,
    category_mask: u64,
    category_anyof_mask: u64,
    return_mask: u64,
}

/// One run of pages `[start, end)` (addresses) that PAGEMAP_SCAN reports.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct PageRegion {
    pub start: u64,
    pub end: u64,
    categories: u64,
}

/// An open userfaultfd with its API handshake done.
pub struct Userfaultfd {
    fd: Fd,
    features: u64,
}

impl Userfaultfd {
    /// The features this kernel offers (a throwaway descriptor answers; the API handshake can
    /// only be done once per descriptor).
    pub fn supported_features() -> io::Result<u64> {
        Ok(Self::open(0)?.features)
    }

    /// Opens a userfaultfd asking for `features`; fails if the kernel lacks any of them.
    pub fn open(features: u64) -> io::Result<Self> {
        let fd = new_fd()?;
        let mut api = UffdioApi {
            api: UFFD_API,
            features,
            ioctls: 0,
        };
        ioctl(&fd, UFFDIO_API, &mut api)?;
        Ok(Self {
            fd,
            features: api.features,
        })
    }

    /// Registers `[addr, addr + len)` for write-protect faults.
    pub fn register_wp(&self, addr: usize, len: usize) -> io::Result<()> {
        let mut reg = UffdioRegister {
            range: range(addr, len),
            mode: REGISTER_MODE_WP,
            ioctls: 0,
        };
        ioctl(&self.fd, UFFDIO_REGISTER, &mut reg)
    }

    /// Registers `[addr, addr + len)` for missing-page faults (private anonymous memory).
    pub fn register_missing(&self, addr: usize, len: usize) -> io::Result<()> {
        let mut reg = UffdioRegister {
            range: range(addr, len),
            mode: REGISTER_MODE_MISSING,
            ioctls: 0,
        };
        ioctl(&self.fd, UFFDIO_REGISTER, &mut reg)
    }

    /// Fills the missing page(s) at `dst` with `len` bytes from `src` and wakes the threads
    /// waiting on them. Returns false if the page was there already (EEXIST).
    ///
    /// # Safety
    /// `src` must be valid for reads of `len` bytes.
    pub unsafe fn copy(&self, dst: usize, src: *const u8, len: usize) -> io::Result<bool> {
        let mut c = UffdioCopy {
            dst: dst as u64,
            src: src as u64,
            len: len as u64,
            mode: 0,
            copy: 0,
        };
        match ioctl(&self.fd, UFFDIO_COPY, &mut c) {
            Ok(()) => Ok(true),
            Err(err) if err.raw_os_error() == Some(libc::EEXIST) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// The address of the next page fault, or None if none is queued (the descriptor is
    /// non-blocking). Events other than page faults are skipped.
    pub fn read_fault(&self) -> io::Result<Option<u64>> {
        let mut msg = [0u8; 32];
        loop {
            // SAFETY: `msg` is 32 writable bytes, the size of one `struct uffd_msg`.
            let n = unsafe { libc::read(self.fd.0, msg.as_mut_ptr().cast(), msg.len()) };
            if n < 0 {
                let err = io::Error::last_os_error();
                return match err.raw_os_error() {
                    Some(libc::EAGAIN) => Ok(None),
                    Some(libc::EINTR) => continue,
                    _ => Err(err),
                };
            }
            if n as usize == msg.len() && msg[0] == UFFD_EVENT_PAGEFAULT {
                let address = u64::from_le_bytes(msg[16..24].try_into().expect("8 bytes"));
                return Ok(Some(address));
            }
        }
    }

    pub fn raw_fd(&self) -> libc::c_int {
        self.fd.0
    }

    pub fn unregister(&self, addr: usize, len: usize) -> io::Result<()> {
        let mut r = range(addr, len);
        ioctl(&self.fd, UFFDIO_UNREGISTER, &mut r)
    }

    /// Write-protects (or unprotects) `[addr, addr + len)`.
    pub fn write_protect(&self, addr: usize, len: usize, protect: bool) -> io::Result<()> {
        let mut wp = UffdioWriteprotect {
            range: range(addr, len),
            mode: if protect { WRITEPROTECT_MODE_WP } else { 0 },
        };
        ioctl(&self.fd, UFFDIO_WRITEPROTECT, &mut wp)
    }
}

/// `/proc/self/pagemap`, opened for the PAGEMAP_SCAN ioctl.
pub struct Pagemap(Fd);

impl Pagemap {
    pub fn open() -> io::Result<Self> {
        let path = c"/proc/self/pagemap";
        // SAFETY: a valid C string.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self(Fd(fd)))
    }

    /// Calls `each(start, end)` for every run of pages in `[addr, addr + len)` written since
    /// they were last protected, and write-protects them again in the same walk. The memory
    /// must be registered for asynchronous write protection.
    pub fn take_written(
        &self,
        addr: usize,
        len: usize,
        scratch: &mut [PageRegion],
        mut each: impl FnMut(usize, usize),
    ) -> io::Result<()> {
        let end = (addr + len) as u64;
        let mut start = addr as u64;
        while start < end {
            let mut arg = PmScanArg {
                size: std::mem::size_of::<PmScanArg>() as u64,
                flags: PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
                start,
                end,
                walk_end: 0,
                vec: scratch.as_mut_ptr() as u64,
                vec_len: scratch.len() as u64,
                max_pages: 0,
                category_inverted: 0,
                category_mask: PAGE_IS_WRITTEN,
                category_anyof_mask: 0,
                return_mask: PAGE_IS_WRITTEN,
            };
            // SAFETY: `arg` points at `scratch`, which holds `vec_len` writable regions.
            let found = unsafe { libc::ioctl(self.0 .0, PAGEMAP_SCAN, &mut arg) };
            if found < 0 {
                return Err(io::Error::last_os_error());
            }
            for region in &scratch[..found as usize] {
                each(region.start as usize, region.end as usize);
            }
            // A full `scratch` stops the walk early; `walk_end` says where.
            if arg.walk_end <= start {
                break;
            }
            start = arg.walk_end;
        }
        Ok(())
    }
}

/// The features asynchronous write tracking needs.
pub const WP_ASYNC_FEATURES: u64 = FEATURE_PAGEFAULT_FLAG_WP | FEATURE_WP_ASYNC;

/// Whether missing-page faults work here (`Err`: why not, for the user).
pub fn missing_fault_support() -> Result<(), String> {
    Userfaultfd::open(0).map(|_| ()).map_err(not_open)
}

/// Whether asynchronous write protection works here (Linux 6.7+); the features this kernel
/// offers, or why not, for the user.
pub fn write_tracking_support() -> Result<u64, String> {
    let features = Userfaultfd::supported_features().map_err(not_open)?;
    if features & WP_ASYNC_FEATURES != WP_ASYNC_FEATURES {
        return Err(
            "this kernel lacks asynchronous userfaultfd write protection (Linux 6.7+)".into(),
        );
    }
    Ok(features)
}

fn not_open(err: io::Error) -> String {
    format!(
        "userfaultfd is not open to this process ({err}); allow it with `sysctl \
         vm.unprivileged_userfaultfd=1`, CAP_SYS_PTRACE, or access to /dev/userfaultfd"
    )
}

/// A missing-mode registration of a whole mapping and the thread that reports its faults.
pub struct MissingPages {
    uffd: Arc<Userfaultfd>,
    mapping: Arc<Mapping>,
    wake: Fd,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MissingPages {
    /// Registers `mapping`, drops the pages whose bits are set in `missing` (one bit per
    /// `page_size` page) and starts a thread that calls `on_fault(page)` for each fault on them.
    pub fn new(
        mapping: Arc<Mapping>,
        page_size: usize,
        missing: &SharedU32s,
        on_fault: impl Fn(u32) + Send + 'static,
    ) -> io::Result<Self> {
        let (addr, len) = (mapping.as_ptr() as usize, mapping.len());
        let pages = len / page_size;
        if missing.len() < pages.div_ceil(32) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "missing is shorter than pageCount / 32",
            ));
        }
        let uffd = Arc::new(Userfaultfd::open(0)?);
        uffd.register_missing(addr, len)?;
        let mut page = 0;
        while page < pages {
            if missing.load(page / 32) & (1 << (page % 32)) == 0 {
                page += 1;
                continue;
            }
            let first = page;
            while page < pages && missing.load(page / 32) & (1 << (page % 32)) != 0 {
                page += 1;
            }
            // SAFETY: the range lies inside the mapping; its pages are dropped (they read as
            // missing from now on), which is what the caller asked for.
            let rc = unsafe {
                libc::madvise(
                    (addr + first * page_size) as *mut libc::c_void,
                    (page - first) * page_size,
                    libc::MADV_DONTNEED,
                )
            };
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: eventfd takes only flags.
        let wake = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if wake < 0 {
            return Err(io::Error::last_os_error());
        }
        let wake = Fd(wake);
        let thread = {
            let uffd = Arc::clone(&uffd);
            let wake_fd = wake.0;
            std::thread::Builder::new()
                .name("ferry-uffd".into())
                .spawn(move || fault_loop(&uffd, wake_fd, addr, page_size, on_fault))?
        };
        Ok(Self {
            uffd,
            mapping,
            wake,
            thread: Some(thread),
        })
    }

    /// Fills the `len` bytes at `offset` in the mapping from `src` at `src_offset` with
    /// UFFDIO_COPY, waking whoever waits on them. False if they were there already.
    pub fn copy(
        &self,
        offset: usize,
        src: SharedBytes,
        src_offset: usize,
        len: usize,
    ) -> io::Result<bool> {
        if offset + len > self.mapping.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "page past the end of the mapping",
            ));
        }
        // The kernel reads the source itself (no Rust reference to memory another thread
        // may write is formed), so the page is copied once, straight into place.
        let from = src.range_ptr(src_offset, len);
        let dst = self.mapping.as_ptr() as usize + offset;
        // SAFETY: `from` is valid for `len` bytes (checked by `range_ptr`), and `dst` is
        // inside the registered mapping (checked above).
        unsafe { self.uffd.copy(dst, from, len) }
    }
}

impl Drop for MissingPages {
    fn drop(&mut self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes to our eventfd to stop the fault thread.
        unsafe { libc::write(self.wake.0, (&one as *const u64).cast(), 8) };
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = self
            .uffd
            .unregister(self.mapping.as_ptr() as usize, self.mapping.len());
    }
}

/// The fault thread: reports each queued fault as a page index from `base` until `wake` is
/// signalled.
fn fault_loop(
    uffd: &Userfaultfd,
    wake: libc::c_int,
    base: usize,
    page_size: usize,
    on_fault: impl Fn(u32),
) {
    let mut fds = [
        libc::pollfd {
            fd: uffd.raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: wake,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    loop {
        // SAFETY: `fds` holds two initialised pollfds.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if rc < 0 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return;
        }
        if fds[1].revents != 0 {
            return;
        }
        while let Ok(Some(address)) = uffd.read_fault() {
            on_fault(((address as usize - base) / page_size) as u32);
        }
    }
}

/// Asynchronous write-protect tracking of a whole mapping: protects it on creation, reports
/// and re-protects the written pages on each `collect`, lifts the protection when dropped.
pub struct WrittenPages {
    uffd: Userfaultfd,
    pagemap: Pagemap,
    mapping: Arc<Mapping>,
    scratch: Vec<PageRegion>,
}

impl WrittenPages {
    /// `supported`: the features this kernel offers (`write_tracking_support`).
    pub fn new(mapping: Arc<Mapping>, supported: u64) -> io::Result<Self> {
        // Unpopulated pages get protected too (fewer faults to populate), and shared file
        // memory needs its own feature bit; ask for each where the kernel has it.
        let optional = FEATURE_WP_UNPOPULATED | FEATURE_WP_HUGETLBFS_SHMEM;
        let uffd = Userfaultfd::open(WP_ASYNC_FEATURES | (supported & optional))?;
        let (addr, len) = (mapping.as_ptr() as usize, mapping.len());
        uffd.register_wp(addr, len)?;
        uffd.write_protect(addr, len, true)?;
        Ok(Self {
            uffd,
            pagemap: Pagemap::open()?,
            mapping,
            scratch: vec![PageRegion::default(); 4096],
        })
    }

    /// ORs the bits of the `page_size` pages written since the last call into `words` and
    /// protects them again; returns how many bits were newly set.
    pub fn collect(&mut self, page_size: usize, words: &SharedU32s) -> io::Result<u32> {
        let base = self.mapping.as_ptr() as usize;
        let pages = self.mapping.len().div_ceil(page_size);
        if words.len() < pages.div_ceil(32) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "words is shorter than pageCount / 32",
            ));
        }
        let mut added = 0u32;
        self.pagemap
            .take_written(base, self.mapping.len(), &mut self.scratch, |start, end| {
                let first = (start - base) / page_size;
                let last = (end - base).div_ceil(page_size);
                added += set_range(words, first, last);
            })?;
        Ok(added)
    }
}

impl Drop for WrittenPages {
    fn drop(&mut self) {
        let (addr, len) = (self.mapping.as_ptr() as usize, self.mapping.len());
        let _ = self.uffd.write_protect(addr, len, false);
        let _ = self.uffd.unregister(addr, len);
    }
}

/// Sets bits `first..last`; returns how many were not set before.
fn set_range(words: &SharedU32s, first: usize, last: usize) -> u32 {
    let mut added = 0;
    let mut page = first;
    while page < last {
        let bit = page % 32;
        let n = (32 - bit).min(last - page);
        let mask = if n == 32 {
            u32::MAX
        } else {
            ((1u32 << n) - 1) << bit
        };
        added += words.or_bits(page / 32, mask).count_ones();
        page += n;
    }
    added
}

fn new_fd() -> io::Result<Fd> {
    let flags = libc::O_CLOEXEC | libc::O_NONBLOCK;
    // User-mode-only faults are all Ferry needs (the guest's own loads and stores), and that
    // is what an unprivileged process may ask for when vm.unprivileged_userfaultfd is 0.
    for extra in [UFFD_USER_MODE_ONLY, 0] {
        // SAFETY: the syscall takes only flags.
        let fd = unsafe { libc::syscall(libc::SYS_userfaultfd, flags | extra) };
        if fd >= 0 {
            return Ok(Fd(fd as libc::c_int));
        }
    }
    let syscall_error = io::Error::last_os_error();
    // /dev/userfaultfd (Linux 6.1+) grants the same to whoever may open the device.
    let path = c"/dev/userfaultfd";
    // SAFETY: a valid C string.
    let dev = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if dev < 0 {
        return Err(syscall_error);
    }
    let dev = Fd(dev);
    // SAFETY: the ioctl takes the new descriptor's flags by value.
    let fd = unsafe { libc::ioctl(dev.0, USERFAULTFD_IOC_NEW, flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Fd(fd))
}

fn range(addr: usize, len: usize) -> UffdioRange {
    UffdioRange {
        start: addr as u64,
        len: len as u64,
    }
}

fn ioctl<T>(fd: &Fd, request: libc::c_ulong, arg: &mut T) -> io::Result<()> {
    // SAFETY: every request used here takes a pointer to the `repr(C)` struct `T` it is
    // paired with at its call site.
    if unsafe { libc::ioctl(fd.0, request, arg as *mut T) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{os_page_size, Mapping};

    fn wp_async_or_skip() -> Option<Userfaultfd> {
        match Userfaultfd::supported_features() {
            Ok(f) if f & WP_ASYNC_FEATURES == WP_ASYNC_FEATURES => {
                Some(Userfaultfd::open(WP_ASYNC_FEATURES | (f & FEATURE_WP_UNPOPULATED)).unwrap())
            }
            Ok(_) => {
                eprintln!("skipped: this kernel lacks UFFD_FEATURE_WP_ASYNC (Linux 6.7+)");
                None
            }
            Err(err) => {
                eprintln!("skipped: userfaultfd unavailable: {err}");
                None
            }
        }
    }

    fn written(pm: &Pagemap, m: &Mapping) -> Vec<usize> {
        let page = os_page_size();
        let base = m.as_ptr() as usize;
        let mut scratch = vec![PageRegion::default(); 2];
        let mut pages = Vec::new();
        pm.take_written(base, m.len(), &mut scratch, |s, e| {
            pages.extend((s - base) / page..(e - base) / page)
        })
        .unwrap();
        pages
    }

    #[test]
    fn missing_faults_block_until_the_page_is_copied_in() {
        let uffd = match Userfaultfd::open(0) {
            Ok(u) => u,
            Err(err) => {
                eprintln!("skipped: userfaultfd unavailable: {err}");
                return;
            }
        };
        let page = os_page_size();
        let m = std::sync::Arc::new(Mapping::anonymous(4 * page).unwrap());
        let base = m.as_ptr() as usize;
        uffd.register_missing(base, m.len()).unwrap();
        let reader = {
            let m = std::sync::Arc::clone(&m);
            // SAFETY: in bounds of the mapping, which the Arc keeps alive.
            std::thread::spawn(move || unsafe {
                std::ptr::read_volatile(m.as_ptr().add(2 * page + 5))
            })
        };
        let fault = loop {
            if let Some(addr) = uffd.read_fault().unwrap() {
                break addr as usize;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        assert_eq!(fault & !(page - 1), base + 2 * page);
        let content = vec![0x5au8; page];
        // SAFETY: `content` holds a page.
        assert!(unsafe { uffd.copy(base + 2 * page, content.as_ptr(), page) }.unwrap());
        assert_eq!(reader.join().unwrap(), 0x5a);
        // SAFETY: as above; the page is there now.
        assert!(!unsafe { uffd.copy(base + 2 * page, content.as_ptr(), page) }.unwrap());
        uffd.unregister(base, m.len()).unwrap();
    }

    #[test]
    fn async_write_protection_reports_each_written_page_once_per_scan() {
        let Some(uffd) = wp_async_or_skip() else {
            return;
        };
        let page = os_page_size();
        let m = Mapping::anonymous(64 * page).unwrap();
        let base = m.as_ptr() as usize;
        // Populate half the pages first: tracking must cover present and absent pages.
        for p in 0..32 {
            // SAFETY: in bounds of the mapping.
            unsafe { *m.as_ptr().add(p * page) = 1 };
        }
        uffd.register_wp(base, m.len()).unwrap();
        uffd.write_protect(base, m.len(), true).unwrap();
        let pm = Pagemap::open().unwrap();
        assert_eq!(written(&pm, &m), Vec::<usize>::new());
        // Scattered writes: more runs than the 2-entry scratch holds, so the walk resumes.
        let targets = [0usize, 3, 4, 5, 17, 31, 32, 40, 41, 63];
        for &p in &targets {
            // SAFETY: in bounds of the mapping.
            unsafe { *m.as_ptr().add(p * page + 100) = 7 };
        }
        assert_eq!(written(&pm, &m), targets);
        assert_eq!(written(&pm, &m), Vec::<usize>::new(), "a scan re-protects");
        // SAFETY: in bounds of the mapping.
        unsafe { *m.as_ptr().add(5 * page) = 8 };
        assert_eq!(written(&pm, &m), vec![5]);
        uffd.unregister(base, m.len()).unwrap();
    }
}
