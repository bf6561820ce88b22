//! A device bus in the style of the Rust VMMs' buses, and the `extern "C"`
//! shim that lets iobus-verify gate it.
//!
//! * [`bus`] is the bus a VMM would have: a `BTreeMap` keyed by a range's base,
//!   a predecessor lookup, overlap refusal, checked `u64` arithmetic. It knows
//!   nothing of the suite.
//! * [`shim`] implements the suite's C ABI (`iobus_bus.h`) over [`bus::Bus`]:
//!   `iobus_create`, `iobus_register`, `iobus_write`, ... with `#[no_mangle]`.
//!
//! In a VMM project the shim is a small crate of its own (or a cargo feature)
//! that depends on the crate holding the bus; here both live in one crate.

pub mod bus;
pub mod shim;
