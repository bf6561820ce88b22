"""Hypothesis strategies that reach the edges of the I/O bus, not uniform noise.

A *range* is ``(addr, len)`` as the bus sees it: ``addr`` a ``gpa_t`` (u64),
``len`` a C ``int`` (it may be zero or negative: a u32 zone size >= 2**31
arrives negative). Every strategy here mixes the edge cases the issue lists with
a uniform draw over the whole C domain, so nothing is excluded:

* nested, identical, equal-start, adjacent and partly overlapping ranges
  (:func:`related_range`, :func:`range_families`);
* ranges ending exactly at, or wrapping past, the top of the 64-bit space;
* lengths and sizes at the C limits around 2**31 and 2**32, and zero lengths;
* accesses of 1, 2, 4 and 8 bytes on the first and last byte of a range, one
  past it and straddling either end (:func:`accesses_near`);
* many devices on one address (:func:`pile_up`: the patch's own experiment was
  200 ioeventfds on one byte);
* the fixed devices' real ports and addresses (:data:`FIXED_DEVICE_RANGES`).

All strategies are pure descriptions; shrinking goes towards small addresses
and small positive lengths because the uniform branches come after the
edge-case branches in each ``one_of`` only where that keeps shrinking useful
(Hypothesis shrinks ``one_of`` towards its first branch).
"""

from __future__ import annotations

from hypothesis import strategies as st

from iobus_verify.model.cints import INT_MAX, INT_MIN, U32_MAX, U64_MAX, c_int

Range = tuple[int, int]

#: The kernel's fixed device registrations, (bus, addr, len): PIC master, slave
#: and ELCR, PIT and dummy speaker on PIO; the IOAPIC on MMIO (kernel-facts 5.1-5.3).
FIXED_DEVICE_RANGES: tuple[tuple[str, int, int], ...] = (
    ("pio", 0x20, 2),
    ("pio", 0xA0, 2),
    ("pio", 0x4D0, 2),
    ("pio", 0x40, 4),
    ("pio", 0x61, 4),
    ("mmio", 0xFEC00000, 0x100),
)

TOP = 1 << 64

#: Addresses worth hitting on purpose: zero, the fixed devices' first and last
#: bytes and one past them, and the top of the address space.
INTERESTING_ADDRS: tuple[int, ...] = tuple(
    sorted(
        {0, 1, U64_MAX, U64_MAX - 1, U64_MAX - 3, U64_MAX - 7, 1 << 63, (1 << 63) - 1, 1 << 32, (1 << 32) - 1}
        | {a + d for _, a, n in FIXED_DEVICE_RANGES for d in (-1, 0, 1, n - 1, n)}
    )
)

#: The access sizes the guest really issues.
ACCESS_SIZES: tuple[int, ...] = (1, 2, 4, 8)

#: u32 sizes at the C limits: around 2**31 (where an ``int`` turns negative) and
#: 2**32 (where a u32 wraps).
U32_LIMIT_SIZES: tuple[int, ...] = (
    (1 << 31) - 2,
    (1 << 31) - 1,
    1 << 31,
    (1 << 31) + 1,
    U32_MAX - 1,
    U32_MAX,
)

#: The same limits as the ``int len`` the bus receives (the C conversion of
#: each u32 size above), plus INT_MIN/INT_MAX themselves.
C_LIMIT_LENGTHS: tuple[int, ...] = tuple(sorted({c_int(s) for s in U32_LIMIT_SIZES} | {INT_MIN, INT_MAX, -1}))


#: Where a signed or narrower compare parts from the u64 one: ranges that
#: straddle 2**63 (an int64 compare puts their two halves at opposite ends)
#: and 2**32 (a u32 compare wraps there).
SIGN_BOUNDARIES: tuple[int, ...] = (1 << 63, 1 << 32)


