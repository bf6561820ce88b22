"""The comparators on hand-checked cases, read from the C."""

from iobus_verify.model.cints import INT
from iobus_verify.model.comparators import byte_extent, cmp_2011, cmp_upstream, fixed_extent, fixed_point_cmp, fixed_segment_cmp

TOP = 2**64


def test_2011_orders_by_start_then_reports_a_longer_first_range_as_greater():
    assert cmp_2011(INT, 0, 4, 8, 4) == -1
    assert cmp_2011(INT, 8, 4, 0, 4) == 1
    assert cmp_2011(INT, 0, 2, 0, 1) == 1  # same start, r1 ends later
    assert cmp_2011(INT, 0, 1, 0, 2) == 0  # same start, r1 inside r2: "equal"
    assert cmp_2011(INT, 1, 1, 0, 4) == 0  # nested: equal
    assert cmp_2011(INT, 0, 4, 1, 1) == -1  # nests the other, starts lower


def test_2011_has_no_zero_length_rule():
    assert cmp_2011(INT, 5, 1, 5, 0) == 1  # key end 6 > element end 5
    assert cmp_2011(INT, 5, 0, 5, 0) == 0


def test_2011_negative_len_wraps_the_end():
    # len -1 -> end = addr + 2**64 - 1 = addr - 1 (mod 2**64): below any real end
    assert cmp_2011(INT, 0x100, 1, 0x100, -1) == 1
    assert cmp_2011(INT, 0x100, -1, 0x100, 1) == 0
    # a range ending exactly at 2**64 wraps to end 0
    assert cmp_2011(INT, TOP - 4, 2, TOP - 4, 4) == 1


def test_upstream_zero_length_element_matches_any_length_at_its_address():
    assert cmp_upstream(INT, 5, 4, 5, 0) == 0
    assert cmp_upstream(INT, 6, 4, 5, 0) == 1
    assert cmp_upstream(INT, 4, 4, 5, 0) == -1
    # the key's own length decides nothing: only r2's does
    assert cmp_upstream(INT, 5, 0, 5, 4) == 0
    assert cmp_upstream(INT, 9, 0, 5, 4) == 0  # an empty access at the end address matches
    assert cmp_upstream(INT, 10, 0, 5, 4) == 1


def test_fixed_extent_reads_len_as_u32_and_zero_as_one_byte():
    assert fixed_extent(INT, 0x1000, 0x10) == (0x1000, 0x1010)
    assert fixed_extent(INT, 0x1000, 0) == (0x1000, 0x1001)
    assert fixed_extent(INT, 0x1000, -(2**31)) == (0x1000, 0x1000 + 2**31)  # zone size 2**31
    assert fixed_extent(INT, TOP - 2, 8) == (TOP - 2, TOP)  # clipped, not wrapped


def test_byte_extent_is_literal_and_fixed_extent_adds_only_the_wildcard():
    assert byte_extent(INT, 0x1000, 0x10) == (0x1000, 0x1010)
    assert byte_extent(INT, 0x1000, 0) == (0x1000, 0x1000)  # names no byte
    assert byte_extent(INT, 0x1000, -1) == (0x1000, 0x1000 + 2**32 - 1)  # u32 0xffffffff
    assert byte_extent(INT, TOP - 2, 8) == (TOP - 2, TOP)
    assert fixed_extent(INT, TOP - 1, 0) == (TOP - 1, TOP)  # the wildcard byte of the last address
    for addr, n in [(0, 1), (7, 2**31 - 1), (TOP - 5, -(2**31)), (3, -7)]:
        assert fixed_extent(INT, addr, n) == byte_extent(INT, addr, n)


def test_fixed_point_cmp():
    assert fixed_point_cmp(INT, 9, 10, 20) == -1
    assert fixed_point_cmp(INT, 10, 10, 20) == 0
    assert fixed_point_cmp(INT, 19, 10, 20) == 0
    assert fixed_point_cmp(INT, 20, 10, 20) == 1
    assert fixed_segment_cmp(INT, 1, 5, 2, 3) == -1
    assert fixed_segment_cmp(INT, 2, 3, 1, 5) == 1
    assert fixed_segment_cmp(INT, 2, 3, 2, 9) == 0
