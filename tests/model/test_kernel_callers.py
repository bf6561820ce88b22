"""A ``kernel:`` tree pairs with the caller rules its own ``coalesced_mmio.c`` and
``eventfd.c`` have (:mod:`iobus_verify.model.kernel.callers`), not the era's.

The caller files below are this project's own text written for these tests:
the kernel's function names and the shapes of the statements that matter (the
unregister call, the destructor, ``if (r) break;``, ``ioeventfd_release``),
with bodies reduced to them. They are added to a copy of the ``linux-today``
fixture tree.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from iobus_verify.cli import main
from iobus_verify.errors import UsageError
from iobus_verify.model.spec import resolve
from iobus_verify.model.vm import VM, replay

TODAY = Path(__file__).resolve().parent / "kernel_trees" / "linux-today"

pytestmark = pytest.mark.skipif(shutil.which(os.environ.get("CC") or "cc") is None, reason="no C compiler (cc or $CC) found")


@pytest.fixture(scope="module", autouse=True)
def _cache(build_cache):
    return build_cache


# Written for these tests (not Linux code): the unregister ioctl's walk with
# the statements after the bus call as {body}.
_ZONE = """/* test fixture written for iobus-verify: the shape of the coalesced-MMIO unregister walk */
int kvm_vm_ioctl_unregister_coalesced_mmio(struct kvm *kvm,
					   struct kvm_coalesced_mmio_zone *zone)
{{
	struct kvm_coalesced_mmio_dev *dev, *tmp;
	int r;

	list_for_each_entry_safe(dev, tmp, &kvm->coalesced_zones, list) {{
		if (coalesced_mmio_in_range(dev, zone->addr, zone->size)) {{
			r = kvm_io_bus_unregister_dev(kvm, KVM_MMIO_BUS, &dev->dev);
{body}
		}}
	}}
	return 0;
}}
"""

_DESTROY = "\t\t\tkvm_iodevice_destructor(&dev->dev);"
_STOP = "\t\t\t/* the bus is gone: stop looking */\n\t\t\tif (r)\n\t\t\t\tbreak;"

# Written for these tests (not Linux code): deassign with {after} following the bus call.
_DEASSIGN = """/* test fixture written for iobus-verify: the shape of ioeventfd deassign */
static int kvm_deassign_ioeventfd_idx(struct kvm *kvm, enum kvm_bus bus_idx,
				      struct kvm_ioeventfd *args)
{{
	struct _ioeventfd *p, *tmp;
	int ret = -ENOENT;

	list_for_each_entry_safe(p, tmp, &kvm->ioeventfds, list) {{
		if (!ioeventfd_is_this_one(p, args))
			continue;
		kvm_io_bus_unregister_dev(kvm, bus_idx, &p->dev);
{after}
		ret = 0;
		break;
	}}
	return ret;
}}