#: Ranges worth relating new ranges to besides the live ones: the fixed
#: devices', and 4 bytes straddling each sign boundary on both buses.
ANCHOR_RANGES: tuple[tuple[str, int, int], ...] = FIXED_DEVICE_RANGES + tuple(
    (bus, b - 2, 4) for b in SIGN_BOUNDARIES for bus in ("pio", "mmio")
)


def addresses() -> st.SearchStrategy[int]:
    """A u64 address: small ones, interesting ones, near the top, near a sign
    boundary (:data:`SIGN_BOUNDARIES`), or uniform."""
    return st.one_of(
        st.integers(0, 64),
        st.sampled_from(INTERESTING_ADDRS),
        st.integers(U64_MAX - 64, U64_MAX),
        st.sampled_from(SIGN_BOUNDARIES).flatmap(lambda b: st.integers(b - 16, b + 16)),
        st.integers(0, U64_MAX),
    )


def lengths(*, allow_zero: bool = True, allow_negative: bool = True) -> st.SearchStrategy[int]:
    """A C ``int`` length: access sizes, small, the C limits, or uniform."""
    parts = [
        st.sampled_from(ACCESS_SIZES),
        st.integers(1, 16),
        st.integers(1, 0x1000),
    ]
    if allow_zero:
        parts.insert(0, st.just(0))
    if allow_negative:
        parts.append(st.sampled_from(C_LIMIT_LENGTHS))
        parts.append(st.integers(INT_MIN, INT_MAX))
    else:
        parts.append(st.sampled_from([x for x in C_LIMIT_LENGTHS if x > 0]))
        parts.append(st.integers(1, INT_MAX))
    return st.one_of(parts)


def zone_sizes() -> st.SearchStrategy[int]:
    """A coalesced zone's ``__u32 size``: small, at the C limits, or uniform."""
    return st.one_of(
        st.sampled_from((0,) + ACCESS_SIZES),
        st.integers(1, 0x1000),
        st.sampled_from(U32_LIMIT_SIZES),
        st.integers(0, U32_MAX),
    )


def ranges(*, allow_zero: bool = True, allow_negative: bool = True) -> st.SearchStrategy[Range]:
    """An ``(addr, len)`` drawn independently (the uniform baseline)."""
    return st.tuples(addresses(), lengths(allow_zero=allow_zero, allow_negative=allow_negative))


@st.composite
def small_world_ranges(draw) -> Range:
    """Ranges from a tiny world: addresses 0-4 or the top 5 bytes, lengths -4..4,
    a C limit, or a negative length that makes the u64 end land exactly on
    2**64 (end 0) or just past it. Independent draws from it collide, nest,
    share starts and wrap all the time, which is what breaks comparator laws;
    cheap to draw."""
    addr = draw(st.one_of(st.integers(0, 4), st.integers(U64_MAX - 4, U64_MAX)))
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return (addr, 0)
    if kind == 1:
        return (addr, draw(st.integers(-4, 4)))
    if kind == 2 and addr <= 4:  # ends at 2**64 (u64 end 0) or a byte past it
        return (addr, -addr + draw(st.integers(0, 1)))
    return (addr, draw(st.sampled_from(C_LIMIT_LENGTHS)))


def endpoint_world(k: int = 4) -> tuple[Range, ...]:
    """Every range whose start and u64 end both lie in ``0..k-1``: ``(s, e - s)``.

    The kernel comparators read a range only through its start, its u64 end
    (``addr + len`` with ``len`` sign-extended, mod 2**64) and whether ``len``
    is 0. In this world starts and ends tie in every way, zero lengths are
    ``s == e``, and an end below its start is a negative ``int len`` whose u64
    end wraps past 2**64 (to exactly 0 when ``e == 0``). Small enough (k*k
    ranges) to pick from by a comparator's own verdicts.
    """
    return tuple((s, e - s) for s in range(k) for e in range(k))


def _clip_addr(a: int) -> int:
    return a % TOP


def _clip_len(n: int) -> int:
    return max(INT_MIN, min(INT_MAX, n))


