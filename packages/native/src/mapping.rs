//! Memory the addon maps itself, page-aligned: a file that another process shares (a VMM's RAM
//! file under /dev/shm, a memfd it passed on) or private anonymous memory. Only memory mapped
//! here can use the kernel's per-page features (userfaultfd), because V8 places an
//! ArrayBuffer's bytes wherever its allocator likes, not on page boundaries.
//!
//! A [`Mapping`] unmaps itself when dropped. JavaScript reaches it through external
//! ArrayBuffers whose finalizers hold an `Arc<Mapping>` (see `js_mapping.rs`), so the memory
//! outlives every view of it.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::NonNull;

/// One `mmap`ed range.
pub struct Mapping {
    addr: NonNull<u8>,
    len: usize,
    writable: bool,
    anonymous: bool,
}

// SAFETY: the mapping is plain memory; every access from Rust goes through raw pointers and the
// atomic views of `shared.rs`, and JavaScript's views follow the rules of any ArrayBuffer.
unsafe impl Send for Mapping {}
// SAFETY: as above; `&Mapping` hands out only the address and the length.
unsafe impl Sync for Mapping {}

/// How to map a file.
pub struct FileOptions {
    /// Map for reading and writing; else the file is never written (see [`Mapping::file`]).
    pub writable: bool,
    /// Create the file if it does not exist.
    pub create: bool,
    /// The length to map; the file is grown to it if shorter (writable only). `None` maps the
    /// whole file.
    pub len: Option<usize>,
}

impl Mapping {
    /// Private anonymous memory, zero-filled, with transparent huge pages turned off so the
    /// kernel tracks it in base pages (a write to a huge page would dirty 2 MiB).
    pub fn anonymous(len: usize) -> io::Result<Self> {
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
        let mut mapping = Self::map(len, true, flags, -1)?;
        mapping.anonymous = true;
        #[cfg(target_os = "linux")]
        // SAFETY: the range is exactly the mapping just made. Failure only leaves THP on.
        unsafe {
            libc::madvise(mapping.addr.as_ptr().cast(), len, libc::MADV_NOHUGEPAGE);
        }
        Ok(mapping)
    }

    /// A shared mapping of `path`: writes reach the file and every other process mapping it.
    pub fn file(path: &Path, options: &FileOptions) -> io::Result<Self> {
        let c_path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
        let mut oflags = libc::O_CLOEXEC;
        oflags |= if options.writable {
            libc::O_RDWR
        } else {
            libc::O_RDONLY
        };
        if options.create {
            oflags |= libc::O_CREAT;
        }
        // SAFETY: `c_path` is a valid C string; the mode is only used with O_CREAT.
        let fd = unsafe { libc::open(c_path.as_ptr(), oflags, 0o600 as libc::c_uint) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = Fd(fd);
        let file_len = fd.len()?;
        let len = match options.len {
            None => file_len,
            Some(len) if len <= file_len => len,
            Some(len) if options.writable => {
                fd.truncate(len)?;
                len
            }
            Some(len) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("the file holds {file_len} bytes, fewer than the {len} asked for"),
                ))
            }
        };
        if options.writable {
            return Self::map(len, true, libc::MAP_SHARED, fd.0);
        }
        // Read-only for the file, yet safe for JavaScript: a stray write to an ArrayBuffer over
        // a PROT_READ mapping would kill the process, so the pages are mapped copy-on-write
        // instead. Such a write changes a private copy of that page, never the file.
        let mut mapping = Self::map(len, true, libc::MAP_PRIVATE, fd.0)?;
        mapping.writable = false;
        Ok(mapping)
    }

    fn map(len: usize, writable: bool, flags: libc::c_int, fd: libc::c_int) -> io::Result<Self> {
        if len == 0 || !len.is_multiple_of(os_page_size()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "length must be a positive multiple of {} bytes",
                    os_page_size()
                ),
            ));
        }
        let prot = libc::PROT_READ | if writable { libc::PROT_WRITE } else { 0 };
        // SAFETY: a fresh mapping at an address of the kernel's choosing touches no existing
        // memory; the result is checked before use.
        let addr = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, fd, 0) };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let addr = NonNull::new(addr.cast::<u8>()).expect("mmap returned null");
        Ok(Self {
            addr,
            len,
            writable,
            anonymous: false,
        })
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.addr.as_ptr()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Sets bit `i` of `out` (32-bit words) for every `page_size` page of which some OS page is
    /// resident, and returns how many. Anonymous memory only: there a page that was never
    /// touched is not resident and reads as zeros, so only resident pages need reading.
    pub fn resident_pages(&self, page_size: usize, out: &mut [u32]) -> io::Result<usize> {
        if !self.anonymous {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "only anonymous memory can be told zero by residency",
            ));
        }
        let os = os_page_size();
        let mut vec = vec![0u8; self.len / os];
        // SAFETY: the range is this mapping's and `vec` holds one byte per OS page of it.
        if unsafe { libc::mincore(self.addr.as_ptr().cast(), self.len, vec.as_mut_ptr().cast()) }
            < 0
        {
            return Err(io::Error::last_os_error());
        }
        let per = (page_size / os).max(1);
        let mut n = 0;
        for (page, chunk) in vec.chunks(per).enumerate() {
            if chunk.iter().any(|b| b & 1 != 0) {
                out[page / 32] |= 1 << (page % 32);
                n += 1;
            }
        }
        Ok(n)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the range is this mapping's own, and nothing can reach it any more: every
        // JavaScript view holds an `Arc<Mapping>`, so the last one has been collected.
        unsafe { libc::munmap(self.addr.as_ptr().cast(), self.len) };
    }
}