static int kvm_deassign_ioeventfd(struct kvm *kvm, struct kvm_ioeventfd *args)
{{
	return kvm_deassign_ioeventfd_idx(kvm, KVM_MMIO_BUS, args);
}}
"""
_RELEASE = "\t\tioeventfd_release(p);"
_NO_RELEASE = "\t\t/* the bus's destructor releases it */"


def _tree(tmp_path: Path, name: str, walk: list[str] | None, release: bool | None) -> Path:
    tree = tmp_path / name
    shutil.copytree(TODAY, tree)
    if walk is not None:
        (tree / "virt/kvm/coalesced_mmio.c").write_text(_ZONE.format(body="\n".join(walk)))
    if release is not None:
        (tree / "virt/kvm/eventfd.c").write_text(_DEASSIGN.format(after=_RELEASE if release else _NO_RELEASE))
    return tree


@pytest.mark.parametrize(
    "walk, release, expect",
    [
        ([_DESTROY], True, "pre-5d3c"),
        ([_DESTROY, _STOP], True, "5d3c"),
        ([_STOP, _DESTROY], True, "23fa"),
        ([_STOP, _DESTROY, _STOP], True, "23fa"),  # the second check is dead (a vendor tree has it)
        ([_DESTROY, _STOP, _DESTROY], True, "xaga"),
        ([_STOP], False, "today"),
    ],
)
def test_the_tree_s_own_callers_are_picked_and_said(tmp_path, capsys, walk, release, expect):
    tree = _tree(tmp_path, f"callers-{expect}", walk, release)
    spec = resolve(f"kernel:{tree}")
    assert spec.factory.callers == expect
    assert VM(spec).callers.name == expect
    line = capsys.readouterr().err
    assert f"callers {expect}: kvm_vm_ioctl_unregister_coalesced_mmio:" in line
    assert "kvm_deassign_ioeventfd_idx: " + ("ioeventfd_release after the unregister" if release else "no ioeventfd_release") in line
    assert "kvm_io_bus_unregister_dev destroys its device (5ea5ca3c2b4b)" in line


def test_absent_caller_files_take_the_era_default_and_say_so(tmp_path, capsys):
    spec = resolve(f"kernel:{TODAY}")
    assert spec.factory.callers == "today"
    assert "callers today: the era's default (no virt/kvm/coalesced_mmio.c or virt/kvm/eventfd.c in the tree)" in capsys.readouterr().err
    # one half present: the other half from the rules that fit it
    tree = _tree(tmp_path, "half", [_DESTROY, _STOP], None)
    assert resolve(f"kernel:{tree}").factory.callers == "5d3c"
    assert "no virt/kvm/eventfd.c; the missing half taken from 5d3c" in capsys.readouterr().err


def _one_line_error(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1, err
    return err[0]


def test_callers_that_match_no_known_rules_are_one_line_exit_2(tmp_path, capsys):
    scenario = str(Path(__file__).resolve().parents[2] / "scenarios" / "nested-probes.json")
    # a walk known to no rules: destroy twice with no check
    tree = _tree(tmp_path, "twice", [_DESTROY, _DESTROY], True)
    msg = _one_line_error(capsys, ["replay", scenario, "--bus", f"kernel:{tree}"])
    assert "the walk does destroy, destroy; no known caller rules walk that way" in msg
    # a statement no walk has
    tree = _tree(tmp_path, "other", [_DESTROY, "\t\t\tkfree(dev);"], True)
    msg = _one_line_error(capsys, ["replay", scenario, "--bus", f"kernel:{tree}"])
    assert "coalesced_mmio.c:" in msg and "'kfree(dev);', which no known zone walk has" in msg
    # halves that fit no rules together: the bus's walk with a deassign that still releases
    tree = _tree(tmp_path, "mixed", [_STOP], True)
    msg = _one_line_error(capsys, ["replay", scenario, "--bus", f"kernel:{tree}"])
    assert "the tree's callers match no known caller rules" in msg
    # a caller file without the function
    tree = _tree(tmp_path, "empty", None, None)
    (tree / "virt/kvm/eventfd.c").write_text("/* test fixture: nothing here */\nint kvm_irqfd(void) { return 0; }\n")
    msg = _one_line_error(capsys, ["replay", scenario, "--bus", f"kernel:{tree}"])
    assert "eventfd.c has no kvm_deassign_ioeventfd_idx or kvm_deassign_ioeventfd() that calls kvm_io_bus_unregister_dev()" in msg


_V2 = "iobus-scenario/2"
_ZONE_OPS = [
    {"op": "coalesced_mmio", "action": "register", "id": "z1", "addr": 0x1000, "size": 0x100},
    {"op": "coalesced_mmio", "action": "unregister", "id": "z1"},
]


def _faults(bus):
    return [(i, f.cls, f.dev) for i, s in enumerate(bus.trace.steps) for f in s.faults]


def test_today_s_bus_with_the_callers_before_it_destroys_twice(tmp_path):
    """5ea5ca3c2b4b's bus (the fixture's) with 5d3c4c79384a's callers: the
    bus and the walk both destroy the zone (as hist-5ea5-half); with today's
    callers, once."""
    half = _tree(tmp_path, "half5ea5", [_DESTROY, _STOP], True)
    whole = _tree(tmp_path, "whole5ea5", [_STOP], False)
    got_half, got_whole, model = replay({"schema": _V2, "ops": _ZONE_OPS}, [resolve(f"kernel:{half}"), resolve(f"kernel:{whole}"), "hist-5ea5-half"]).buses
    assert _faults(got_half) == [(1, "DOUBLE_FREE", "z1")] == _faults(model)
    assert _faults(got_whole) == []


def test_a_bus_that_does_not_destroy_is_not_completed_by_the_vm(tmp_path, capsys):
    """Today's callers leave the destroy to the bus; a tree whose unregister
    does not destroy its device (an older bus under newer callers) leaks it,
    where the VM used to complete the destroy for any bus that said nothing."""
    tree = _tree(tmp_path, "nodestroy", [_STOP], False)
    main_c = tree / "virt/kvm/kvm_main.c"
    text = main_c.read_text()
    old = "\tkvm_iodevice_destructor(dev);\n\tkfree(old);\n\treturn 0;"
    assert old in text
    main_c.write_text(text.replace(old, "\tkfree(old);\n\treturn 0;", 1))
    ops = [{"op": "ioeventfd", "action": "assign", "id": "e1", "bus": "mmio", "addr": 0x1000, "len": 4, "datamatch": None},
           {"op": "ioeventfd", "action": "deassign", "id": "e1"}, {"op": "destroy_vm"}]
    (b,) = replay({"schema": _V2, "ops": ops}, [resolve(f"kernel:{tree}")]).buses
    assert "kvm_io_bus_unregister_dev leaves the destroy to its callers" in capsys.readouterr().err
    assert _faults(b) == [(2, "LEAK", "e1")]


def test_bench_history_measures_a_kernel_tree(tmp_path, capsys):
    """``bench_history --bus kernel:PATH --class CLASS``: the detection figure for a tree."""
    from iobus_verify.properties.bench_history import main as bench

    tree = _tree(tmp_path, "half5ea5", [_DESTROY, _STOP], True)
    assert bench(["--bus", f"kernel:{tree}", "--class", "DOUBLE_FREE", "--seeds", "1"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(f"kernel:{tree}"))
    assert row.split()[1:3] == ["DOUBLE_FREE", "1/1"]
    assert bench(["--bus", f"kernel:{tree}", "--class", "NOT_A_CLASS"]) == 2
    assert "give each --bus SPEC its --class" in capsys.readouterr().err


def test_no_array_is_compared_after_destroy_vm():
    """kvm_destroy_vm frees every bus: a tree's ranges() is then empty (the glue
    cleared the pointer before kvm_io_bus_destroy), a Python bus keeps its list;
    neither is a registered-set finding."""
    from iobus_verify.properties.replaying import first_divergence

    ops = [{"op": "create_irqchip"}, {"op": "destroy_vm"}]
    assert first_divergence(resolve(f"kernel:{TODAY}"), {"schema": _V2, "ops": ops}) is None