#: The relations :func:`related_range` draws from, in shrinking order.
RELATIONS = (
    "identical",
    "nested_inside",
    "nesting",
    "equal_start",
    "adjacent",
    "overlapping",
    "zero_length",
    "wrapped",
    "at_top",
)

#: How often :func:`draw_related` picks each relation, out of ``sum`` draws.
#: Identical and equal-start pairs weigh most: two ranges that the 2011
#: comparator calls equal are what its unstable heapsort reverses (REORDERED),
#: and they are also the pairs the walk-back has to get right.
RELATION_WEIGHTS: dict[str, int] = {r: 1 for r in RELATIONS} | {"identical": 4, "equal_start": 2}

#: One draw over the weighted table; shrinks towards "identical" (index 0).
_RELATION = st.sampled_from(tuple(r for r in RELATIONS for _ in range(RELATION_WEIGHTS[r])))

_SMALL = st.integers(1, 16)
_SIZES = st.sampled_from(ACCESS_SIZES)


def draw_related(draw, base: Range) -> Range:
    """Draw a range in a chosen relation to ``base`` (see :func:`related_range`).

    One flat function of direct draws rather than nested strategies: it is
    called for most ranges the machine registers, so its cost matters.
    """
    a, n = base
    size = n if n > 0 else 1
    end = a + size  # exact end, may reach past 2**64
    rel = draw(_RELATION)
    if rel == "identical":
        return (a, n)
    if rel == "nested_inside":
        if size == 1:
            return (a, 1)
        off = draw(st.integers(0, min(size - 1, 1 << 20)))
        sub = draw(st.integers(1, max(1, min(size - off, 1 << 20))))
        return (_clip_addr(a + off), sub)
    if rel == "nesting":
        before = draw(st.integers(0, min(a, 16)))
        return (a - before, _clip_len(size + before + draw(st.integers(0, 16))))
    if rel == "equal_start":
        return (a, _clip_len(draw(st.integers(1, 2 * size + 4))) if draw(st.booleans()) else draw(lengths()))
    if rel == "adjacent":
        m = draw(_SMALL)
        return (_clip_addr(end), m) if draw(st.booleans()) else (_clip_addr(a - m), m)
    if rel == "overlapping":
        m = draw(st.integers(2, 32))
        if draw(st.booleans()):  # straddles base's end
            k = draw(st.integers(1, min(m - 1, size)))
            return (_clip_addr(end - k), m)
        return (_clip_addr(a - draw(st.integers(1, m - 1))), m)  # straddles base's start
    if rel == "zero_length":  # at base's start or one past its end
        return (a, 0) if draw(st.booleans()) else (_clip_addr(end), 0)
    if rel == "wrapped":
        # Starts at or after base's start with a negative int length, so that
        # its u64 end wraps below its start (a zone size >= 2**31 does this).
        off = draw(st.integers(0, 16))
        return (_clip_addr(a + off), draw(st.one_of(st.integers(-16, -1), st.sampled_from(C_LIMIT_LENGTHS))))
    # at_top: ends exactly at 2**64 (extra 0) or wraps past it (extra > 0)
    m = draw(st.one_of(_SIZES, st.just(size if size <= 1 << 20 else 1)))
    return (_clip_addr(TOP - m + draw(st.integers(0, 8))), m)


def related_range(base: Range) -> st.SearchStrategy[Range]:
    """A range in a chosen relation to ``base``: identical, nested inside it,
    nesting it, same start with another length, adjacent before or after,
    partly overlapping either end, zero-length at its start or end, starting
    inside it with a negative (wrapping) length, or ending at / wrapping past
    2**64."""
    return st.composite(lambda draw: draw_related(draw, base))()


