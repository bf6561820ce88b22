"""Other VMMs' device buses (family ``vmm``): models, their reference, the search, the conformance report.

The data's path is the KVM one with VMM stations: a VMM scenario
(``iobus-vmm-scenario/1``, :mod:`.scenario`) runs on a VMM bus model
(:mod:`.registry` names them; each model is literal to the commit its
docstring cites) and on the VMM reference (:mod:`.reference`: a linear list in
registration order over exact integers, parameterised by the VMM's documented
contract); :mod:`.compare` classifies where they part (the KVM classes plus
``ERROR_CHANGED_STATE`` and ``PANIC``); :mod:`.search` draws scenarios with
Hypothesis; :mod:`.conformance` writes ``report --family vmm``.
"""

# The panic type of every model, also for models written apart (vmm/kvmtool.py,
# vmm/qemu.py import it from here when it exists).
from iobus_verify.vmm.protocol import ModelPanic  # noqa: E402,F401
