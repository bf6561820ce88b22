"""Bad input through the command line: one line on stderr naming what is wrong, exit 2, no traceback.

Every command that reads a file (`replay`, `check --baseline`, `baseline update
--from-report`, `diff`) is run in a subprocess, as a user or CI runs it; exit 1
would read as "regressed" to CI.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from iobus_verify.errors import UsageError

NOT_UTF8 = b"\xff\xfe{"  # a UTF-16 byte order mark: not UTF-8
NOT_JSON = b"{not json"


def cli(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "iobus_verify", *args], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )


def assert_one_line_exit_2(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("content,what", [(NOT_UTF8, "is not UTF-8"), (NOT_JSON, "is not JSON")])
def test_replay_of_a_bad_scenario_file(tmp_path, content, what):
    (tmp_path / "bad.json").write_bytes(content)
    line = assert_one_line_exit_2(cli(tmp_path, "replay", "bad.json"), "bad.json", what)
    assert line.startswith("iobus-verify replay: error: scenario 'bad.json'")


@pytest.mark.parametrize("content,what", [(NOT_UTF8, "is not UTF-8"), (NOT_JSON, "is not JSON")])
def test_check_with_a_bad_baseline_fails_before_running(tmp_path, content, what):
    (tmp_path / "bad.json").write_bytes(content)
    proc = cli(tmp_path, "check", "--bus", "seed-2011", "--baseline", "bad.json", "--profile", "dev", "--out", "out")
    assert_one_line_exit_2(proc, "baseline 'bad.json'", what)
    assert not (tmp_path / "out").exists()  # nothing ran, nothing was written


@pytest.mark.parametrize("content,what", [(NOT_UTF8, "is not UTF-8"), (NOT_JSON, "is not JSON")])
def test_diff_of_a_bad_report(tmp_path, content, what):
    (tmp_path / "old.json").write_bytes(content)
    (tmp_path / "new.json").write_bytes(NOT_JSON if content == NOT_UTF8 else NOT_UTF8)
    assert_one_line_exit_2(cli(tmp_path, "diff", "old.json", "new.json"), "report 'old.json'", what)


@pytest.mark.parametrize("content,what", [(NOT_UTF8, "is not UTF-8"), (NOT_JSON, "is not JSON")])
def test_baseline_update_from_a_bad_report(tmp_path, content, what):
    (tmp_path / "r.json").write_bytes(content)
    proc = cli(tmp_path, "baseline", "update", "--bus", "seed-2011", "--from-report", "r.json", "--baseline", "b.json")
    assert_one_line_exit_2(proc, "report 'r.json'", what)
    assert not (tmp_path / "b.json").exists()


def test_a_json_value_that_is_not_a_document(tmp_path):
    (tmp_path / "r.json").write_text("[]")
    assert_one_line_exit_2(cli(tmp_path, "diff", "r.json", "r.json"), "r.json")
    (tmp_path / "s.json").write_text("1" * 5000)  # an int Python refuses to parse
    assert_one_line_exit_2(cli(tmp_path, "replay", "s.json"), "scenario 's.json'", "is not JSON")


def test_short_write_data_names_the_op(tmp_path):
    ops = [{"op": "create_irqchip"}, {"op": "write", "bus": "pio", "addr": 0x20, "len": 4, "data": "0000"}]
    (tmp_path / "s.json").write_text(json.dumps({"schema": "iobus-scenario/1", "ops": ops}))
    assert_one_line_exit_2(cli(tmp_path, "replay", "s.json"), "op 1: field 'data': expected exactly 4 bytes (len 4), got 2")


# -- the Python buses refuse arguments outside (gpa_t, int), as the C bridge does -----------------


@pytest.mark.parametrize("name", ["linear", "seed-2011", "upstream", "fixed"])
def test_python_bus_refuses_a_length_outside_c_int(name):
    from iobus_verify.model.devices import Probe
    from iobus_verify.model.sorted_bus import REGISTRY

    bus = REGISTRY[name].factory(REGISTRY[name].capacity)
    with pytest.raises(ValueError, match=r"register: length 2147483648 is not a C int"):
        bus.register(0, 2**31, Probe("p", 0, 1))
    with pytest.raises(ValueError, match=r"write: length -2147483649 is not a C int"):
        bus.write(0, -(2**31) - 1, b"")
    with pytest.raises(ValueError, match=r"read: addr 18446744073709551616 is not a u64"):
        bus.read(2**64, 1)
    with pytest.raises(ValueError, match=r"read: addr -1 is not a u64"):
        bus.read(-1, 1)
    with pytest.raises(ValueError, match=r"length True is not a C int"):
        bus.read(0, True)
    assert bus.register(2**64 - 1, -(2**31), Probe("q", 0, 1)) == 0  # the limits themselves are fine
    assert bus.read(2**64 - 1, 2**31 - 1)[0] in (0, -95)


def test_one_check_for_python_and_c_buses():
    from iobus_verify.model import cints
    from iobus_verify.model.cbus import bridge

    assert bridge.check_access is cints.check_access


def test_the_vm_reports_the_bus_error_as_an_error_step():
    from iobus_verify.model.spec import resolve
    from iobus_verify.model.vm import VM

    step = VM(resolve("seed-2011")).apply({"op": "read", "bus": "pio", "addr": 0, "len": 2**31})
    assert step.error and "length 2147483648 is not a C int" in step.error


def test_vm_write_has_no_padding_left():
    from iobus_verify.model.scenario import Op
    from iobus_verify.model.spec import resolve
    from iobus_verify.model.vm import VM

    with pytest.raises(UsageError, match=r"^op 0: field 'data': expected exactly 4 bytes \(len 4\), got 1$"):
        VM(resolve("linear")).apply(Op("write", bus="pio", addr=0x20, len=4, data="00"))
    with pytest.raises(UsageError, match=r"^op 0: field 'data': expected exactly 1 byte \(len 1\), got 2$"):
        VM(resolve("linear")).apply({"op": "write", "bus": "pio", "addr": 0x20, "len": 1, "data": "0000"})


@pytest.mark.parametrize("args", [("variants", "--family", "nope"), ("report", "--family", "nope", "--out", "o")])
def test_an_unknown_family_is_named(tmp_path, args):
    line = assert_one_line_exit_2(cli(tmp_path, *args), "unknown family 'nope'", "kvm")
    assert not (tmp_path / "o").exists(), line  # refused before any bus ran
