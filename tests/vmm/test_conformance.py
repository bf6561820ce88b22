"""``report --family vmm``, ``vmm-replay`` and ``variants`` for the vmm family;
the cells checked here were derived by hand from ``vmm-buses.md``."""

from __future__ import annotations

import json
import sys
import types

import pytest

from iobus_verify.cli import main
from iobus_verify.vmm import conformance, registry
from iobus_verify.vmm.corners import CORNERS

BY_NAME = {c.name: c for c in CORNERS}


@pytest.mark.parametrize(
    "bus, corner, status, cls",
    [
        ("crosvm", "same-base-at-top", "defect", "ERROR_CHANGED_STATE"),  # 4.4: saturation misses it, insert replaces
        ("crosvm", "relocate-onto-overlap", "defect", "REGISTRATION"),  # 4.6: the BAR is silently unmapped
        ("cloud-hypervisor", "overlap-at-top", "defect", "REGISTRATION"),  # 3.3: wrapping overlaps
        ("cloud-hypervisor", "relocate-onto-overlap", "defect", "ERROR_CHANGED_STATE"),  # 3.6: update_range, no restore
        ("cloud-hypervisor@debug", "overlap-at-top", "defect", "PANIC"),  # 3.3 in the dev profile
        ("firecracker", "relocate-wrong-length", "defect", "PANIC"),  # 2.5: assert_eq! after the removal
        ("firecracker", "relocate-onto-overlap", "same", None),  # 2.5: restored
        ("firecracker", "straddling-access", "contract", "SPURIOUS"),  # 2.4: data.len() never checked
        ("firecracker-1.12", "overlap-at-top", "same", None),  # 2.7: get_device(base) catches it
        ("firecracker-1.12@debug", "range-to-top", "defect", "PANIC"),  # 2.7: base + len = 2^64 overflows
        ("rust-vmm", "straddling-access", "same", None),  # 1.5: containment
        ("rust-vmm", "remove-interior", "contract", "REGISTRATION"),  # 1.6: deregister(addr)
        ("rust-vmm", "relocate-onto-overlap", "n/a", None),  # no relocation API
        ("firecracker-1.12", "remove-wrong-length", "n/a", None),  # no removal
        ("crosvm", "remove-wrong-length", "same", None),  # 4.6: exact base and len
    ],
)
def test_cells(bus, corner, status, cls):
    c = conformance.cell(registry.get(bus), BY_NAME[corner])
    assert (c.status, c.cls) == (status, cls), c.explanation


