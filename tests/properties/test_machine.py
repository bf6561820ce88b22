"""The differential machine: it finds seed-2011's baseline classes under the ci
profile (no scenario hard-coded), every emitted scenario replays to its class,
fixed shows none, and a raising or hanging plugin is an ERROR finding.

A missing committed baseline is a failure, not a skip (issue 18).
"""

import json
import os

import pytest

from iobus_verify.errors import UsageError
from iobus_verify.model.spec import resolve
from iobus_verify.properties import profiles
from iobus_verify.properties import strategies as S
from iobus_verify.properties.machine import expected_order
from iobus_verify.reports.baseline import default_path

from hypothesis import given, settings


def expected_classes(bus: str) -> set[str]:
    """The divergence classes the committed baseline expects for ``bus``."""
    path = default_path(bus)
    assert path.is_file(), f"no committed baseline {path}: the machine's classes cannot be checked"
    entries = json.loads(path.read_text())["findings"]
    return {e["class"] for e in entries if e["id"].startswith("differential.") and not e.get("fixed")}


@pytest.fixture(scope="module")
def vm_layer():
    # required modules: an import error fails the tests (no importorskip guard)
    import iobus_verify.model.divergence  # noqa: F401
    import iobus_verify.model.vm  # noqa: F401


@pytest.fixture(scope="module")
def seed_2011_results(vm_layer, tmp_path_factory):
    from iobus_verify.properties.run import run_properties

    out = tmp_path_factory.mktemp("props")
    return run_properties(resolve("seed-2011"), profile="ci", seed=0, out_dir=out), out


def test_ci_finds_exactly_the_seed_2011_baseline_classes(seed_2011_results):
    results, _ = seed_2011_results
    found = {r.finding.cls for r in results if r.id.startswith("differential.") and r.status == "fail"}
    assert found == expected_classes("seed-2011")
    assert not [r for r in results if r.status == "error"], [r.finding.explanation for r in results if r.status == "error"]


def test_every_emitted_scenario_replays_to_its_class(seed_2011_results):
    from iobus_verify.properties.replaying import first_divergence_class

    results, out = seed_2011_results
    files = sorted(out.glob("differential.*.json"))
    assert files, "no scenario written"
    for f in files:
        cls = f.name.split(".")[-2]
        scen = json.loads(f.read_text())
        from iobus_verify.model.scenario import schema_id_for

        assert scen["schema"] == schema_id_for(scen["ops"])  # version 2 only with a teardown op
        assert first_divergence_class(resolve("seed-2011"), scen) == cls


def test_fixed_finds_nothing_under_a_fixed_budget(vm_layer):
    from iobus_verify.properties.run import run_differential

    from iobus_verify.model import conditions as C

    out = run_differential(resolve("fixed"), profile="dev", seed=0, examples=120)
    # fixed's committed baseline holds one known finding, MISSED on rung "none"
    # (a wrapping access: outside every condition); under every condition rung
    # it must find nothing. (The search drew that corner once the machine
    # gained its teardown rules: which corners a seed reaches is luck.)
    assert out.errors == []
    assert {c: C.rung_of(d.scenario, "today").name for c, d in out.found.items()} in ({}, {"MISSED": "none"})
    assert out.ops > 1000  # the budget really ran


def _plugin(tmp_path, body):
    p = tmp_path / "badbus.py"
    p.write_text(
        "from iobus_verify.model.linear_bus import LinearBus\n"
        "class Bad(LinearBus):\n"
        f"    def write(self, addr, length, data):\n        {body}\n"
        "def factory(capacity=300, **kw):\n    return Bad(capacity, **kw)\n"
    )
    return resolve(f"{p}:factory")


@pytest.mark.parametrize("body,word", [("raise RuntimeError('boom')", "boom"), ("while True: pass", "did not return")])
def test_a_raising_or_hanging_plugin_is_an_error_finding(vm_layer, tmp_path, body, word):
    from iobus_verify.properties.run import search

    so = search(_plugin(tmp_path, body), name="t", seed=0, examples=20, steps=10, op_timeout=0.5, shrink_seconds=5)
    assert "ERROR" in so.found, so.found
    d = so.found["ERROR"]
    assert word in d.explanation and d.scenario["ops"][-1]["op"] == "write"


# -- parts that need no VM --------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(S.disjoint_families())
def test_disjoint_families_are_disjoint_and_do_not_wrap(family):
    spans = sorted({(a, a + n) for a, n in family})
    for (lo, hi), (lo2, _) in zip(spans, spans[1:]):
        assert hi <= lo2
    assert all(n > 0 and a + n < 2**64 for a, n in family)


def test_expected_order_rederives_the_2011_sort_and_today_insert():
    from iobus_verify.model.sorted_bus import REGISTRY

    class D:
        def __init__(self, i):
            self.id = i

    for name in ("seed-2011", "upstream"):
        bus = REGISTRY[name].factory(300)
        spec = resolve(name)
        before = []
        for i, (a, n) in enumerate([(0, 1), (0, 2), (1, 1), (0, 0)]):
            bus.register(a, n, D(f"p{i}"))
            now = bus.ranges()
            assert expected_order(spec, bus, before, now, now) == now
            before = now
    # a 2011 array left in registration order is not what its heapsort gives
    bus = REGISTRY["seed-2011"].factory(300)
    bus.register(0, 1, D("a"))
    first = bus.ranges()
    bus.register(0, 2, D("b"))
    now = bus.ranges()
    assert [e[1] for e in now] == [2, 1]
    wrong = list(reversed(now))
    assert expected_order(resolve("seed-2011"), bus, first, wrong, wrong) == now


def test_profiles_selected_by_env_and_validated(monkeypatch):
    monkeypatch.setenv(profiles.ENV_VAR, "thorough")
    assert profiles.selected_profile() == "thorough"
    assert profiles.selected_profile("dev") == "dev"
    monkeypatch.setenv(profiles.ENV_VAR, "nope")
    with pytest.raises(UsageError, match="unknown profile"):
        profiles.selected_profile()
    assert profiles.budget("ci").derandomize and not profiles.budget("ci").use_database


def test_the_classes_a_seed_finds_do_not_hang_on_shrinking_time(vm_layer):
    # A search once found its second class only while shrinking the first, so a
    # slow bus (or a short shrink cap) lost it. The survey finds every class of
    # the seed's budget before anything is shrunk: with shrinking cut to nothing
    # the classes are the same, only the scenarios longer.
    from iobus_verify.properties.run import search

    spec = resolve("seed-2011")
    normal = search(spec, name="cap", seed="1:full", examples=200, steps=20, shrink_seconds=10)
    cut = search(spec, name="cap", seed="1:full", examples=200, steps=20, shrink_seconds=0.001)
    assert set(normal.found) == {"MISSED", "REORDERED"}
    assert set(cut.found) == set(normal.found)
    assert normal.stats.first_ops == cut.stats.first_ops  # the survey's figures: the seed's alone
