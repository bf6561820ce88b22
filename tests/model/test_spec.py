"""Resolving bus specs, and the one-line errors for bad ones."""

import pytest

from iobus_verify.errors import UsageError
from iobus_verify.model.spec import resolve


def test_named_buses():
    for name in ("linear", "seed-2011", "upstream", "fixed"):
        spec = resolve(name)
        assert spec.name == name and spec.kind in ("reference", "variant")
        bus = spec.make()
        assert bus.write(0, 1, b"\0") == -95


def test_file_plugin(tmp_path):
    f = tmp_path / "mybus.py"
    f.write_text(
        "from iobus_verify.model.linear_bus import LinearBus\n"
        "def make(capacity):\n"
        "    '''My bus.'''\n"
        "    return LinearBus(capacity)\n"
    )
    spec = resolve(f"{f}:make")
    assert spec.kind == "plugin" and spec.capacity == 300 and spec.summary == "My bus."
    assert not spec.accepts_alloc
    assert spec.make(5).capacity == 5


def test_module_plugin():
    spec = resolve("iobus_verify.model.linear_bus:linear_factory")
    assert spec.accepts_alloc and spec.make().capacity == 300


@pytest.mark.parametrize(
    "text, message",
    [
        ("nosuch", "unknown bus 'nosuch'"),
        ("", "empty bus spec"),
        ("/nonexistent/x.py:f", "no file /nonexistent/x.py"),
        ("no_such_module_xyz:f", "no module 'no_such_module_xyz'"),
        ("iobus_verify.model.linear_bus:nothing", "has no attribute 'nothing'"),
        ("iobus_verify.model.linear_bus:NR_IOBUS_DEVS_2011", "not a callable factory"),
    ],
)
def test_bad_specs_say_what_to_fix(text, message):
    with pytest.raises(UsageError, match=message) as info:
        resolve(text)
    assert "\n" not in str(info.value)


def test_plugin_that_raises_on_import(tmp_path):
    f = tmp_path / "broken.py"
    f.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(UsageError, match="importing .*broken.py raised RuntimeError: boom"):
        resolve(f"{f}:make")


def test_factory_that_raises_or_returns_a_non_bus(tmp_path):
    f = tmp_path / "bad.py"
    f.write_text("def boom(capacity):\n    raise ValueError('no')\ndef notbus(capacity):\n    return 42\n")
    with pytest.raises(UsageError, match=r"factory\(300\) raised ValueError: no"):
        resolve(f"{f}:boom").make()
    with pytest.raises(UsageError, match="lacks register, unregister, write, read"):
        resolve(f"{f}:notbus").make()