/// The kernel's page size.
pub fn os_page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

/// An owned file descriptor, closed on drop.
pub struct Fd(pub libc::c_int);

impl Fd {
    fn len(&self) -> io::Result<usize> {
        // SAFETY: `stat` is plain data that fstat fills in.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `self.0` is an open descriptor and `stat` is writable.
        if unsafe { libc::fstat(self.0, &mut stat) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(usize::try_from(stat.st_size).unwrap_or(0))
    }

    fn truncate(&self, len: usize) -> io::Result<()> {
        let len = libc::off_t::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "length too large"))?;
        // SAFETY: `self.0` is an open descriptor.
        if unsafe { libc::ftruncate(self.0, len) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: the descriptor is owned and closed once.
        unsafe { libc::close(self.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_memory_is_zeroed_writable_and_page_aligned() {
        let page = os_page_size();
        let m = Mapping::anonymous(4 * page).unwrap();
        assert_eq!(m.as_ptr() as usize % page, 0);
        // SAFETY: the mapping is 4 pages long and owned by this test.
        let bytes = unsafe { std::slice::from_raw_parts_mut(m.as_ptr(), m.len()) };
        assert!(bytes.iter().all(|&b| b == 0));
        bytes[page + 7] = 42;
        assert_eq!(bytes[page + 7], 42);
    }

    #[test]
    fn a_file_mapping_is_shared_with_the_file() {
        let page = os_page_size();
        let path = std::env::temp_dir().join(format!("ferry-map-test-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let options = FileOptions {
            writable: true,
            create: true,
            len: Some(2 * page),
        };
        {
            let m = Mapping::file(&path, &options).unwrap();
            // SAFETY: the mapping is 2 pages long and owned by this test.
            unsafe { *m.as_ptr().add(page + 1) = 9 };
        }
        let content = std::fs::read(&path).unwrap();
        assert_eq!(content.len(), 2 * page);
        assert_eq!(content[page + 1], 9);
        let read_only = FileOptions {
            writable: false,
            create: false,
            len: None,
        };
        let m = Mapping::file(&path, &read_only).unwrap();
        assert_eq!(m.len(), 2 * page);
        assert!(!m.writable());
        let too_long = FileOptions {
            len: Some(4 * page),
            ..read_only
        };
        assert!(Mapping::file(&path, &too_long).is_err());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn lengths_that_are_not_whole_pages_are_refused() {
        assert!(Mapping::anonymous(0).is_err());
        assert!(Mapping::anonymous(os_page_size() + 1).is_err());
    }
}
