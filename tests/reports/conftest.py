"""Fake phases for the report tests: small, deterministic in the seed, instant."""

from __future__ import annotations

import random

import pytest

from iobus_verify.reports.check import Phase
from iobus_verify.reports.records import Finding, Result

PROBE_SCENARIO = {
    "schema": "iobus-scenario/1",
    "ops": [
        {"op": "probe", "action": "register", "id": "outer", "bus": "mmio", "addr": 0x1000, "len": 16, "accepts": "range"},
        {"op": "probe", "action": "register", "id": "inner", "bus": "mmio", "addr": 0x1004, "len": 4, "accepts": "range"},
        {"op": "write", "bus": "mmio", "addr": 0x1008, "len": 1, "data": "00"},
    ],
}

NESTED = ({"addr": 0x10, "len": 16}, {"addr": 0x14, "len": 4}, {"addr": 0x18, "len": 1, "role": "access"})
OVERLAP = ({"addr": 0x10, "len": 8}, {"addr": 0x14, "len": 8}, {"addr": 0x16, "len": 1, "role": "access"})
WRAPPING = ({"addr": 0xFFFF_FFFF_FFFF_FFF8, "len": 16}, {"addr": 0x4, "len": 2}, {"addr": 0x4, "len": 1, "role": "access"})


def fake_properties(findings=("MISSED",), ids=("differential.MISSED", "differential.SPURIOUS")):
    """A properties phase: one result per id; ids whose class is in findings fail."""

    def run(ctx):
        rng = random.Random(ctx.seed)  # seeded like the real one: same seed, same results
        out = []
        for i in ids:
            cls = i.rsplit(".", 1)[-1]
            if cls in findings:
                scen = dict(PROBE_SCENARIO, ops=[dict(o) for o in PROBE_SCENARIO["ops"]])
                scen["ops"][2]["addr"] = 0x1004 + rng.randrange(4)
                out.append(Result(i, "property", "fail", rng.random(), Finding(cls, f"the reference handled it, {ctx.spec.name} did not", scen), detail=f"seed {ctx.seed}"))
            else:
                out.append(Result(i, "property", "pass", rng.random(), detail=f"seed {ctx.seed}"))
        ctx.progress(len(ids), len(ids), "done")
        return out

    return Phase("properties", "property", run)


def fake_proofs(refuted=("comparator.transitive",), ce=NESTED, unknown=()):
    ids = ("comparator.irreflexive", "comparator.transitive", "lookup.walkback_first")

    def run(ctx):
        out = []
        for i in ids:
            if i in refuted:
                out.append(Result(i, "proof", "fail", 0.01, Finding("refuted", f"{i} fails on three ranges", None, tuple(dict(r) for r in ce))))
            elif i in unknown:
                out.append(Result(i, "proof", "unknown", 0.02, detail="z3 timeout 1 s"))
            else:
                out.append(Result(i, "proof", "pass", 0.01, detail="proved for N <= 8"))
        return out

    return Phase("proofs", "proof", run)


@pytest.fixture
def phases():
    return (fake_properties(), fake_proofs())


@pytest.fixture
def fake():
    """The fake phase factories and sample counterexamples (conftest is not
    importable under --import-mode=importlib, so tests get them here)."""
    import types

    return types.SimpleNamespace(
        properties=fake_properties, proofs=fake_proofs, NESTED=NESTED, OVERLAP=OVERLAP, WRAPPING=WRAPPING, SCENARIO=PROBE_SCENARIO
    )
