"""A Rust bus through the C bridge: ``rust:examples/rust`` built with cargo and gated end to end.

Needs cargo (``$CARGO`` or ``cargo``). On a machine without one every test is
skipped, with the reason; under ``IOBUS_VERIFY_REQUIRE_RUST=1`` (exported by
``.ci/run`` when it has a toolchain) a missing cargo fails instead. The build
cache goes to a temporary directory: one cold build for the module.
"""

from __future__ import annotations

import json
from dataclasses import replace
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from iobus_verify.errors import UsageError
from iobus_verify.model.cbus import cargo
from iobus_verify.model.protocol import ENOENT, EOPNOTSUPP
from iobus_verify.model.spec import resolve

CRATE = Path(__file__).resolve().parents[2] / "examples" / "rust"
SPEC = f"rust:{CRATE}"
CONTRACT = "positive-len+no-wrap+disjoint+access-inside"
EEXIST, EINVAL = 17, 22

_NO_CARGO = shutil.which(os.environ.get("CARGO") or "cargo") is None
if _NO_CARGO and os.environ.get("IOBUS_VERIFY_REQUIRE_RUST") == "1":
    raise RuntimeError("IOBUS_VERIFY_REQUIRE_RUST=1 but no cargo ($CARGO or cargo) found: the Rust bus example cannot be tested")
pytestmark = pytest.mark.skipif(_NO_CARGO, reason="no cargo ($CARGO or cargo) found: the Rust bus example cannot be built")


@pytest.fixture(scope="module")
def cache(build_cache):
    return build_cache


@pytest.fixture(scope="module")
def rust_bus(cache):
    t0 = time.perf_counter()
    spec = resolve(SPEC)
    return spec, time.perf_counter() - t0


class Dev:
    """A device accepting every access it is offered; logs the guest address."""

    def __init__(self, name: str, log: list) -> None:
        self.name, self.log = name, log

    def write(self, addr, length, data):
        self.log.append(("w", self.name, addr, length, bytes(data)))
        return 0

    def read(self, addr, length):
        self.log.append(("r", self.name, addr, length))
        return 0, bytes(range(length))


def test_spec_builds_once_then_reuses(rust_bus, cache):
    spec, _ = rust_bus
    assert spec.name == "vmm_bus_example"  # the package name, not the directory's
    assert spec.era == "2011"
    assert spec.assumes == CONTRACT  # iobus_assumes, parsed like a Python factory's assumes
    assert not spec.accepts_alloc  # iobus_alloc_hook = 0: no allocation failures drawn
    assert not spec.factory.build.cached and spec.factory.build.command[:2][1] == "build"
    again = resolve(SPEC)
    assert again.factory.build.cached and again.factory.build.so_path == spec.factory.build.so_path
    deps = json.loads(spec.factory.build.so_path.with_suffix(".deps.json").read_text())
    assert {str(CRATE / "src" / n) for n in ("lib.rs", "bus.rs", "shim.rs")} <= set(deps)


def test_the_bus_behaves_as_its_vmm_contract_says(rust_bus):
    spec, _ = rust_bus
    bus = spec.make(3)
    log: list = []
    a, b, c, d = (Dev(n, log) for n in "abcd")
    assert bus.register(0x100, 0x10, a) == 0
    assert bus.register(0x10F, 4, b) == -EEXIST  # shares 0x10f: refused, KVM would accept it
    assert bus.register(0x200, 0, b) == -EINVAL  # zero length
    assert bus.register(0x200, -1, b) == -EINVAL  # a u32 size of 2^32 - 1 is no VMM size
    assert bus.register(2**64 - 4, 4, b) == 0  # ends exactly at the top: allowed
    assert bus.register(0x110, 1, c) == 0
    assert bus.register(0x300, 1, d) == -28  # capacity 3 (ENOSPC), as the ABI asks
    assert [(r[0], r[1], r[2].name) for r in bus.ranges()] == [(0x100, 0x10, "a"), (0x110, 1, "c"), (2**64 - 4, 4, "b")]
    assert bus.write(0x10C, 4, b"wxyz") == 0  # whole access inside a
    assert bus.write(0x10D, 4, b"wxyz") == -EOPNOTSUPP  # straddles a's end: no device, by contract
    assert bus.read(2**64 - 2, 2) == (0, b"\x00\x01")
    assert bus.read(0x150, 1) == (-EOPNOTSUPP, b"")
    assert log == [("w", "a", 0x10C, 4, b"wxyz"), ("r", "b", 2**64 - 2, 2)]  # the guest address, not an offset
    assert bus.unregister(a) == 0 and bus.unregister(a) == -ENOENT
    assert bus.write(0x100, 1, b"x") == -EOPNOTSUPP


