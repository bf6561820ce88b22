"""The corners of the conformance table: one small hand-written scenario per
question a bus must answer, each ending with the access (or op) that shows
the answer. Every VMM runs every corner against its own contract and against
REF-strict (:mod:`iobus_verify.vmm.conformance`); nothing here states the
expected answer of any bus: the cells are computed.

Why these: each is a corner the reference names as where buses went wrong
(the top of the 64-bit space, overlaps, same-base keys, removal that cannot
find what it stored, relocation that is not atomic, zero length, the 16-bit
PIO top), plus the matching rules (straddling and zero-length accesses).
"""

from __future__ import annotations

from dataclasses import dataclass

from iobus_verify.vmm.scenario import VmmOp, VmmScenario, ops

M = (1 << 64) - 1


@dataclass(frozen=True)
class Corner:
    name: str
    text: str
    ops: tuple[VmmOp, ...]
    #: op kinds the bus must have for the corner to apply (else n/a)
    needs: frozenset[str] = frozenset({"register", "read"})

    def scenario(self, vmm: str | None = None) -> VmmScenario:
        return VmmScenario(self.ops, vmm=vmm, meta={"corner": self.name})


def _c(name: str, text: str, *items: tuple, needs: tuple[str, ...] = ("register", "read")) -> Corner:
    return Corner(name, text, ops(*items), frozenset(needs))


CORNERS: tuple[Corner, ...] = (
    _c("zero-length-range", "register a range of length 0, then read its base",
       ("register", "mmio", "z", 0x1000, 0), ("read", "mmio", 0x1000, 1)),
    _c("range-to-top", "a range ending exactly at 2^64, read at 2^64-1",
       ("register", "mmio", "t", M - 0xFFF, 0x1000), ("read", "mmio", M, 1)),
    _c("range-past-top", "a range running past 2^64, then a range at 0, read at 4",
       ("register", "mmio", "w", M - 7, 0x10), ("register", "mmio", "low", 0, 0x10), ("read", "mmio", 4, 1)),
    _c("overlap-inside", "a range inside a registered one, read inside both",
       ("register", "mmio", "a", 0x1000, 0x100), ("register", "mmio", "b", 0x1080, 0x10), ("read", "mmio", 0x1088, 1)),
    _c("overlap-below", "a range overlapping a registered one from below, read in the shared bytes",
       ("register", "mmio", "a", 0x1000, 0x100), ("register", "mmio", "b", 0xFF0, 0x20), ("read", "mmio", 0x1008, 1)),
    _c("same-base", "a second range at a registered base",
       ("register", "mmio", "a", 0x1000, 0x100), ("register", "mmio", "b", 0x1000, 0x10), ("read", "mmio", 0x1000, 1)),
    _c("overlap-at-top", "a range inside one that ends exactly at 2^64",
       ("register", "mmio", "t", M - 15, 16), ("register", "mmio", "x", M - 7, 4), ("read", "mmio", M - 1, 1)),
    _c("same-base-at-top", "a second one-byte range at 2^64-1",
       ("register", "mmio", "a", M, 1), ("register", "mmio", "b", M, 1), ("read", "mmio", M, 1)),
    _c("wrapping-new-range", "a range running past 2^64 beside a low one (an overlap scan sums past the top)",
       ("register", "mmio", "a", 0x1000, 0x10), ("register", "mmio", "w", M - 7, 0x10), ("read", "mmio", 0x1000, 1)),
    _c("straddling-access", "a 4-byte access across two adjacent ranges",
       ("register", "mmio", "a", 0x1000, 0x10), ("register", "mmio", "b", 0x1010, 0x10), ("read", "mmio", 0x100E, 4)),
    _c("zero-length-access", "a zero-length access inside a range",
       ("register", "mmio", "a", 0x1000, 0x10), ("read", "mmio", 0x1008, 0)),
    _c("access-past-top", "a 4-byte access starting 2 bytes below 2^64",
       ("register", "mmio", "t", M - 3, 4), ("read", "mmio", M - 1, 4)),
    _c("remove-wrong-length", "remove (base, shorter length), then read the range",
       ("register", "mmio", "a", 0x1000, 0x100), ("remove", "mmio", 0x1000, 0x10), ("read", "mmio", 0x1000, 1),
       needs=("register", "remove", "read")),
    _c("remove-interior", "remove by an address inside the range, then read it",
       ("register", "mmio", "a", 0x1000, 0x100), ("remove", "mmio", 0x1080, 1), ("read", "mmio", 0x1000, 1),
       needs=("register", "remove", "read")),
    _c("remove-by-device", "a device at two ranges removed by device, then read both",
       ("register", "mmio", "a", 0x1000, 0x10), ("register", "mmio", "a", 0x2000, 0x10), ("remove_device", "mmio", "a"),
       ("read", "mmio", 0x1000, 1), ("read", "mmio", 0x2000, 1),
       needs=("register", "remove_device", "read")),
    _c("relocate-onto-overlap", "move a range onto another one, then read the old place",
       ("register", "mmio", "a", 0x1000, 0x100), ("register", "mmio", "b", 0x2000, 0x100),
       ("relocate", "mmio", "a", 0x1000, 0x100, 0x1F80), ("read", "mmio", 0x1000, 1), ("read", "mmio", 0x2000, 1),
       needs=("register", "relocate", "read")),
    _c("relocate-wrong-length", "move a range giving a shorter length, then read the old place",
       ("register", "mmio", "a", 0x1000, 0x100), ("relocate", "mmio", "a", 0x1000, 0x80, 0x3000), ("read", "mmio", 0x1000, 1),
       needs=("register", "relocate", "read")),
    _c("relocate-onto-itself", "move a range by half its length (the target overlaps only its own old place)",
       ("register", "mmio", "a", 0x1000, 0x100), ("relocate", "mmio", "a", 0x1000, 0x100, 0x1080), ("read", "mmio", 0x1100, 1),
       needs=("register", "relocate", "read")),
    _c("resources-partial", "one call registering two ranges of a device, the second one taken",
       ("register", "mmio", "b", 0x2000, 0x10), ("register_resources", "mmio", "a", [(0x1000, 0x10), (0x2000, 0x10)]),
       ("read", "mmio", 0x1000, 1),
       needs=("register_resources", "read")),
    _c("resources-zero-size", "one call registering a device's ranges, one of them of size 0",
       ("register_resources", "mmio", "a", [(0x1000, 0x10), (0x3000, 0)]), ("read", "mmio", 0x1000, 1),
       needs=("register_resources", "read")),
    _c("pio-16-bit-top", "a PIO range ending at port 0xffff, and one running past it",
       ("register", "pio", "p", 0xFFF8, 8), ("register", "pio", "q", 0xFFFC, 8), ("read", "pio", 0xFFFF, 1)),
)
