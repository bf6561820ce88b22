"""The condition ladder: every rung draws scenarios inside its condition by
construction; contracts choose the rungs; a bus without an alloc hook is never
handed an allocation failure."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import seed as hseed
from hypothesis.stateful import get_state_machine_test

from iobus_verify.errors import UsageError
from iobus_verify.model import conditions as C
from iobus_verify.model.spec import resolve
from iobus_verify.properties.machine import MachineConfig, SearchStats, machine_for
from iobus_verify.properties.run import ladder


def _scenarios(spec, condition, *, examples=40, seed=0):
    """Every scenario the machine ran on ``condition``'s rung (all runs)."""
    seen = []
    base = machine_for(MachineConfig(spec, condition=condition, raising=frozenset()), SearchStats())

    class Recording(base):
        def teardown(self):
            seen.append(self.scenario())
            super().teardown()

    s = settings(max_examples=examples, stateful_step_count=20, deadline=None, database=None,
                 suppress_health_check=list(HealthCheck), phases=(Phase.generate,))
    hseed(seed)(get_state_machine_test(Recording, settings=s))()
    return seen


@pytest.mark.parametrize("rung", C.LADDER[:-1], ids=lambda r: r.name)
@pytest.mark.parametrize("bus", ["upstream", "seed-2011"])
def test_every_drawn_scenario_satisfies_its_rung(bus, rung):
    spec = resolve(bus)
    scenarios = _scenarios(spec, rung)
    assert len(scenarios) >= 20
    registered = 0
    for s in scenarios:
        broken = C.violations(s, spec.era)
        assert not (rung.atoms & set(broken)), [broken[a].text for a in rung.atoms & set(broken)]
        registered += sum(1 for o in s["ops"] if o.get("action") in ("register", "assign"))
    assert registered > 20  # the rung is not satisfied by drawing nothing


def test_the_unrestricted_rung_reaches_outside_every_strong_rung():
    spec = resolve("upstream")
    broken = set()
    for s in _scenarios(spec, C.NONE, examples=60):
        broken |= set(C.violations(s, spec.era))
    assert {"positive-len", "no-wrap", "disjoint", "no-nest", "access-inside"} <= broken


def test_the_ladder_is_a_chain_and_parse_reads_any_order():
    for stronger, weaker in zip(C.LADDER, C.LADDER[1:]):
        assert C.implies(stronger, weaker) and not C.implies(weaker, stronger)
    assert C.parse("no-wrap+positive-len").name == "positive-len+no-wrap"
    assert C.parse("none") is C.NONE
    with pytest.raises(UsageError, match="unknown condition atom 'nowrap'"):
        C.parse("positive-len+nowrap")


def test_a_contract_gives_its_rungs_the_budget():
    spec = resolve("fixed")
    plain = ladder(spec, profile="ci", seed=0)
    assert [r.condition.name for r in plain] == [r.name for r in C.LADDER] and all(r.inside for r in plain)
    bound = ladder(spec, profile="ci", seed=0, assume="positive-len+no-wrap")
    runs = {r.condition.name: sum(p.examples for p in r.plans) for r in bound}
    assert [r.inside for r in bound] == [True, True, True, True, False]
    assert runs["none"] < sum(runs.values()) * 0.12
    assert sum(runs.values()) == pytest.approx(300, abs=6)


def test_a_factory_without_an_alloc_hook_gets_no_fail_alloc(tmp_path):
    plugin = tmp_path / "noalloc.py"
    plugin.write_text(
        "from iobus_verify.model.linear_bus import LinearBus\n"
        "def make(capacity):\n    return LinearBus(capacity)\n"
    )
    spec = resolve(f"{plugin}:make")
    assert not spec.accepts_alloc
    ops = [o for s in _scenarios(spec, C.NONE, examples=40) for o in s["ops"]]
    assert ops and not [o for o in ops if o["op"] == "fail_alloc"]
    # and a bus that takes the hook does get them
    ops = [o for s in _scenarios(resolve("upstream"), C.NONE, examples=40) for o in s["ops"]]
    assert [o for o in ops if o["op"] == "fail_alloc"]
