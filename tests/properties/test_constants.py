"""The same seed gives the same search whatever the process imported before.

Hypothesis draws some values from the literal constants of the *local* modules
loaded in the process; the suite pins that pool to its own sources and the
bus's (``properties/constants.py``). Without the pin, importing one more local
module between two identical searches changed the second one (corner bus, dev
profile, seed 4: MISSED first seen at op 94, then at op 330).
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from iobus_verify.model.spec import resolve
from iobus_verify.properties.constants import bus_source, pinned_constants
from iobus_verify.properties.run import SearchPlan, survey

REPO = Path(__file__).resolve().parents[2]
CORNER = f"{REPO / 'examples' / 'python' / 'corner_bus.py'}:factory"


def _noise(tmp_path: Path, name: str) -> None:
    """Import a new local module full of constants a search could draw."""
    values = [0xFEE00000 + 7 * i for i in range(100)] + [3 * i for i in range(100)] + [2**k - 1 for k in range(1, 65)]
    (tmp_path / f"{name}.py").write_text("X = [" + ",".join(map(str, values)) + "]\nS = 'mmio pio'\n")
    sys.path.insert(0, str(tmp_path))
    try:
        __import__(name)
    finally:
        sys.path.remove(str(tmp_path))


def _survey():
    so = survey(SearchPlan(resolve(CORNER), "constants", 4, 150, 20, None))
    return so.stats.ops, dict(so.stats.first_ops), sorted(so.stats.silent)


def test_a_search_does_not_depend_on_what_the_process_imported(tmp_path):
    first = _survey()
    _noise(tmp_path, "iobus_noise_constants_a")
    assert _survey() == first
    assert first[0] > 0


def test_the_pool_is_the_package_and_the_bus_and_nothing_else(tmp_path):
    from hypothesis.internal.conjecture import providers

    src = bus_source(resolve(CORNER))
    assert src == (str((REPO / "examples" / "python" / "corner_bus.py").resolve()),)
    with pinned_constants(src):
        pool = providers._get_local_constants()
        _noise(tmp_path, "iobus_noise_constants_b")
        assert providers._get_local_constants() is pool
        assert 0xFEE00007 not in set(pool.integers)
        # a pin is per thread: another thread meanwhile sees Hypothesis's own pool
        seen = []
        t = threading.Thread(target=lambda: seen.append(providers._get_local_constants()))
        t.start()
        t.join()
        assert seen[0] is not pool
    assert providers._get_local_constants() is not pool
