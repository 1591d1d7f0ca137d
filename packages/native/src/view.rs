//! Typed-array arguments read with raw Node-API calls.
//!
//! napi-rs's typed-array types hand out `&[T]`/`&mut [T]`, which would claim exclusive or
//! frozen access to memory that a worker may be writing (guest memory is a
//! `SharedArrayBuffer`). [`TypedArrayArg`] instead keeps the address and turns it into the
//! atomic views of `shared.rs`. `napi_get_typedarray_info` accepts views of a
//! `SharedArrayBuffer` like any other.

use std::ffi::c_void;
use std::ptr;

use napi::bindgen_prelude::{FromNapiValue, TypeName, ValidateNapiValue};
use napi::{check_status, sys, Error, Result, Status, ValueType};

use crate::shared::{SharedBytes, SharedBytesMut, SharedU32s, SharedU64s};

/// A typed array passed from JavaScript, valid for the native call that received it.
pub struct TypedArrayArg {
    env: sys::napi_env,
    value: sys::napi_value,
    kind: sys::napi_typedarray_type,
    data: *mut c_void,
    length: usize,
}

impl TypeName for TypedArrayArg {
    fn type_name() -> &'static str {
        "TypedArray"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ValidateNapiValue for TypedArrayArg {}

impl FromNapiValue for TypedArrayArg {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> Result<Self> {
        let mut is_typed_array = false;
        // SAFETY: `env` and `value` come from Node-API for the current call.
        check_status!(unsafe { sys::napi_is_typedarray(env, value, &mut is_typed_array) })?;
        if !is_typed_array {
            return Err(Error::new(Status::InvalidArg, "expected a typed array"));
        }
        let mut kind = 0;
        let mut length = 0;
        let mut data = ptr::null_mut();
        let mut byte_offset = 0;
        // SAFETY: as above, and `value` is a typed array. `data` already includes the view's
        // byte offset; for a view of a SharedArrayBuffer it points into the shared store.
        check_status!(unsafe {
            sys::napi_get_typedarray_info(
                env,
                value,
                &mut kind,
                &mut length,
                &mut data,
                ptr::null_mut(),
                &mut byte_offset,
            )
        })?;
        Ok(Self {
            env,
            value,
            kind,
            data,
            length,
        })
    }
}

impl TypedArrayArg {
    fn expect(&self, kind: sys::napi_typedarray_type, what: &str) -> Result<()> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(Error::new(
                Status::InvalidArg,
                format!("{what} must be a {}", kind_name(kind)),
            ))
        }
    }

    /// The bytes of a `Uint8Array` (or `Buffer`).
    pub fn bytes(&self, what: &str) -> Result<SharedBytes> {
        self.expect(sys::TypedarrayType::uint8_array, what)?;
        // SAFETY: Node-API reported `length` bytes at `data` for this live view. The memory
        // stays valid for the synchronous call: the value is rooted by the call's handle
        // scope, no JavaScript runs on this thread to detach or shrink its buffer, and
        // another thread can do neither to a buffer it does not own (a SharedArrayBuffer
        // can only grow, in place). Async tasks extend this with `pin`.
        Ok(unsafe { SharedBytes::new(self.data.cast::<u8>(), self.length) })
    }

    /// The bytes of a `Uint8Array` (or `Buffer`) that the kernel writes.
    pub fn bytes_mut(&self, what: &str) -> Result<SharedBytesMut> {
        self.expect(sys::TypedarrayType::uint8_array, what)?;
        // SAFETY: as in `bytes`; a typed array's memory is writable (JavaScript may store to
        // any element), and other views of it are only ever accessed by JavaScript or by
        // these atomic views, never through Rust references.
        Ok(unsafe { SharedBytesMut::new(self.data.cast::<u8>(), self.length) })
    }

    /// The words of a `BigUint64Array`.
    pub fn u64s(&self, what: &str) -> Result<SharedU64s> {
        self.expect(sys::TypedarrayType::biguint64_array, what)?;
        check_aligned(self.data, 8)?;
        // SAFETY: as in `bytes`; the address is 8-byte aligned (checked above, and V8 only
        // creates BigUint64Array views at multiples of 8).
        Ok(unsafe { SharedU64s::new(self.data.cast::<u64>(), self.length) })
    }

    /// The words of a `Uint32Array`.
    pub fn u32s(&self, what: &str) -> Result<SharedU32s> {
        self.expect(sys::TypedarrayType::uint32_array, what)?;
        check_aligned(self.data, 4)?;
        // SAFETY: as in `u64s`, with 4-byte alignment.
        Ok(unsafe { SharedU32s::new(self.data.cast::<u32>(), self.length) })
    }

    /// Roots the typed array (and so its buffer) until the returned [`Pin`] is dropped on the
    /// JavaScript thread, so an async task can keep using the views built from it.
    pub fn pin(&self) -> Result<Pin> {
        let mut reference = ptr::null_mut();
        // SAFETY: `env` and `value` are live for the current call.
        check_status!(unsafe {
            sys::napi_create_reference(self.env, self.value, 1, &mut reference)
        })?;
        Ok(Pin {
            env: self.env,
            reference,
        })
    }
}

/// A strong reference to a JavaScript value; deleted on drop, which must happen on the
/// JavaScript thread (napi-rs drops a task there, after `finally`).
pub struct Pin {
    env: sys::napi_env,
    reference: sys::napi_ref,
}

// SAFETY: a `Pin` only moves with its task to the pool thread and back; it is created and
// dropped, the only times its handles are used, on the JavaScript thread.
unsafe impl Send for Pin {}

impl Drop for Pin {
    fn drop(&mut self) {
        // SAFETY: dropped on the JavaScript thread of `env` (see the type's docs); the status
        // is ignored because there is nothing to do if the environment is shutting down.
        unsafe { sys::napi_delete_reference(self.env, self.reference) };
    }
}

fn check_aligned(data: *mut c_void, align: usize) -> Result<()> {
    if (data as usize).is_multiple_of(align) {
        Ok(())
    } else {
        Err(Error::new(Status::InvalidArg, "typed array is misaligned"))
    }
}

fn kind_name(kind: sys::napi_typedarray_type) -> &'static str {
    match kind {
        sys::TypedarrayType::uint8_array => "Uint8Array",
        sys::TypedarrayType::uint32_array => "Uint32Array",
        sys::TypedarrayType::biguint64_array => "BigUint64Array",
        _ => "typed array",
    }
}
