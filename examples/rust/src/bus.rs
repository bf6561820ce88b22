//! A VMM-style device bus (this project's own code, written in the manner of
//! the Rust VMMs' buses, rust-vmm's `vm-device` foremost).
//!
//! Ranges are keyed by their base address in a `BTreeMap`. A lookup takes the
//! entry with the greatest base at or below the address (its predecessor) and
//! accepts it when the address is not past the entry's last byte. Registering
//! a range that shares a byte with a registered one is refused, so at most one
//! range holds any address and the predecessor is the only candidate.
//!
//! Arithmetic is on `u64` and never overflows: a range is stored by its base
//! and size, its last byte `base + (size - 1)` is computed with a checked add
//! when the range is made, and a range whose last byte would lie past
//! `u64::MAX` is refused. A range may end exactly at the top of the space.

use std::collections::BTreeMap;
use std::fmt;

/// Why the bus refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// A zero size, or a range whose last byte lies past `u64::MAX`.
    InvalidRange,
    /// The new range shares at least one byte with a registered one.
    DeviceOverlap,
    /// No registered range holds the whole access.
    DeviceNotFound,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Error::InvalidRange => "invalid range",
            Error::DeviceOverlap => "range overlaps a registered device",
            Error::DeviceNotFound => "no device at this address",
        };
        f.write_str(text)
    }
}

impl std::error::Error for Error {}

/// The bytes `base ..= base + size - 1`; `size >= 1`, and the last byte fits in a `u64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusRange {
    base: u64,
    size: u64,
}

impl BusRange {
    /// A range of `size` bytes from `base`, or [`Error::InvalidRange`] for a
    /// zero size or a range that would run past the top of the space.
    pub fn new(base: u64, size: u64) -> Result<Self, Error> {
        if size == 0 {
            return Err(Error::InvalidRange);
        }
        match base.checked_add(size - 1) {
            Some(_) => Ok(BusRange { base, size }),
            None => Err(Error::InvalidRange),
        }
    }

    pub fn base(&self) -> u64 {
        self.base
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The last byte (inclusive); cannot overflow, [`BusRange::new`] checked it.
    pub fn last(&self) -> u64 {
        self.base + (self.size - 1)
    }

    /// Whether the two ranges share a byte (compared on last bytes: no sum can overflow).
    pub fn overlaps(&self, other: &BusRange) -> bool {
        !(self.base > other.last() || self.last() < other.base)
    }
}

/// Devices of type `D` on disjoint ranges, keyed by base.
pub struct Bus<D> {
    devices: BTreeMap<u64, (BusRange, D)>,
}

impl<D> Default for Bus<D> {
    fn default() -> Self {
        Bus { devices: BTreeMap::new() }
    }
}

impl<D> Bus<D> {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many ranges are registered.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// Adds `device` on `range`, unless the range shares a byte with a
    /// registered one ([`Error::DeviceOverlap`], the bus unchanged). Every
    /// entry is compared: the map's order alone would not show an earlier
    /// range that reaches past the new base.
    pub fn register(&mut self, range: BusRange, device: D) -> Result<(), Error> {
        if self.devices.values().any(|(r, _)| r.overlaps(&range)) {
            return Err(Error::DeviceOverlap);
        }
        // Two ranges with one base share that byte, so the insert below never
        // replaces an entry.
        let previous = self.devices.insert(range.base, (range, device));
        debug_assert!(previous.is_none());
        Ok(())
    }

    /// The range holding `addr` and its device: the predecessor of `addr`
    /// (greatest base <= addr), if `addr` is not past its last byte.
    pub fn device(&self, addr: u64) -> Option<(&BusRange, &D)> {
        let (_, (range, device)) = self.devices.range(..=addr).next_back()?;
        if range.last() >= addr {
            Some((range, device))
        } else {
            None
        }
    }

    /// The range and device that hold the whole access `addr .. addr + len`.
    /// A zero-length access, or one running past the top of the space, is
    /// [`Error::InvalidRange`]; one no single range holds whole (nothing
    /// there, or it straddles a range's end) is [`Error::DeviceNotFound`].
    pub fn check_access(&self, addr: u64, len: usize) -> Result<(&BusRange, &D), Error> {
        let size = u64::try_from(len).map_err(|_| Error::InvalidRange)?;
        let access = BusRange::new(addr, size)?;
        let (range, device) = self.device(addr).ok_or(Error::DeviceNotFound)?;
        if range.last() < access.last() {
            return Err(Error::DeviceNotFound);
        }
        Ok((range, device))
    }

    /// Removes the range holding `addr` (any of its bytes), returning it and its device.
    pub fn deregister(&mut self, addr: u64) -> Option<(BusRange, D)> {
        let base = self.device(addr)?.0.base;
        self.devices.remove(&base)
    }

    /// The registered ranges in address order.
    pub fn iter(&self) -> impl Iterator<Item = (&BusRange, &D)> {
        self.devices.values().map(|(r, d)| (r, d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_may_end_at_the_top_but_not_past_it() {
        assert!(BusRange::new(u64::MAX, 1).is_ok());
        assert!(BusRange::new(1, u64::MAX).is_ok());
        assert_eq!(BusRange::new(u64::MAX, 2), Err(Error::InvalidRange));
        assert_eq!(BusRange::new(5, 0), Err(Error::InvalidRange));
    }

    #[test]
    fn overlaps_are_refused_and_leave_the_bus_unchanged() {
        let mut bus = Bus::new();
        bus.register(BusRange::new(0x100, 0x10).unwrap(), 'a').unwrap();
        assert_eq!(bus.register(BusRange::new(0x10f, 1).unwrap(), 'b'), Err(Error::DeviceOverlap));
        assert_eq!(bus.register(BusRange::new(0x0, 0x101).unwrap(), 'c'), Err(Error::DeviceOverlap));
        assert_eq!(bus.len(), 1);
        bus.register(BusRange::new(0x110, 1).unwrap(), 'd').unwrap();
        assert_eq!(bus.len(), 2);
    }

    #[test]
    fn lookup_is_by_predecessor_and_needs_the_whole_access() {
        let mut bus = Bus::new();
        bus.register(BusRange::new(0x100, 0x10).unwrap(), 'a').unwrap();
        bus.register(BusRange::new(u64::MAX - 3, 4).unwrap(), 'z').unwrap();
        assert_eq!(bus.device(0x10f).map(|(_, d)| *d), Some('a'));
        assert!(bus.device(0x110).is_none());
        assert!(bus.device(0xff).is_none());
        assert_eq!(bus.check_access(0x10c, 4).map(|(_, d)| *d), Ok('a'));
        assert_eq!(bus.check_access(0x10d, 4).map(|(_, d)| *d), Err(Error::DeviceNotFound));
        assert_eq!(bus.check_access(0x100, 0).map(|(_, d)| *d), Err(Error::InvalidRange));
        assert_eq!(bus.check_access(u64::MAX, 1).map(|(_, d)| *d), Ok('z'));
        assert_eq!(bus.check_access(u64::MAX, 2).map(|(_, d)| *d), Err(Error::InvalidRange));
    }

    #[test]
    fn deregister_takes_any_byte_of_the_range() {
        let mut bus = Bus::new();
        bus.register(BusRange::new(0x100, 0x10).unwrap(), 'a').unwrap();
        assert!(bus.deregister(0x0ff).is_none());
        assert_eq!(bus.deregister(0x108).map(|(r, d)| (r.base(), d)), Some((0x100, 'a')));
        assert!(bus.is_empty());
    }
}