@st.composite
def range_families(draw, min_size: int = 1, max_size: int = 8, *, allow_zero: bool = True) -> list[Range]:
    """A list of ranges where each one is fresh or related to an earlier one,
    so that nesting, identical starts, adjacency and overlap are common."""
    k = draw(st.integers(min_size, max_size))
    out: list[Range] = []
    for _ in range(k):
        if out and draw(st.integers(0, 3)):
            base = out[draw(st.integers(0, len(out) - 1))]
            r = draw_related(draw, base)
            if not allow_zero and r[1] == 0:
                r = (r[0], 1)
        else:
            r = draw(ranges(allow_zero=allow_zero))
        out.append(r)
    return out


_ACCESS_SIZE_DRAW = st.one_of(st.sampled_from(ACCESS_SIZES), st.sampled_from((0, 3, 16)))
_WHERE = st.integers(0, 5)


def draw_access_near(draw, r: Range) -> tuple[int, int]:
    """Draw an access near ``r`` (see :func:`accesses_near`); a flat function
    of direct draws because the machine calls it for most accesses."""
    a, n = r
    size = n if n > 0 else 1
    m = draw(_ACCESS_SIZE_DRAW)
    where = draw(_WHERE)
    if where == 0:
        at = a  # first byte
    elif where == 1:
        at = a + size - max(m, 1)  # the last bytes, ending at the end
    elif where == 2:
        at = a + size - 1  # the last byte (straddles the end when m > 1)
    elif where == 3:
        at = a + size  # one past the end
    elif where == 4:
        at = a - 1  # one before (straddles the start when m > 1)
    else:
        at = a + draw(st.integers(0, min(size, 1 << 20)))  # inside
    return (_clip_addr(at), m)


def accesses_near(r: Range) -> st.SearchStrategy[tuple[int, int]]:
    """An access ``(addr, size)`` near range ``r``: its first byte, last byte,
    one past its end, straddling either end, or inside it, with the guest's
    access sizes (1, 2, 4, 8) and occasionally an odd size."""
    return st.composite(lambda draw: draw_access_near(draw, r))()


def pile_up(max_devices: int = 200) -> st.SearchStrategy[tuple[Range, int]]:
    """``(range, count)``: many devices registered on one range (the seed
    patch's experiment registered 200 ioeventfds on one byte)."""
    return st.tuples(
        st.one_of(st.tuples(st.integers(0, 64), st.sampled_from(ACCESS_SIZES)), ranges()),
        st.integers(2, max_devices),
    )


