"""``--bus kernel:PATH``: a kernel tree's own I/O bus code through the C bridge.

The trees under ``kernel_trees/`` are fixtures this project wrote (the kernel's
paths, names and signatures, the project's own bodies): ``linux-2011`` has the
seed patch's shape (fixed array of 300, append + heapsort, 2011 bsearch),
``linux-today`` today's (flexible array of 1000, ioeventfds not counted,
ordered insert, zero-length wildcard, a bus dropped when it cannot shrink).
Each must behave exactly as the model of its era (``seed-2011``,
``upstream``). A real tree is tried by the slow test at the end when
``IOBUS_KERNEL_TREE`` points at one.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from iobus_verify.cli import main
from iobus_verify.errors import UsageError
from iobus_verify.model.spec import resolve
from iobus_verify.model.vm import replay, run_scenario

HERE = Path(__file__).resolve().parent
TREES = HERE / "kernel_trees"
T2011 = TREES / "linux-2011"
TODAY = TREES / "linux-today"
SCENARIOS = HERE.parents[1] / "scenarios"

pytestmark = pytest.mark.skipif(shutil.which(os.environ.get("CC") or "cc") is None, reason="no C compiler (cc or $CC) found")


@pytest.fixture(scope="module", autouse=True)
def _cache(build_cache):
    return build_cache


def _copy(tree: Path, tmp_path: Path, name: str) -> Path:
    dst = tmp_path / name
    shutil.copytree(tree, dst)
    return dst


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"fixture changed: {old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


# -- extraction ----------------------------------------------------------------


def test_extraction_takes_the_bus_code_and_what_it_uses_and_nothing_else():
    from iobus_verify.model.kernel.extract import closure, parse_file
    from iobus_verify.model.kernel.tree import open_tree
    from iobus_verify.model.kernel.unit import ENTRIES, GLUE_TYPES, shim_provides

    for root, expect, absent in (
        (T2011, {"kvm_io_bus_insert_dev", "kvm_io_bus_get_first_dev", "kvm_io_bus_sort_cmp", "sort", "u32_swap", "generic_swap", "bsearch", "kvm_iodevice_write", "kvm_iodevice_read"}, {"kvm_vm_ioctl", "kvm_io_bus_destroy", "kvm_iodevice_destructor"}),
        (TODAY, {"kvm_io_bus_cmp", "kvm_io_bus_destroy", "__free_bus", "kvm_get_bus", "kvm_get_bus_srcu", "__inline_bsearch", "bsearch", "__kvm_io_bus_write", "kvm_iodevice_destructor"}, {"kvm_vm_ioctl_check_extension_generic", "sort"}),
    ):
        tree = open_tree("kernel:x", str(root))
        ex = closure([parse_file(tree.root / r, r) for r in tree.sources], list(ENTRIES), shim_provides(), list(GLUE_TYPES))
        names = {p.name for p in ex.pieces}
        assert expect <= names, expect - names
        assert not (absent & names), absent & names
        assert "struct kvm" not in names  # the shim's stand-in replaces the kernel's
        assert ex.unresolved == {}
        # types before functions, a function after what it calls
        kinds = [p.kind for p in ex.pieces]
        assert kinds.index("function") > max(i for i, k in enumerate(kinds) if k != "function")


def test_era_detection_reads_the_code_and_the_makefile(tmp_path):
    from iobus_verify.model.kernel import build

    kb = build(f"kernel:{T2011}")
    assert kb.era == "2011" and kb.release == "3.2.0"
    assert "fixed range[] array" in kb.reason and "NR_IOBUS_DEVS 300" in kb.reason and "append + sort()" in kb.reason
    kt = build(f"kernel:{TODAY}")
    assert kt.era == "today" and "flexible range[] array" in kt.reason and "ioeventfd_count" in kt.reason
    assert "ordered insert" in kt.reason
    # A 2011-shaped bus in a tree whose Makefile says 6.1: the code decides, and the run says so.
    odd = _copy(T2011, tmp_path, "odd")
    _edit(odd / "Makefile", "VERSION = 3\nPATCHLEVEL = 2", "VERSION = 6\nPATCHLEVEL = 1")
    ko = build(f"kernel:{odd}")
    assert ko.era == "2011" and "Makefile says 6.1.0 (a today-era release; the code decides)" in ko.reason
    # @today forces the device rules and says what detection found.
    kf = build(f"kernel:{T2011}@today")
    assert kf.era == "today" and kf.reason.startswith("era today (forced by @today; detection said era 2011")
    assert resolve(f"kernel:{T2011}@today").era == "today"


# -- behaviour: the fixture trees are their era's model ---------------------------


@pytest.mark.parametrize("tree, model", [(T2011, "seed-2011"), (TODAY, "upstream")])
def test_replay_through_kernel_matches_the_model(tree, model):
    spec = resolve(f"kernel:{tree}")
    assert spec.kind == "plugin" and spec.name == f"kernel-{tree.name}"
    for path in sorted(SCENARIOS.glob("*.json")):
        r = replay(path, [spec, model])
        got, want = r.buses
        assert got.classes == want.classes, path.name
        assert [s.summary() for s in got.trace.steps] == [s.summary() for s in want.trace.steps], path.name
    # the example scenario's documented outcome holds on the tree too
    r = replay(SCENARIOS / "zone-contains-ioeventfd.json", [spec])
    cls = [(i, c.name) for i, c in r.buses[0].divergences()]
    assert cls == ([(5, "MISSED"), (6, "MISSED")] if model == "seed-2011" else [(3, "REORDERED")])


def test_fail_alloc_drives_the_trees_enomem_path_and_destructors_reach_the_devices():
    ops = [
        {"op": "coalesced_mmio", "action": "register", "id": "z1", "addr": 0x1000, "size": 16},
        {"op": "coalesced_mmio", "action": "register", "id": "z2", "addr": 0x2000, "size": 16},
        {"op": "fail_alloc", "bus": "mmio"},
        {"op": "coalesced_mmio", "action": "unregister", "id": "z1"},
        {"op": "write", "bus": "mmio", "addr": 0x2000, "len": 1, "data": "01"},
        {"op": "probe", "action": "register", "id": "c", "bus": "mmio", "addr": 0x3000, "len": 4},
    ]
    sc = {"schema": "iobus-scenario/1", "ops": ops}
    t = run_scenario(sc, f"kernel:{TODAY}")
    u = run_scenario(sc, "upstream")
    # The shrink fails: today's tree drops the bus and destroys every device on
    # it (kvm_io_bus_destroy -> kvm_iodevice_destructor -> the zones), later
    # calls on that bus are -ENOMEM.
    assert [s.rc for s in t.steps] == [0, 0, 0, 0, -12, -12] == [s.rc for s in u.steps]
    destroyed = [e.detail for _, e in t.steps[3].log if e.what == "destroyed"]
    assert destroyed == ["z1", "z2"]
    assert t.steps[3].log == u.steps[3].log  # the same calls, in the same order
    # 2011: the allocation comes before the search, so even an absent device is -ENOMEM.
    sc11 = {"schema": "iobus-scenario/1", "ops": [
        {"op": "probe", "action": "register", "id": "a", "bus": "mmio", "addr": 0x1000, "len": 4},
        {"op": "fail_alloc", "bus": "mmio"},
        {"op": "probe", "action": "unregister", "id": "a"},
        {"op": "probe", "action": "unregister", "id": "a"},
    ]}
    assert [s.rc for s in run_scenario(sc11, f"kernel:{T2011}").steps] == [0, 0, -12, 0]


def test_capacity_is_the_trees_and_a_smaller_one_is_honoured():
    spec = resolve(f"kernel:{T2011}")
    assert spec.capacity == 300
    ops = [{"op": "probe", "action": "register", "id": f"p{i}", "bus": "pio", "addr": 0x100 + 8 * i, "len": 4} for i in range(4)]
    t = run_scenario({"schema": "iobus-scenario/1", "capacity": 3, "ops": ops}, spec)
    assert [s.rc for s in t.steps] == [0, 0, 0, -28]
    assert resolve(f"kernel:{TODAY}").capacity == 1000


# -- fidelity -------------------------------------------------------------------


def test_fidelity_agrees_with_the_eras_model_and_catches_the_other(tmp_path):
    from iobus_verify.model.fidelity import run_fidelity

    r = run_fidelity(f"kernel:{T2011}", "seed-2011", 40, 3, tmp_path / "a")
    assert (r.agreed, r.n, r.disagreements) == (40, 40, ())
    r = run_fidelity(f"kernel:{TODAY}", "upstream", 40, 3, tmp_path / "b")
    assert (r.agreed, r.n) == (40, 40)
    # The 2011 tree against today's model must disagree, and each written scenario
    # must show a difference again when replayed.
    r = run_fidelity(f"kernel:{T2011}", "upstream", 40, 3, tmp_path / "c", keep=2)
    assert r.agreed < r.n
    written = [d.path for d in r.disagreements if d.path]
    assert len(written) == 2
    from iobus_verify.model.fidelity import compare
    from iobus_verify.model.scenario import load_scenario

    for p in written:
        assert compare(load_scenario(p), resolve(f"kernel:{T2011}"), resolve("upstream"), "2011", 5.0) is not None


def test_fidelity_command_exit_codes(tmp_path, capsys):
    assert main(["fidelity", "--bus", f"kernel:{TODAY}", "--model", "upstream", "--n", "15", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "15/15 scenarios agree" in out
    assert main(["fidelity", "--bus", f"kernel:{TODAY}", "--model", "seed-2011", "--n", "15", "--out", str(tmp_path)]) == 1
    assert main(["fidelity", "--bus", f"kernel:{TODAY}", "--model", "upstream", "--n", "0"]) == 2


# -- bad input: one line, exit 2 ---------------------------------------------------


def _one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_not_a_kernel_tree_names_the_missing_file(tmp_path, capsys):
    msg = _one_line_error(capsys, ["replay", str(SCENARIOS / "nested-probes.json"), "--bus", f"kernel:{tmp_path}"])
    assert "is not a kernel tree: no virt/kvm/kvm_main.c" in msg
    part = _copy(TODAY, tmp_path, "part")
    (part / "include" / "kvm" / "iodev.h").unlink()
    msg = _one_line_error(capsys, ["replay", str(SCENARIOS / "nested-probes.json"), "--bus", f"kernel:{part}"])
    assert msg.endswith("is not a kernel tree: no include/kvm/iodev.h or virt/kvm/iodev.h; give the root of a Linux source tree")
    # lib/sort.c is needed only by a bus that calls sort(): today's tree builds without it ...
    (part / "lib" / "sort.c").unlink()
    shutil.copy(TODAY / "include" / "kvm" / "iodev.h", part / "include" / "kvm" / "iodev.h")
    assert resolve(f"kernel:{part}").era == "today"
    assert "era today" in capsys.readouterr().err  # the run says which era it picked
    # ... the 2011 tree does not.
    old = _copy(T2011, tmp_path, "old")
    (old / "lib" / "sort.c").unlink()
    msg = _one_line_error(capsys, ["replay", str(SCENARIOS / "nested-probes.json"), "--bus", f"kernel:{old}"])
    assert msg.endswith("is not a kernel tree: no lib/sort.c (the bus code calls sort()); give the root of a Linux source tree")


def test_code_that_does_not_compile_names_the_error_and_the_function(tmp_path, capsys):
    bad = _copy(TODAY, tmp_path, "bad")
    _edit(bad / "virt/kvm/kvm_main.c", "old->dev_count - old->ioeventfd_count", "old->dev_count - old->eventfd_total")
    msg = _one_line_error(capsys, ["replay", str(SCENARIOS / "nested-probes.json"), "--bus", f"kernel:{bad}"])
    assert "does not compile against the shim: virt/kvm/kvm_main.c:" in msg
    assert "eventfd_total" in msg and msg.endswith("(in function kvm_io_bus_register_dev)")


def test_a_kernel_api_the_shim_lacks_is_named(tmp_path, capsys):
    bad = _copy(TODAY, tmp_path, "api")
    _edit(bad / "virt/kvm/kvm_main.c", "\tlockdep_assert_held(&kvm->slots_lock);\n\told = kvm_get_bus(kvm, bus_idx);\n\tif (!old)\n\t\treturn 0;",
          "\tlockdep_assert_held(&kvm->slots_lock);\n\tkvm_arch_flush_bus(kvm, bus_idx);\n\told = kvm_get_bus(kvm, bus_idx);\n\tif (!old)\n\t\treturn 0;")
    msg = _one_line_error(capsys, ["replay", str(SCENARIOS / "nested-probes.json"), "--bus", f"kernel:{bad}"])
    assert "kernel API kvm_arch_flush_bus is not in the shim" in msg and "kvm_io_bus_unregister_dev" in msg
    # An API reached only through a macro escapes the syntax check: the compiler's
    # implicit-declaration error is mapped to the same message.
    mac = _copy(TODAY, tmp_path, "mac")
    _edit(mac / "include/linux/kvm_host.h", "#define NR_IOBUS_DEVS 1000", "#define NR_IOBUS_DEVS (kvm_max_devs())")
    msg = _one_line_error(capsys, ["replay", str(SCENARIOS / "nested-probes.json"), "--bus", f"kernel:{mac}"])
    assert "kernel API kvm_max_devs is not in the shim" in msg


def test_no_compiler_and_bad_era(tmp_path, capsys, monkeypatch):
    msg = _one_line_error(capsys, ["replay", str(SCENARIOS / "nested-probes.json"), "--bus", f"kernel:{TODAY}@1999"])
    assert "unknown era @1999" in msg
    fresh = _copy(TODAY, tmp_path, "fresh")  # not built in this process yet
    monkeypatch.setenv("CC", "/nonexistent/cc")
    msg = _one_line_error(capsys, ["replay", str(SCENARIOS / "nested-probes.json"), "--bus", f"kernel:{fresh}"])
    assert "no C compiler" in msg


# -- slow: the full gate, and a real tree ------------------------------------------

SLOW = os.environ.get("IOBUS_KERNEL_SLOW") == "1"


@pytest.mark.slow
@pytest.mark.skipif(not SLOW, reason="check --profile dev through kernel: (about a minute): IOBUS_KERNEL_SLOW=1")
def test_check_through_kernel_finds_the_models_findings(tmp_path, capsys):
    code = main(["check", "--bus", f"kernel:{T2011}", "--profile", "dev", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1 and "differential.MISSED" in out and "verdict: REGRESSED" in out


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("IOBUS_KERNEL_TREE"), reason="set IOBUS_KERNEL_TREE to a Linux source tree to run it")
def test_a_real_tree_builds_replays_and_agrees_with_its_model():
    tree = os.environ["IOBUS_KERNEL_TREE"]
    from iobus_verify.model.fidelity import run_fidelity
    from iobus_verify.model.kernel import build

    kb = build(f"kernel:{tree}")
    model = "seed-2011" if kb.era == "2011" else "upstream"
    spec = resolve(f"kernel:{tree}")
    for path in sorted(SCENARIOS.glob("*.json")):
        r = replay(path, [spec])
        assert all(s.error is None for s in r.buses[0].trace.steps), path.name
    r = run_fidelity(f"kernel:{tree}", model, 200, 0, None)
    assert r.agreed == r.n, r.disagreements[:3]


# -- lifetimes: the ledger sees the tree's own destroys and SRCU steps -------------------

_V2 = "iobus-scenario/2"


def _efd(i, addr):
    return {"op": "ioeventfd", "action": "assign", "id": i, "bus": "mmio", "addr": addr, "len": 4, "datamatch": None}


def _deassign(i):
    return {"op": "ioeventfd", "action": "deassign", "id": i}


_FAIL = {"op": "fail_alloc", "bus": "mmio"}
_HOLD = {"op": "hold_bus", "bus": "mmio"}
_RELEASE = {"op": "release_bus", "bus": "mmio"}
_DESTROY = {"op": "destroy_vm"}

#: kernel-history.md's sequences on today's code: a shrink that fails, a reader
#: holding the old bus across it, and the VM's teardown.
_LIFETIME_SEQUENCES = {
    "failed-shrink": [_efd("e1", 0x1000), _efd("e2", 0x2000), _FAIL, _deassign("e1"), _DESTROY],
    "held-across-shrink": [_efd("e1", 0x1000), _efd("e2", 0x2000), _HOLD, _deassign("e1"), _RELEASE, _DESTROY],
    "held-across-failed-shrink": [_efd("e1", 0x1000), _efd("e2", 0x2000), _HOLD, _FAIL, _deassign("e2"), _RELEASE, _DESTROY],
    "teardown-with-devices": [_efd("e1", 0x1000), _efd("e2", 0x2000), _DESTROY],
}


def _lifetime(bus):
    """(op, event, device, whether the bus or the VM did it) and the faults, op by op."""
    events = [(i, e.what, e.dev, e.by.split(":")[0]) for i, s in enumerate(bus.trace.steps) for e in s.ledger if e.what in ("publish", "sync", "destroyed")]
    faults = [(i, f.cls, f.dev, f.site) for i, s in enumerate(bus.trace.steps) for f in s.faults]
    return events, faults


@pytest.mark.parametrize("name", sorted(_LIFETIME_SEQUENCES))
def test_the_ledger_sees_the_tree_s_own_destroys_publishes_and_grace_periods(name):
    got, want = replay({"schema": _V2, "ops": _LIFETIME_SEQUENCES[name]}, [resolve(f"kernel:{TODAY}"), "upstream"]).buses
    assert got.classes == want.classes
    assert _lifetime(got) == _lifetime(want)
    events, _ = _lifetime(got)
    assert any(what == "publish" for _, what, _, _ in events) and any(what == "sync" for _, what, _, _ in events)
    # destroy_vm ran the tree's kvm_io_bus_destroy: every device still on the bus destroyed by the bus
    last = len(_LIFETIME_SEQUENCES[name]) - 1
    assert not [f for f in _lifetime(got)[1] if f[1] == "LEAK"]
    assert all(by == "bus" for i, what, _, by in events if i == last and what == "destroyed")


def test_a_tree_that_destroys_before_publishing_is_a_use_after_free(tmp_path):
    """A planted ordering bug in a copy of the today tree (the target's destructor
    moved before the new bus is published, as f65886606c2d did for the others)."""
    tree = _copy(TODAY, tmp_path, "early")
    main_c = tree / "virt/kvm/kvm_main.c"
    _edit(main_c, "\trcu_assign_pointer(kvm->buses[bus_idx], bus);\n\tsynchronize_srcu_expedited(&kvm->srcu);\n\tif (!bus) {", "\tif (bus)\n\t\tkvm_iodevice_destructor(dev);\n\trcu_assign_pointer(kvm->buses[bus_idx], bus);\n\tsynchronize_srcu_expedited(&kvm->srcu);\n\tif (!bus) {")
    _edit(main_c, "\tkvm_iodevice_destructor(dev);\n\tkfree(old);\n\treturn 0;", "\tkfree(old);\n\treturn 0;")
    (b,) = replay({"schema": _V2, "ops": [_efd("e1", 0x1000), _deassign("e1")]}, [resolve(f"kernel:{tree}")]).buses
    assert _lifetime(b)[1] == [(1, "USE_AFTER_FREE", "e1", "destroy-while-published")]
    assert b.classes[1].value == "USE_AFTER_FREE"


def test_a_tree_that_frees_the_dropped_bus_without_destructors_leaks(tmp_path):
    """90db10434b16's shape in a copy of the today tree: the failed shrink frees
    the old array and destroys nothing. Today's eventfd.c keeps a device on
    kvm->ioeventfds until its destructor runs, so both leak at destroy_vm."""
    tree = _copy(TODAY, tmp_path, "leaky")
    _edit(tree / "virt/kvm/kvm_main.c", "\t\tkvm_io_bus_destroy(old);\n\t\treturn -ENOMEM;", "\t\tkfree(old);\n\t\treturn -ENOMEM;")
    (b,) = replay({"schema": _V2, "ops": _LIFETIME_SEQUENCES["failed-shrink"]}, [resolve(f"kernel:{tree}")]).buses
    assert [(f[1], f[2], f[3]) for f in _lifetime(b)[1]] == [("LEAK", "e1", "destroy_vm"), ("LEAK", "e2", "destroy_vm")]
