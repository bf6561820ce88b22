"""Which era's device rules to pair a kernel tree's bus with, and why.

The suite knows two sets of device and ioctl rules, ``2011`` (Linux 3.2 to
3.4: the seed patch's fixed array of 300 ranges, every device counted,
``-ENOENT`` for an absent device) and ``today``. The code decides first:
the shape of ``struct kvm_io_bus`` (a fixed ``range[NR_IOBUS_DEVS]`` array
is the seed patch's; a flexible ``range[]`` came with the dynamic array), and
the other marks are reported so the user sees how far the tree is from each
contract (``NR_IOBUS_DEVS``, an ``ioeventfd_count``, ``sort()`` or an ordered
insert in register). The top Makefile's VERSION.PATCHLEVEL decides when the
code does not (no ``struct kvm_io_bus`` found) and is otherwise a cross-check:
a disagreement is said, and the code wins (a patch under review may carry
the new code in an old tree).
"""

from __future__ import annotations

from dataclasses import dataclass

from iobus_verify.model.kernel.extract import Extract, struct_fields

#: The first release whose bus had the dynamic array (v3.5, "resize
#: kvm_io_range array dynamically"); earlier releases with a range bus are the
#: seed patch's era.
DYNAMIC_SINCE = (3, 5)


@dataclass(frozen=True)
class EraDecision:
    era: str  # "2011" or "today"
    reason: str  # one line: the evidence, and what the Makefile said
    marks: dict  # the evidence, for reports and tests


def detect(extract: Extract, version: tuple[int, int, int] | None, release: str) -> EraDecision:
    marks: dict = {}
    bus = extract.by_name("struct kvm_io_bus")
    fields = struct_fields(bus) if bus is not None else {}
    rng = fields.get("range")
    if rng is not None:
        marks["range_array"] = "fixed" if rng else "flexible"
    marks["ioeventfd_count"] = "ioeventfd_count" in fields
    nr = extract.by_name("NR_IOBUS_DEVS")
    if nr is not None:
        marks["NR_IOBUS_DEVS"] = macro_int(nr)
    reg = extract.by_name("kvm_io_bus_register_dev")
    insert = extract.by_name("kvm_io_bus_insert_dev")
    sorts = any(p is not None and "sort" in p.calls for p in (reg, insert))
    marks["register"] = "append + sort()" if sorts else "ordered insert (no sort())"
    by_code = None
    if rng is not None:
        by_code = "2011" if rng else "today"
    by_make = None if version is None else ("2011" if version[:2] < DYNAMIC_SINCE else "today")
    evidence = ", ".join(
        [
            f"struct kvm_io_bus has a {marks['range_array']} range[] array" if "range_array" in marks else "no struct kvm_io_bus found",
            f"NR_IOBUS_DEVS {marks.get('NR_IOBUS_DEVS', '?')}",
            "ioeventfds not counted (ioeventfd_count)" if marks["ioeventfd_count"] else "every device counted",
            f"register: {marks['register']}",
        ]
    )
    make = f"Makefile says {release}"
    if by_code is not None:
        era = by_code
        if by_make is not None and by_make != by_code:
            make += f" (a {by_make}-era release; the code decides)"
    elif by_make is not None:
        era = by_make
        make += " (decides: the code shows no array shape)"
    else:
        era = "today"
        make += " (neither code nor Makefile decides: today's rules)"
    return EraDecision(era, f"era {era}: {evidence}; {make}", marks)


def macro_int(piece) -> int | None:
    """The integer a ``#define NAME <int>`` piece defines, or None."""
    from iobus_verify.model.kernel.extract import macro_value

    return macro_value(piece)
