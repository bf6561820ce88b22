//! The `extern "C"` shim: iobus-verify's C ABI (`iobus_bus.h`, prefix
//! `iobus_`) over [`Bus`]. Every function the header declares is here with
//! `#[no_mangle]`; the suite loads the cdylib and calls them from its worker
//! process, one fresh process per bus.
//!
//! The shim only adapts; every decision about ranges is the bus's:
//!
//! * Lengths arrive as a C `int`. A negative one is no size a VMM has: register
//!   refuses it (`-EINVAL`), an access finds no device. Zero and past-the-top
//!   ranges are the bus's `InvalidRange` (`-EINVAL`), overlaps its
//!   `DeviceOverlap` (`-EEXIST`).
//! * The ABI unregisters by device, the bus by address: the shim finds the
//!   device's range and deregisters its base (`-ENOENT` when absent).
//! * The ABI gives the bus a capacity (the kernel's `NR_IOBUS_DEVS`); a VMM bus
//!   has none, so the shim counts and returns `-ENOSPC`, before the bus sees
//!   the range, as the kernel does.
//! * A VMM hands its device `(base, offset)`; the suite's devices take the
//!   guest address, so the shim passes `base + offset` back, and the device's
//!   own answer (handled or not) is the bus's answer: there is one candidate.
//! * Allocation: the bus's map allocates with the global allocator, which
//!   aborts when memory runs out; it has no `-ENOMEM` path, so the shim never
//!   asks the suite's allocation hook.

use std::os::raw::{c_char, c_int, c_void};
use std::ptr;

use crate::bus::{Bus, BusRange, Error};

// The kernel's errno numbers, as iobus_bus.h defines them.
const ENOENT: c_int = 2;
const EEXIST: c_int = 17;
const EINVAL: c_int = 22;
const ENOSPC: c_int = 28;
const EOPNOTSUPP: c_int = 95;

/// `struct iobus_host`: the suite's device callbacks (field order as in the header).
#[repr(C)]
pub struct IobusHost {
    ctx: *mut c_void,
    dev_write: extern "C" fn(*mut c_void, *const c_void, u64, c_int, *const c_void) -> c_int,
    dev_read: extern "C" fn(*mut c_void, *const c_void, u64, c_int, *mut c_void) -> c_int,
    alloc_ok: extern "C" fn(*mut c_void, *const c_char) -> c_int,
    dev_destructor: extern "C" fn(*mut c_void, *const c_void),
    dev_is_ioeventfd: extern "C" fn(*mut c_void, *const c_void) -> c_int,
}

/// `struct iobus_range`: one entry of `iobus_ranges()`.
#[repr(C)]
pub struct IobusRange {
    addr: u64,
    len: i32,
    dev: *const c_void,
}

/// A device as the bus stores it: the suite's opaque handle (compared, never dereferenced).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Handle(*const c_void);

/// `struct iobus_bus`: the bus, the host it calls back, the capacity it was given.
pub struct IobusBus {
    bus: Bus<Handle>,
    host: *const IobusHost,
    capacity: usize,
}

#[no_mangle]
pub static iobus_era: [u8; 5] = *b"2011\0";

#[no_mangle]
pub static iobus_summary: [u8; 83] =
    *b"a VMM-style Rust bus: BTreeMap keyed by base, predecessor lookup, overlaps refused\0";

/// The contract, in the suite's condition atoms: what this bus promises to
/// handle as KVM's linear bus would. Registrations: a length in (0, 2^31)
/// (`positive-len`), not running past 2^64 (`no-wrap`), sharing no byte with a
/// live range (`disjoint`: the bus refuses overlaps, KVM accepts them).
/// Accesses: inside one range (`access-inside`: the bus needs the whole access
/// in one range, KVM's devices judge by the first byte).
#[no_mangle]
pub static iobus_assumes: [u8; 44] = *b"positive-len+no-wrap+disjoint+access-inside\0";

/// 0: no allocation-failure path (see the module comment), so the suite drives none.
#[no_mangle]
pub static iobus_alloc_hook: c_int = 0;

