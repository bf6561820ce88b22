"""Every comparator of the I/O bus, each defined once, generic over a domain.

A comparator takes ``(d, addr1, len1, addr2, len2)`` where ``d`` is a domain from
:mod:`iobus_verify.model.cints` (``INT`` for the concrete model, a ``Z3Domain``
for the proofs) and returns the C ``int`` result (-1, 0 or 1). Branches are
written with ``d.ite`` so that the same text evaluates eagerly on ints and
builds a term on z3 bit-vectors.

Argument order matters: the kernel's ``bsearch`` calls ``cmp(key, element)``,
its ``sort`` calls ``cmp(element, element)``, and today's ordered insert calls
``cmp(existing, new)``.
"""

from __future__ import annotations

from typing import Any, Callable

from iobus_verify.model.cints import ADDRESS_SPACE_END

Comparator = Callable[[Any, Any, Any, Any, Any], Any]


def cmp_2011(d, addr1, len1, addr2, len2):
    """``kvm_io_bus_sort_cmp`` of the seed patch (2011).

    -1 when r1 starts below r2; otherwise +1 when r1's end lies above r2's end,
    where each end is ``gpa_t + int`` (int converted to u64, wrapping); else 0.
    There is no zero-length rule.
    """
    end1 = d.gpa_add_len(addr1, len1)  # C: r1->addr + r1->len, int -> u64, wraps
    end2 = d.gpa_add_len(addr2, len2)
    return d.ite(
        d.ult(addr1, addr2),
        d.const(-1),
        d.ite(d.ugt(end1, end2), d.const(1), d.const(0)),
    )


def cmp_upstream(d, addr1, len1, addr2, len2):
    """``kvm_io_bus_cmp`` of today's ``virt/kvm/kvm_main.c``.

    As :func:`cmp_2011`, except that when ``r2->len == 0`` the ends are not
    added: only the addresses are compared (the zero-length wildcard). Only the
    *second* argument's length decides.
    """
    has_len = d.len_nonzero(len2)  # C: if (r2->len) { addr1 += r1->len; addr2 += r2->len; }
    end1 = d.ite(has_len, d.gpa_add_len(addr1, len1), addr1)
    end2 = d.ite(has_len, d.gpa_add_len(addr2, len2), addr2)
    return d.ite(
        d.ult(addr1, addr2),
        d.const(-1),
        d.ite(d.ugt(end1, end2), d.const(1), d.const(0)),
    )


# -- the project's own `fixed` design -----------------------------------------


def byte_extent(d, addr, length):
    """The bytes ``[lo, hi)`` a registration ``(addr, length)`` names, taken literally.

    ``length`` is read as the u32 the caller meant (a zone size >= 2**31 arrives
    as a negative ``int``); the range is clipped at the end of the 64-bit
    address space instead of wrapping. A zero length names no byte. Both ends
    are exact ("wide"). This is what a device that "accepts exactly the
    accesses inside its range" (a probe, a coalesced zone) holds.
    """
    lo = d.wide_gpa(addr)
    raw_hi = d.wadd(lo, d.wide_len_u32(length))
    top = d.wide_const(ADDRESS_SPACE_END)
    hi = d.ite(d.wlt(raw_hi, top), raw_hi, top)
    return lo, hi


def fixed_extent(d, addr, length):
    """The byte range ``[lo, hi)`` that the ``fixed`` bus gives a registered range.

    :func:`byte_extent`, except that a zero length is the wildcard "accesses
    starting at ``addr``", i.e. ``[addr, addr + 1)``: today's ``kvm_io_bus_cmp``
    offers a zero-length entry every access at its address (a zero-length
    ioeventfd takes any length there), so ``fixed`` must offer it too.
    """
    lo, hi = byte_extent(d, addr, length)
    return lo, d.ite(d.len_nonzero(length), hi, d.wadd(lo, d.wide_const(1)))


def fixed_point_cmp(d, point, lo, hi):
    """Match comparator of ``fixed``: key = the access's first byte, element = a segment.

    -1 when the point lies below the segment ``[lo, hi)``, +1 when at or above
    its end, 0 when inside. Segments of one table are disjoint, so at most one
    compares equal.
    """
    x = d.wide_gpa(point)
    return d.ite(
        d.wlt(x, lo),
        d.const(-1),
        d.ite(d.wle(hi, x), d.const(1), d.const(0)),
    )


def fixed_segment_cmp(d, lo1, hi1, lo2, hi2):
    """Sort comparator of ``fixed``: segments ordered by their first byte.

    A total preorder on any set of segments (it only compares ``lo``), hence a
    strict weak order; on the disjoint segments of one table it is total.
    """
    return d.ite(
        d.wlt(lo1, lo2),
        d.const(-1),
        d.ite(d.wlt(lo2, lo1), d.const(1), d.const(0)),
    )
