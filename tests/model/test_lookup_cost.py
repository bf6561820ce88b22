"""The lookup-cost benchmark's measurements (small sizes; the figures are the script's)."""

import math

import pytest

from iobus_verify.model.lookup_cost import LAYOUTS, main, measure


@pytest.mark.parametrize("layout", LAYOUTS)
def test_fixed_stays_within_its_bound(layout):
    for n in (1, 3, 17, 64):
        p = measure("fixed", layout, n)
        assert p.max_steps <= math.ceil(math.log2(n + 1)) + p.k + 2


def test_the_patch_experiment_point():
    # 200 devices on one byte, an access to another byte
    lin = measure("linear", "one-byte", 200)
    seed = measure("seed-2011", "one-byte", 200)
    assert (lin.max_callbacks, lin.max_comparisons) == (200, 0)
    assert seed.max_callbacks == 0 and seed.max_comparisons <= math.ceil(math.log2(201))


def test_range_buses_walk_every_nested_range():
    # every nested range contains the access, so the walk offers all of them
    assert measure("seed-2011", "nested", 16).max_callbacks == 16
    assert measure("upstream", "nested", 16).max_callbacks == 16


def test_script_exit_status(capsys):
    assert main(["--max-devices", "8"]) == 0
    assert "fixed within" in capsys.readouterr().out