/// # Safety
/// `host` must stay valid until `iobus_destroy`.
#[no_mangle]
pub unsafe extern "C" fn iobus_create(capacity: c_int, host: *const IobusHost) -> *mut IobusBus {
    let capacity = match usize::try_from(capacity) {
        Ok(c) if !host.is_null() => c,
        _ => return ptr::null_mut(),
    };
    Box::into_raw(Box::new(IobusBus { bus: Bus::new(), host, capacity }))
}

/// # Safety
/// `bus` comes from `iobus_create` and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn iobus_destroy(bus: *mut IobusBus) {
    if !bus.is_null() {
        drop(Box::from_raw(bus));
    }
}

/// # Safety
/// `bus` comes from `iobus_create`.
#[no_mangle]
pub unsafe extern "C" fn iobus_register(bus: *mut IobusBus, addr: u64, len: c_int, dev: *const c_void) -> c_int {
    let b = &mut *bus;
    if b.bus.len() >= b.capacity {
        return -ENOSPC;
    }
    let range = match u64::try_from(len).map_err(|_| Error::InvalidRange).and_then(|size| BusRange::new(addr, size)) {
        Ok(range) => range,
        Err(_) => return -EINVAL,
    };
    match b.bus.register(range, Handle(dev)) {
        Ok(()) => 0,
        Err(Error::DeviceOverlap) => -EEXIST,
        Err(_) => -EINVAL,
    }
}

/// # Safety
/// `bus` comes from `iobus_create`.
#[no_mangle]
pub unsafe extern "C" fn iobus_unregister(bus: *mut IobusBus, dev: *const c_void) -> c_int {
    let b = &mut *bus;
    let base = b.bus.iter().find(|(_, d)| **d == Handle(dev)).map(|(r, _)| r.base());
    match base.and_then(|base| b.bus.deregister(base)) {
        Some(_) => 0,
        None => -ENOENT,
    }
}

/// The guest address and device for an access, or None when the bus has no device for it.
fn route(b: &IobusBus, addr: u64, len: c_int) -> Option<(u64, Handle)> {
    let len = usize::try_from(len).ok()?;
    let (range, device) = b.bus.check_access(addr, len).ok()?;
    let offset = addr - range.base(); // what a VMM's device is handed, with the base
    Some((range.base() + offset, *device))
}

/// # Safety
/// `bus` comes from `iobus_create`; `val` holds `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn iobus_write(bus: *mut IobusBus, addr: u64, len: c_int, val: *const c_void) -> c_int {
    let b = &*bus;
    match route(b, addr, len) {
        Some((gpa, dev)) => {
            let host = &*b.host;
            (host.dev_write)(host.ctx, dev.0, gpa, len, val)
        }
        None => -EOPNOTSUPP,
    }
}

/// # Safety
/// `bus` comes from `iobus_create`; `val` has room for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn iobus_read(bus: *mut IobusBus, addr: u64, len: c_int, val: *mut c_void) -> c_int {
    let b = &*bus;
    match route(b, addr, len) {
        Some((gpa, dev)) => {
            let host = &*b.host;
            (host.dev_read)(host.ctx, dev.0, gpa, len, val)
        }
        None => -EOPNOTSUPP,
    }
}

/// The registered ranges, in the map's (address) order: fills `min(count, max)`, returns count.
///
/// # Safety
/// `bus` comes from `iobus_create`; `out` has room for `max` entries.
#[no_mangle]
pub unsafe extern "C" fn iobus_ranges(bus: *mut IobusBus, out: *mut IobusRange, max: c_int) -> c_int {
    let b = &*bus;
    let room = usize::try_from(max).unwrap_or(0);
    for (i, (range, dev)) in b.bus.iter().take(room).enumerate() {
        // Sizes came in as positive C ints, so they fit back into one.
        *out.add(i) = IobusRange { addr: range.base(), len: range.size() as i32, dev: dev.0 };
    }
    b.bus.len() as c_int
}
