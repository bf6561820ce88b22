"""An example plugin bus: the linear scan, except in one corner.

It behaves exactly like the pre-patch linear bus but drops zero-length
accesses (the fast-MMIO bus's ``len = 0`` writes) without offering them to any
device. ``iobus-verify check --bus examples/python/corner_bus.py:factory``
should fail the gate with a MISSED finding whose scenario is a zero-length
access to a device that accepts it.
"""

from iobus_verify.model.linear_bus import LinearBus
from iobus_verify.model.protocol import EOPNOTSUPP


class CornerBus(LinearBus):
    name = "corner"

    def write(self, addr, length, data):
        if length == 0:
            return -EOPNOTSUPP
        return super().write(addr, length, data)

    def read(self, addr, length):
        if length == 0:
            return -EOPNOTSUPP, b""
        return super().read(addr, length)


def factory(capacity, *, alloc=None):
    """The linear scan, except that zero-length accesses are dropped."""
    return CornerBus(capacity) if alloc is None else CornerBus(capacity, alloc=alloc)