def test_cargo_errors_are_one_line_usage_errors(tmp_path, cache):
    with pytest.raises(UsageError, match="no .*Cargo.toml"):
        resolve(f"rust:{tmp_path}")
    broken = tmp_path / "broken"
    (broken / "src").mkdir(parents=True)
    (broken / "Cargo.toml").write_text('[package]\nname = "broken"\nversion = "0.1.0"\nedition = "2021"\n[lib]\ncrate-type = ["cdylib"]\n')
    (broken / "src" / "lib.rs").write_text("pub fn f() -> u32 { not_defined }\n")
    with pytest.raises(UsageError, match="(?s)cargo could not build .*not_defined"):
        cargo.build_crate(cargo.parse(f"rust:{broken}"))
    (broken / "Cargo.toml").write_text('[package]\nname = "broken"\nversion = "0.1.0"\nedition = "2021"\n')
    (broken / "src" / "lib.rs").write_text("pub fn f() -> u32 { 1 }\n")
    with pytest.raises(UsageError, match='crate-type = \\["cdylib"\\]'):
        cargo.build_crate(cargo.parse(f"rust:{broken}"))


def test_check_gates_the_rust_bus_end_to_end(rust_bus, tmp_path, monkeypatch, capsys):
    """`iobus-verify check --bus rust:examples/rust --baseline examples/rust/iobus-baseline.json`:
    exit 0 under the bus's declared contract, with the overlap refusal and the
    whole-access lookup listed as findings outside it (contract differences,
    not defects), replayed from the baseline's stored scenarios. The dev budget
    is cut to a third here to keep the test short; the README gives the ci figures."""
    from iobus_verify.cli import main
    from iobus_verify.properties import profiles

    monkeypatch.setitem(profiles.BUDGETS, "dev", replace(profiles.BUDGETS["dev"], machine_examples=50, shrink_seconds=3))
    monkeypatch.setenv("CI", "true")
    rc = main(["check", "--bus", SPEC, "--profile", "dev", "--out", str(tmp_path), "--baseline", str(CRATE / "iobus-baseline.json")])
    out = capsys.readouterr().out
    assert rc == 0, out[-3000:]
    report = json.loads(next(tmp_path.glob("*/report.json")).read_text())
    assert report["contract"] == CONTRACT and report["gate"]["verdict"] == "match"
    by_id = {r["id"]: r for r in report["results"]}
    # Inside the contract the Rust bus picks what the linear reference picks.
    for cls in ("MISSED", "SPURIOUS", "DATA", "ERROR"):
        finding = by_id[f"differential.{cls}"]["finding"]
        assert finding is None or finding.get("outside_contract"), (cls, finding)
    assert by_id["property.invariant.registered_set"]["status"] == "pass"
    # Outside it: the overlap KVM accepts and the bus refuses (-EEXIST).
    outside = {(o["id"], o["class"]) for o in report["gate"]["outside"]}
    assert {("differential.REGISTRATION", "REGISTRATION"), ("differential.MISSED", "MISSED")} <= outside
    reg = by_id["differential.REGISTRATION"]["finding"]
    assert reg["outside_contract"] and "-17" in reg["explanation"]


