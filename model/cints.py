"""C integer semantics of the I/O bus code, on Python ints and on z3 bit-vectors.

The bus code mixes three C types:

* ``gpa_t`` is ``u64``: every sum wraps at 2**64.
* ``int len`` is a signed 32-bit int. In ``addr + len`` the usual arithmetic
  conversions turn the ``int`` into ``u64`` first, so a negative length becomes
  ``2**64 - |len|`` and the sum wraps backwards.
* Callers pass ``u32``/``u64`` sizes (a coalesced-MMIO ``zone.size`` is ``__u32``)
  into that ``int`` parameter: values at or above 2**31 arrive negative.

Comparators are written once against a *domain* (:data:`INT` or a
:class:`Z3Domain`) so that the concrete model and the z3 encodings evaluate the
same definition and cannot drift apart.
"""

from __future__ import annotations

from typing import Any

U64_BITS = 64
U64_MOD = 1 << 64
U64_MAX = U64_MOD - 1
U32_MOD = 1 << 32
U32_MAX = U32_MOD - 1
INT_MIN = -(1 << 31)
INT_MAX = (1 << 31) - 1

#: One past the last byte of the 64-bit address space, as a "wide" value.
ADDRESS_SPACE_END = U64_MOD


def u64(x: int) -> int:
    """``x`` converted to ``u64`` (C: reduction modulo 2**64)."""
    return x & U64_MAX


def u32(x: int) -> int:
    """``x`` converted to ``u32`` (C: reduction modulo 2**32)."""
    return x & U32_MAX


def c_int(x: int) -> int:
    """``x`` converted to a 32-bit ``int`` as GCC does (two's complement wrap).

    Models passing a ``u32``/``u64`` value into an ``int`` parameter, e.g. a
    coalesced zone's ``__u32 size`` into ``kvm_io_bus_register_dev(..., int len)``.
    """
    x &= U32_MAX
    return x - U32_MOD if x > INT_MAX else x


def gpa_plus_len(addr: int, length: int) -> int:
    """C ``gpa_t + int``: the int is converted to u64 (sign-extended), the sum wraps."""
    return (addr + (length & U64_MAX)) & U64_MAX


def is_gpa(x: Any) -> bool:
    """True when ``x`` is a valid ``gpa_t`` value."""
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= U64_MAX


def is_c_int(x: Any) -> bool:
    """True when ``x`` fits a 32-bit signed ``int``."""
    return isinstance(x, int) and not isinstance(x, bool) and INT_MIN <= x <= INT_MAX


def check_access(op: str, addr: Any, length: Any) -> None:
    """Raise ``ValueError`` unless ``addr`` is a ``gpa_t`` (u64) and ``length`` a
    C ``int``: the arguments of a bus's ``register``/``write``/``read``.

    One definition for every bus the suite runs: the C bridge (which cannot
    marshal anything else) and the Python models (which would silently compute
    with it). ``op`` names the call in the message, e.g. ``write: length
    2147483648 is not a C int (-2**31 <= length < 2**31)``."""
    if not is_gpa(addr):
        raise ValueError(f"{op}: addr {addr!r} is not a u64 (0 <= addr < 2**64)")
    if not is_c_int(length):
        raise ValueError(f"{op}: length {length!r} is not a C int (-2**31 <= length < 2**31)")


class IntDomain:
    """Evaluates comparator definitions on Python ints.

    ``gpa`` values are ints in ``[0, 2**64)``, ``len`` values ints in
    ``[-2**31, 2**31)``. "Wide" values are exact (unbounded) integers used by the
    project's own ``fixed`` design, which reasons about ``[start, end)`` without
    wrap-around.
    """

    name = "int"

    @staticmethod
    def const(v: int) -> int:
        return v

    @staticmethod
    def ite(cond: bool, a: Any, b: Any) -> Any:
        return a if cond else b

    @staticmethod
    def ult(a: int, b: int) -> bool:  # gpa_t < gpa_t (unsigned)
        return a < b

    @staticmethod
    def ugt(a: int, b: int) -> bool:  # gpa_t > gpa_t (unsigned)
        return a > b

    @staticmethod
    def eq(a: Any, b: Any) -> bool:
        return a == b

    gpa_add_len = staticmethod(gpa_plus_len)  # C: gpa_t + int, the int sign-extended to u64, wrapping

    @staticmethod
    def len_nonzero(length: int) -> bool:  # C: `if (len)`
        return length != 0

    # -- wide (exact) arithmetic for the fixed design --------------------------
    @staticmethod
    def wide_gpa(addr: int) -> int:
        return addr

    @staticmethod
    def wide_len_u32(length: int) -> int:
        # The u32 bits the caller passed: a zone size >= 2**31 arrives as a negative int.
        return length & U32_MAX

    @staticmethod
    def wide_const(v: int) -> int:
        return v

    @staticmethod
    def wadd(a: int, b: int) -> int:
        return a + b

    @staticmethod
    def wlt(a: int, b: int) -> bool:
        return a < b

    @staticmethod
    def wle(a: int, b: int) -> bool:
        return a <= b

    @staticmethod
    def and_(a: bool, b: bool) -> bool:
        return a and b

    @staticmethod
    def or_(a: bool, b: bool) -> bool:
        return a or b

    @staticmethod
    def not_(a: bool) -> bool:
        return not a


#: The concrete domain used by every bus model.
INT = IntDomain()

#: Width of "wide" z3 values: one bit more than gpa_t, so ``start + u32`` never wraps.
WIDE_BITS = 66


class Z3Domain:
    """Evaluates the same comparator definitions on z3 bit-vector terms.

    ``gpa`` terms are ``BitVec(64)``, ``len`` terms ``BitVec(32)`` (signed
    ``int``), comparator results ``BitVec(32)`` (the C ``int`` return value,
    compared signed). Wide terms are ``BitVec(66)``, unsigned.
    """

    name = "z3"

    def __init__(self) -> None:
        import z3  # imported lazily: the concrete model does not need z3

        self.z3 = z3

    def const(self, v: int):
        return self.z3.BitVecVal(v, 32)

    def ite(self, cond, a, b):
        return self.z3.If(cond, a, b)

    def ult(self, a, b):
        return self.z3.ULT(a, b)

    def ugt(self, a, b):
        return self.z3.UGT(a, b)

    def eq(self, a, b):
        return a == b

    def gpa_add_len(self, addr, length):
        # int -> u64 is sign extension; BitVec addition wraps at 2**64 like C.
        return addr + self.z3.SignExt(32, length)

    def len_nonzero(self, length):
        return length != 0

    def wide_gpa(self, addr):
        return self.z3.ZeroExt(WIDE_BITS - 64, addr)

    def wide_len_u32(self, length):
        return self.z3.ZeroExt(WIDE_BITS - 32, length)

    def wide_const(self, v: int):
        return self.z3.BitVecVal(v, WIDE_BITS)

    def wadd(self, a, b):
        return a + b

    def wlt(self, a, b):
        return self.z3.ULT(a, b)

    def wle(self, a, b):
        return self.z3.ULE(a, b)

    def and_(self, a, b):
        return self.z3.And(a, b)

    def or_(self, a, b):
        return self.z3.Or(a, b)

    def not_(self, a):
        return self.z3.Not(a)