def test_report_family_vmm_writes_the_table_and_matches_its_baseline(tmp_path, capsys):
    rc = main(["report", "--family", "vmm", "--bus", "crosvm", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "crosvm: corners" in out and "gate match" in out
    md = (tmp_path / "vmm.md").read_text()
    assert "| same-base-at-top" in md and "ERROR\\_CHANGED\\_STATE" in md
    html = (tmp_path / "vmm.html").read_text()
    assert "<h2>Conformance</h2>" in html and "crosvm" in html
    data = json.loads((tmp_path / "vmm.json").read_text())
    assert [b["name"] for b in data["buses"]] == ["crosvm"]
    assert data["buses"][0]["cells"]["same-base-at-top"]["status"] == "defect"
    fig = data["figures"]
    assert fig and all(r["kind"] in ("defect", "contract-difference") for r in fig)
    assert all(r["fate"] in ("fixed", "stands") for r in fig if r["kind"] == "defect")
    # every marked cell's scenario replays to the class the table shows
    for name, c in data["buses"][0]["cells"].items():
        if c["status"] == "defect":
            assert main(["vmm-replay", str(tmp_path / f"vmm-scenarios/crosvm/corner.{name}.json"), "--bus", "crosvm"]) == 1
            assert f"{c['class']} (against crosvm's own contract)" in capsys.readouterr().out
        if c["status"] == "contract":
            assert main(["vmm-replay", str(tmp_path / f"vmm-scenarios/crosvm/corner.{name}.json"), "--bus", "crosvm"]) == 0
            assert main(["vmm-replay", str(tmp_path / f"vmm-scenarios/crosvm/corner.{name}.json"), "--bus", "crosvm", "--strict"]) == 1
    from junitparser import JUnitXml

    suites = list(JUnitXml.fromfile(str(tmp_path / "vmm-junit.xml")))
    assert [s.name for s in suites] == ["vmm.crosvm"] and suites[0].failures == 0 and suites[0].tests > 0


def test_a_defect_the_baseline_does_not_expect_fails_the_gate(tmp_path):
    base = tmp_path / "b.json"
    base.write_text(json.dumps({"format": conformance.BASELINE_FORMAT, "buses": {"crosvm": []}}))
    conf = conformance.run_conformance(tmp_path / "o", profile="dev", names=["crosvm"], baseline=base)
    assert conf.exit_code == 1
    g = conf.outcomes[0].gate
    assert g.verdict == "regressed" and any(k.id == "corner.same-base-at-top" for k in g.new)
    assert not any(k.id.startswith("differential.contract.") for k in g.new)  # contract differences never gate
    assert 'type="ERROR_CHANGED_STATE"' in (tmp_path / "o" / "vmm-junit.xml").read_text()


def test_bad_input_is_one_line_exit_2(tmp_path, capsys):
    assert main(["report", "--family", "vmm", "--bus", "nope", "--out", str(tmp_path)]) == 2
    assert main(["report", "--family", "vmm", "--assume", "disjoint", "--out", str(tmp_path)]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema": "iobus-vmm-scenario/1", "ops": [{"op": "read", "space": "io", "addr": 0, "len": 1}]}))
    assert main(["vmm-replay", str(bad), "--bus", "crosvm"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "unknown VMM bus 'nope'" in err[0] and "--assume" in err[1] and "ops/0" in err[2]


def test_variants_lists_the_vmm_family(capsys):
    assert main(["variants", "--family", "vmm"]) == 0
    out = capsys.readouterr().out
    for name in registry.VMM_REGISTRY:
        assert f"  {name} " in out
    assert "  linear " not in out  # the KVM reference is not part of this family
    assert main(["variants", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows if r["family"] == "vmm"} == set(registry.VMM_REGISTRY)


def test_a_model_written_apart_plugs_in_by_name(monkeypatch, tmp_path):
    """The adapter slot: a module ``iobus_verify.vmm.kvmtool`` exporting a
    ``KvmtoolBus`` facade (``register(space, base, length, dev)``, ``remove``,
    ``relocate``, ``lookup``, ``ranges``, None for success) makes the kvmtool
    bus run through ``vmm/adapters.py``; here a stand-in facade over
    rust-vmm's model shows the wiring, not kvmtool."""
    from iobus_verify.vmm.rust_vmm import RustVmmBus

    class StandIn:
        def __init__(self):
            self.spaces = {"mmio": RustVmmBus("mmio", 64), "pio": RustVmmBus("pio", 16)}

        def register(self, space, base, length, dev):
            rc = self.spaces[space].register(dev, base, length)
            return None if rc == "ok" else rc

        def remove(self, space, base, length=None, dev=None):
            return None if self.spaces[space].remove(base, length) == "ok" else "false"

        def relocate(self, space, old_base, new_base, length, dev):
            return "-ENOSYS"

        def lookup(self, space, addr, width):
            return self.spaces[space].access("read", addr, width).dev

        def ranges(self, space):
            return [(b, b + n, d) for b, n, d in self.spaces[space].mappings()]

    fake = types.ModuleType("iobus_verify.vmm.kvmtool")
    fake.KvmtoolBus = StandIn
    monkeypatch.setitem(sys.modules, "iobus_verify.vmm.kvmtool", fake)
    ok, skipped = registry.available()
    assert "kvmtool" in ok and not any(m.startswith("kvmtool:") for m in skipped)
    # kvmtool's contract accepts a zero-length range; the stand-in refuses it: a divergence
    c = conformance.cell(registry.get("kvmtool"), BY_NAME["zero-length-range"])
    assert c.status == "defect" and c.cls == "REGISTRATION"
    # devices cross the adapter as objects and come back as names
    c = conformance.cell(registry.get("kvmtool"), BY_NAME["overlap-inside"])
    assert c.status == "same", c.explanation


def test_a_search_cut_short_is_incomplete_not_lost(tmp_path):
    conf = conformance.run_conformance(tmp_path, names=["crosvm"], timeout_s=0.0)
    g = conf.outcomes[0].gate
    assert conf.outcomes[0].search.cut_short and g.verdict == "incomplete" and conf.exit_code == 1
    # the baseline's stored witnesses are replayed before any draw, even with no time left:
    # nothing is lost and every stored search finding is judged (found again)
    assert not g.lost and not any(k.id.startswith("differential.") for k in g.not_run)
    assert any(r.id.startswith("differential.defect.") and r.finding is not None for r in conf.outcomes[0].results)
    assert "search.complete" in (tmp_path / "vmm-junit.xml").read_text()
    # a baseline without witnesses (an older file): what the cut search did not reach is not judged, not lost
    old = json.loads(conformance.BASELINE.read_text())
    for entries in old["buses"].values():
        for e in entries:
            e.pop("scenario", None)
    (tmp_path / "old.json").write_text(json.dumps(old))
    conf = conformance.run_conformance(tmp_path / "o", names=["crosvm"], timeout_s=0.0, baseline=tmp_path / "old.json")
    g = conf.outcomes[0].gate
    assert g.verdict == "incomplete" and not g.lost and any(k.id.startswith("differential.") for k in g.not_run)


def test_replay_reads_a_vmm_scenario_and_still_a_kvm_one(tmp_path, capsys):
    f = tmp_path / "s.json"
    f.write_text(json.dumps(BY_NAME["same-base-at-top"].scenario().to_json()))
    assert main(["replay", str(f), "--bus", "crosvm"]) == 1
    assert "ERROR_CHANGED_STATE (against crosvm's own contract)" in capsys.readouterr().out
    assert main(["replay", str(f), "--bus", "firecracker"]) == 0
    assert main(["replay", str(f), "--bus", "crosvm", "--era", "2011"]) == 2
    # an iobus-scenario/1 file still goes to the KVM replay
    from pathlib import Path

    kvm = Path(__file__).resolve().parents[2] / "scenarios" / "nested-probes.json"
    assert main(["replay", str(kvm), "--bus", "seed-2011"]) == 1
    assert "REORDERED" in capsys.readouterr().out


@pytest.mark.parametrize("name", list(registry.available()[0]))
def test_every_bus_answers_every_corner_consistently(name):
    """Each available bus on each corner: a defect cell diverges under its own
    contract, a contract cell only under REF-strict, a same cell under neither,
    an n/a cell names an op the bus's API lacks (or integers it cannot express)."""
    from iobus_verify.vmm.compare import run
    from iobus_verify.vmm.reference import STRICT

    bus = registry.get(name)
    ops = registry.make(bus, "mmio").OPS
    for c in CORNERS:
        x = conformance.cell(bus, c)
        s = c.scenario(name)
        own, strict = run(bus, s).divergence, run(bus, s, STRICT).divergence
        if x.status == "n/a":
            assert c.needs - ops or own is None and strict is None, (name, c.name)
        elif x.status == "defect":
            assert own is not None and own.cls.value == x.cls, (name, c.name)
        elif x.status == "contract":
            assert own is None and strict is not None and strict.cls.value == x.cls, (name, c.name)
        else:
            assert x.status == "same" and own is None and strict is None, (name, c.name)


def test_every_recorded_defect_has_a_fate_from_the_reference():
    """Each defect the baseline records (search and corners) is matched with what
    the VMM's later history did, from vmm-buses.md (not the generic fallback)."""
    base = json.loads(conformance.BASELINE.read_text())
    for name, entries in base["buses"].items():
        bus = registry.get(name)
        for e in entries:
            if e["id"].startswith("differential.defect."):
                op = e["id"].split(".")[2]
            else:
                op = conformance.cell(bus, BY_NAME[e["id"].removeprefix("corner.")]).op
            f = conformance.fate(bus, e["class"], op)
            assert f.text != registry.STANDS, (name, e)
    mid = registry.get("firecracker-1.13")
    assert "e12171e9" in conformance.fate(mid, "ERROR_CHANGED_STATE", "register").text
    assert "0baac698" in conformance.fate(mid, "ERROR_CHANGED_STATE", "relocate").text