def test_contract_differences_replay_as_findings(rust_bus, tmp_path, capsys):
    """The two contract differences, as scenarios: each diverges under
    `--assume none` and names the atom it breaks under the bus's contract."""
    from iobus_verify.cli import main

    # KVM lets an ioeventfd share the PIC's ports; the bus refuses the overlap (-EEXIST).
    overlap = {"schema": "iobus-scenario/1", "ops": [
        {"op": "create_irqchip"},
        {"op": "ioeventfd", "action": "assign", "id": "e1", "bus": "pio", "addr": 0x21, "len": 2, "datamatch": None},
    ]}
    # KVM's PIT takes a read by its first port (0x43); the bus needs the whole access inside one range.
    straddle = {"schema": "iobus-scenario/1", "ops": [
        {"op": "create_pit2", "speaker": False},
        {"op": "read", "bus": "pio", "addr": 0x43, "len": 2},
    ]}
    for name, scenario, cls, atom in (("overlap", overlap, "REGISTRATION", "disjoint"), ("straddle", straddle, "MISSED", "access-inside")):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(scenario))
        capsys.readouterr()
        assert main(["replay", str(path), "--bus", SPEC, "--assume", "none"]) == 1, name
        assert cls in capsys.readouterr().out
        assert main(["replay", str(path), "--bus", SPEC, "--assume", CONTRACT]) in (0, 1)
        assert atom in capsys.readouterr().out, name
        assert main(["replay", str(path), "--bus", "linear"]) == 0


def test_the_crates_own_unit_tests_pass(cache):
    """The bus's Rust unit tests (`cargo test`), so they run wherever these do."""
    proc = subprocess.run(
        [cargo.cargo(), "test", "--offline", "--lib", "--manifest-path", str(CRATE / "Cargo.toml"), "--target-dir", str(cache / "cargo-test")],
        capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "test result: ok. 4 passed" in proc.stdout


PANICKY = r'''
use std::os::raw::{c_int, c_void};
#[no_mangle] pub extern "C" fn iobus_create(_c: c_int, _h: *const c_void) -> *mut c_void { 8 as *mut c_void }
#[no_mangle] pub extern "C" fn iobus_destroy(_b: *mut c_void) {}
#[no_mangle] pub extern "C" fn iobus_register(_b: *mut c_void, addr: u64, len: c_int, _d: *const c_void) -> c_int {
    let end = addr + len as u64; // a VMM's plain `+`: panics under overflow checks, wraps without
    (end == 0) as c_int
}
#[no_mangle] pub extern "C" fn iobus_unregister(_b: *mut c_void, _d: *const c_void) -> c_int { 0 }
#[no_mangle] pub extern "C" fn iobus_write(_b: *mut c_void, _a: u64, _l: c_int, _v: *const c_void) -> c_int { -95 }
#[no_mangle] pub extern "C" fn iobus_read(_b: *mut c_void, _a: u64, _l: c_int, _v: *mut c_void) -> c_int { -95 }
'''


def test_a_panic_is_a_crash_of_the_bus_and_the_profile_decides(tmp_path, cache, monkeypatch):
    """A debug build's overflow panic aborts (panic = "abort") and the bridge
    reports it as the bus's crash, with the op and the panic message; the
    release build of the same code wraps instead."""
    from iobus_verify.model.cbus import BusCrashed

    crate = tmp_path / "panicky"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text(
        '[package]\nname = "panicky"\nversion = "0.1.0"\nedition = "2021"\n[lib]\ncrate-type = ["cdylib"]\n'
        '[profile.dev]\npanic = "abort"\n[profile.release]\npanic = "abort"\n'
    )
    (crate / "src" / "lib.rs").write_text(PANICKY)
    monkeypatch.setenv("IOBUS_VERIFY_CARGO_PROFILE", "dev")
    bus = resolve(f"rust:{crate}").make(8)
    assert bus.register(0x10, 4, object()) == 0
    with pytest.raises(BusCrashed) as info:
        bus.register(2**64 - 2, 4, object())
    assert info.value.signal == 6 and "register(0xfffffffffffffffe, 4)" in str(info.value)
    assert "attempt to add with overflow" in info.value.log
    monkeypatch.setenv("IOBUS_VERIFY_CARGO_PROFILE", "release")
    assert resolve(f"rust:{crate}").make(8).register(2**64 - 4, 4, object()) == 1  # wrapped to 0
