"""C integer rules at the type limits, and the int/z3 domains agreeing."""

import z3
from hypothesis import given, settings, strategies as st

from iobus_verify.model import cints
from iobus_verify.model.cints import INT, Z3Domain
from iobus_verify.model.comparators import cmp_2011, cmp_upstream, fixed_extent, fixed_point_cmp

U64 = st.integers(0, cints.U64_MAX)
INT32 = st.integers(cints.INT_MIN, cints.INT_MAX)


def test_limits():
    assert cints.U64_MAX == 18446744073709551615
    assert (cints.INT_MIN, cints.INT_MAX) == (-2147483648, 2147483647)


def test_u64_wraps_at_2_64():
    assert cints.u64(0) == 0
    assert cints.u64(2**64 - 1) == 2**64 - 1
    assert cints.u64(2**64) == 0
    assert cints.u64(-1) == 2**64 - 1


def test_c_int_conversion_of_sizes():
    # a u32 zone size passed into `int len`
    assert cints.c_int(0) == 0
    assert cints.c_int(2**31 - 1) == 2**31 - 1
    assert cints.c_int(2**31) == -(2**31)
    assert cints.c_int(2**32 - 1) == -1
    assert cints.c_int(2**32) == 0
    assert cints.c_int(-(2**31)) == -(2**31)


def test_gpa_plus_int_converts_the_int_to_u64():
    assert cints.gpa_plus_len(0x1000, 4) == 0x1004
    # a negative int becomes 2**64 - |len|: the sum wraps backwards
    assert cints.gpa_plus_len(0x1000, -1) == 0xFFF
    assert cints.gpa_plus_len(0, -(2**31)) == 2**64 - 2**31
    assert cints.gpa_plus_len(2**64 - 1, 1) == 0
    assert cints.gpa_plus_len(2**64 - 1, 2**31 - 1) == 2**31 - 2
    assert cints.gpa_plus_len(2**64 - 4, 0) == 2**64 - 4


def test_type_predicates():
    assert cints.is_gpa(0) and cints.is_gpa(2**64 - 1)
    assert not cints.is_gpa(2**64) and not cints.is_gpa(-1) and not cints.is_gpa(True)
    assert cints.is_c_int(-(2**31)) and cints.is_c_int(2**31 - 1)
    assert not cints.is_c_int(2**31) and not cints.is_c_int(2**32)


def _z3_value(term) -> int:
    v = z3.simplify(term)
    return v.as_signed_long() if v.size() == 32 else v.as_long()


@settings(max_examples=150, deadline=None)
@given(U64, INT32, U64, INT32)
def test_range_comparators_agree_on_ints_and_z3(a1, l1, a2, l2):
    """One definition, two domains: the z3 term must evaluate to the int result."""
    d = Z3Domain()
    bv = (z3.BitVecVal(a1, 64), z3.BitVecVal(l1, 32), z3.BitVecVal(a2, 64), z3.BitVecVal(l2, 32))
    for cmp in (cmp_2011, cmp_upstream):
        assert cmp(INT, a1, l1, a2, l2) in (-1, 0, 1)
        assert _z3_value(cmp(d, *bv)) == cmp(INT, a1, l1, a2, l2)


@settings(max_examples=100, deadline=None)
@given(U64, INT32, U64)
def test_fixed_definitions_agree_on_ints_and_z3(addr, length, point):
    d = Z3Domain()
    lo, hi = fixed_extent(INT, addr, length)
    zlo, zhi = fixed_extent(d, z3.BitVecVal(addr, 64), z3.BitVecVal(length, 32))
    assert (_z3_value(zlo), _z3_value(zhi)) == (lo, hi)
    assert lo < hi <= 2**64  # never empty, never past the address space
    want = fixed_point_cmp(INT, point, lo, hi)
    assert _z3_value(fixed_point_cmp(d, z3.BitVecVal(point, 64), zlo, zhi)) == want