@st.composite
def disjoint_families(draw, min_size: int = 0, max_size: int = 10, *, duplicates: bool = True) -> list[Range]:
    """Pairwise-disjoint ranges (identical copies allowed when ``duplicates``).

    Every range has a positive length and does not wrap: ``addr + len`` stays
    strictly below 2**64 (a range ending exactly at 2**64 has a u64 end of 0,
    which both kernel comparators misread). On such a family the 2011 and
    upstream comparators are strict weak orders (identical copies are the only
    equivalent elements), the condition under which the kernel's sort and
    bsearch are specified to work. Drawn in a shuffled order.
    """
    k = draw(st.integers(min_size, max_size))
    # Start anywhere, including near the top, then lay ranges out left to right.
    cursor = draw(st.one_of(st.integers(0, 64), st.integers(0, U64_MAX // 2), st.just(U64_MAX - 64 * (k + 1))))
    cursor = max(0, cursor)
    out: list[Range] = []
    for _ in range(k):
        gap = draw(st.one_of(st.integers(0, 4), st.integers(0, 1 << 40)))
        length = draw(st.one_of(st.sampled_from(ACCESS_SIZES), st.integers(1, 64), st.integers(1, INT_MAX)))
        start = cursor + gap
        if start + length >= TOP:  # would end at or past 2**64
            break
        out.append((start, length))
        cursor = start + length
        if duplicates and draw(st.integers(0, 4)) == 0:
            out.append((start, length))
    perm = draw(st.permutations(out))
    return list(perm)


def keys_for(family: list[Range]) -> st.SearchStrategy[Range]:
    """A lookup key ``(addr, len)``: near one of ``family``'s ranges, or uniform."""
    if not family:
        return ranges()

    @st.composite
    def near(draw):
        return draw_access_near(draw, family[draw(st.integers(0, len(family) - 1))])

    return st.one_of(near(), ranges())


# -- drawing inside a condition (the rungs of the ladder) --------------------------------
#
# The machine draws a range or an access as usual, then *repairs* it into the
# rung's condition: a deterministic map from any draw to one that satisfies
# the condition (so the condition holds by construction, and Hypothesis still
# shrinks the underlying draw), checked with the one definition of each atom
# in :mod:`iobus_verify.model.conditions`.


def _satisfies(cond, r: Range, live: list[Range]) -> bool:
    from iobus_verify.model.cints import INT

    a, n = r
    if not all(u(INT, a, n) for u in cond.unary):
        return False
    return all(b(INT, a, n, a2, n2) for b in cond.binary for a2, n2 in live)


def _fix_unary(cond, r: Range) -> Range:
    """``r`` with a positive length below 2**31 (``positive-len``) and an end
    below 2**64 (``no-wrap``), where the condition asks for them."""
    a, n = r
    atoms = cond.atoms
    if "positive-len" in atoms and not 0 < n < (1 << 31):
        n = 1 + (n & 0xFFF) if n & 0xFFF else (abs(n) % 0x1000) + 1  # a small size, not 0
    if "no-wrap" in atoms and a + (n & U32_MAX) >= TOP:
        a = TOP - 1 - (n & U32_MAX)  # slide it down to end just below 2**64
    return (a, n)


def fit_range(cond, r: Range, live: list[Range]) -> Range | None:
    """``r`` repaired into ``cond`` against the ranges ``live`` on its bus, or
    None when no placement near it fits (the caller then registers nothing).

    Tries, in order: ``r`` itself (unary atoms fixed); for each live range, the
    same length placed right after its end, right before its start, and, where
    only nesting is excluded, straddling its end; then one byte in the first
    gap at or after ``r``'s start. Each candidate is checked with the atoms."""
    r = _fix_unary(cond, r)
    if _satisfies(cond, r, live):
        return r
    a, n = r
    size = n & U32_MAX or 1
    cands: list[Range] = []
    for la, ln in live:
        lsize = ln & U32_MAX or 1
        if "disjoint" not in cond.atoms and lsize > 1:
            cands.append((la + lsize - 1, n if n > 1 else 2))  # straddling its end: overlap without nesting
        cands.append((la + lsize, n))  # after it
        if la >= size:
            cands.append((la - size, n))  # before it
    for c in cands:
        c = _fix_unary(cond, c)
        if _satisfies(cond, c, live):
            return c
    # one byte in the first gap at or after a (the live extents, sorted)
    ends = sorted((la, la + (ln & U32_MAX or 1)) for la, ln in live)
    at = a
    for lo, hi in ends:
        if lo <= at < hi:
            at = hi
    c = _fix_unary(cond, (at, 1))
    return c if _satisfies(cond, c, live) else None


def draw_access_inside(draw, live: list[Range]) -> Range | None:
    """An access inside one of ``live``: the guest's sizes that fit, at its
    first bytes, its last bytes, or anywhere inside (None when nothing is live)."""
    spans = [(a, n & U32_MAX) for a, n in live if n & U32_MAX]
    if not spans:
        return None
    a, size = spans[draw(st.integers(0, len(spans) - 1), label="inside which")]
    size = min(size, TOP - a)
    fits = [m for m in ACCESS_SIZES if m <= size] or [size]
    m = draw(st.sampled_from(fits), label="size inside")
    where = draw(st.integers(0, 2), label="where inside")
    if where == 0:
        return (a, m)
    if where == 1:
        return (a + size - m, m)
    return (a + draw(st.integers(0, min(size - m, 1 << 20)), label="offset inside"), m)
