"""iobus-verify: verification and differential testing of the KVM I/O bus lookup.

The data's path: scenario -> VM -> bus -> devices -> trace -> finding -> report.
``iobus_verify.model`` holds the C semantics, the kernel's algorithms, the buses
and their variants; ``properties``, ``proofs`` and ``reports`` build on it.
"""

from iobus_verify.errors import UsageError

__version__ = "0.1.0"
__all__ = ["UsageError", "__version__"]
