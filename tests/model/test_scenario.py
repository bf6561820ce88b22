"""iobus-scenario/1: schema validation with per-op/field messages, round trips, files."""

import json
from pathlib import Path

import pytest

from iobus_verify.errors import UsageError
from iobus_verify.model.scenario import (
    SCHEMA_PATH,
    Op,
    Scenario,
    dump_scenario,
    load_scenario,
    op_from_dict,
    schema,
    write_bytes,
    write_scenario,
)

ROOT = Path(__file__).resolve().parents[2]


def sc(*ops, **top):
    return {"schema": "iobus-scenario/1", "ops": list(ops), **top}


W = {"op": "write", "bus": "pio", "addr": 1, "len": 1, "data": "00"}


@pytest.mark.parametrize(
    "obj,message",
    [
        (sc({"op": "create_irqchip"}, {**W, "len": "x"}), "op 1: field 'len': expected an int in [-2147483648, 2147483647] (a C int length), got 'x'"),
        (sc({**W, "len": 1 << 31}), "op 0: field 'len': expected an int in [-2147483648, 2147483647]"),
        (sc({**W, "len": True}), "op 0: field 'len': expected an int"),
        (sc({**W, "addr": -1}), "op 0: field 'addr': expected an int in [0, 18446744073709551615]"),
        (sc({**W, "addr": 1 << 64}), "op 0: field 'addr': expected an int in [0, 18446744073709551615]"),
        (sc({**W, "bus": "isa"}), "op 0: field 'bus': expected \"pio\" or \"mmio\", got 'isa'"),
        (sc({**W, "data": "0g"}), "op 0: field 'data': expected a hex string"),
        (sc({**W, "data": "abc"}), "op 0: field 'data': expected a hex string"),
        (sc({"op": "write", "bus": "pio", "addr": 1, "len": 1}), "op 0: missing field 'data'"),
        (sc({"op": "frob"}), "op 0: field 'op': expected one of create_irqchip"),
        (sc({"op": "create_irqchip", "x": 1}), "op 0: unknown field 'x'"),
        (sc({"op": "create_pit2", "speaker": 1}), "op 0: field 'speaker': expected true or false"),
        (sc({"op": "ioeventfd", "action": "assign", "id": "e", "bus": "pio", "addr": 0, "len": 1, "datamatch": "a"}), "op 0: field 'datamatch': expected null (wildcard)"),
        (sc({"op": "ioeventfd", "action": "assign", "id": "e", "bus": "pio", "addr": 0}), "op 0: missing field 'len'"),
        (sc({"op": "ioeventfd", "action": "deassign"}), "op 0: missing field 'id'"),
        (sc({"op": "coalesced_mmio", "action": "register", "id": "z", "addr": 0, "size": 1 << 32}), "op 0: field 'size': expected an int in [0, 4294967295]"),
        (sc({"op": "coalesced_mmio", "action": "unregister"}), "op 0: an unregister needs 'addr' and 'size'"),
        (sc({"op": "probe", "action": "zap", "id": "p"}), "op 0: field 'action': expected \"register\" or \"unregister\""),
        (sc({"op": "probe", "action": "register", "id": "p", "bus": "pio", "addr": 0, "len": 1, "accepts": "most"}), "op 0: field 'accepts'"),
        (sc({"op": "probe", "action": "register", "id": "pit", "bus": "pio", "addr": 0, "len": 1}), "op 0: field 'id': 'pit' is a fixed device's id"),
        (sc({"op": "probe", "action": "register", "id": "", "bus": "pio", "addr": 0, "len": 1}), "op 0: field 'id': expected an id"),
        (sc({"op": "fail_alloc"}), "op 0: missing field 'bus'"),
        (sc(W, era="1999"), "scenario: field 'era': expected \"2011\" or \"today\""),
        (sc(W, capacity=0), "scenario: field 'capacity': expected an int in [1, 100000]"),
        (sc(W, extra=1), "scenario: unknown field 'extra'"),
        ({"schema": "iobus-scenario/3", "ops": []}, "scenario: field 'schema': expected \"iobus-scenario/2\" (or \"iobus-scenario/1\")"),
        ({"schema": "iobus-scenario/1"}, "scenario: missing field 'ops'"),
        ([], "a scenario must be a JSON object"),
    ],
)
def test_parse_errors_name_op_and_field(obj, message):
    with pytest.raises(UsageError) as ei:
        load_scenario(obj)
    assert str(ei.value).startswith(message), str(ei.value)


def test_first_faulty_op_is_reported():
    with pytest.raises(UsageError, match=r"^op 2: field 'addr'"):
        load_scenario(sc({"op": "create_irqchip"}, W, {**W, "addr": "x"}, {**W, "len": "y"}))


def test_round_trip_and_write(tmp_path):
    obj = sc(
        {"op": "create_irqchip"},
        {"op": "create_pit2", "speaker": True},
        {"op": "ioeventfd", "action": "assign", "id": "e1", "bus": "mmio", "addr": 2**64 - 1, "len": 0, "datamatch": None},
        {"op": "ioeventfd", "action": "deassign", "id": "e1"},
        {"op": "coalesced_mmio", "action": "register", "id": "z1", "addr": 0, "size": 2**32 - 1},
        {"op": "coalesced_mmio", "action": "unregister", "addr": 0, "size": 4},
        {"op": "probe", "action": "register", "id": "p1", "bus": "pio", "addr": 5, "len": -(2**31), "accepts": "none"},
        {"op": "read", "bus": "mmio", "addr": 3, "len": 8},
        {"op": "fail_alloc", "bus": "pio"},
        era="2011", capacity=7, meta={"seed": 42},
    )
    s = load_scenario(obj)
    assert s.era == "2011" and s.capacity == 7 and s.meta == {"seed": 42}
    assert s.ops[2] == Op("ioeventfd", "assign", "e1", "mmio", 2**64 - 1, 0)
    assert dump_scenario(s) == obj
    path = write_scenario(s, tmp_path / "s.json")
    assert json.loads(path.read_text()) == obj and load_scenario(str(path)) == s


def test_file_errors(tmp_path):
    with pytest.raises(UsageError, match="cannot read scenario"):
        load_scenario(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UsageError, match="is not JSON: .* line 1"):
        load_scenario(bad)


def test_schema_is_valid_and_examples_validate():
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(schema())
    jsonschema.Draft202012Validator.check_schema(schema("iobus-scenario/1"))
    assert SCHEMA_PATH.name == "iobus-scenario-2.schema.json"
    examples = sorted((ROOT / "scenarios").glob("*.json"))
    assert {p.name for p in examples} >= {"zone-contains-ioeventfd.json", "nested-probes.json", "seed-experiment.json"}
    for p in examples:
        assert isinstance(load_scenario(p), Scenario)


def test_seed_experiment_is_what_its_generator_writes(tmp_path):
    s = load_scenario(ROOT / "scenarios" / "seed-experiment.json")
    assigns = [o for o in s.ops if o.op == "ioeventfd"]
    assert len(assigns) == 200 and {(o.addr, o.len) for o in assigns} == {(0x510, 1)}
    assert sorted(o.datamatch for o in assigns) == list(range(200))
    assert any(o.op == "write" and o.addr == 0x511 for o in s.ops)


# -- a write's data against its len ---------------------------------------------------------------


@pytest.mark.parametrize(
    "op,message",
    [
        ({**W, "len": 4, "data": "0000"}, "op 1: field 'data': expected exactly 4 bytes (len 4), got 2"),
        ({**W, "len": 1, "data": "0000"}, "op 1: field 'data': expected exactly 1 byte (len 1), got 2"),
        ({**W, "len": 2, "data": ""}, "op 1: field 'data': expected exactly 2 bytes (len 2), got 0"),
        ({"op": "write", "bus": "pio", "addr": 1, "len": 4}, "op 1: missing field 'data'"),
        ({**W, "len": 0, "data": "00"}, "op 1: field 'data': expected \"\" or no data field (a write of len <= 0 carries no bytes), got '00'"),
        ({**W, "len": -1, "data": "0000"}, "op 1: field 'data': expected \"\" or no data field"),
        ({**W, "len": 5000, "data": "00" * 4096}, "op 1: field 'data': expected exactly 5000 bytes (len 5000), got 4096"),
    ],
)
def test_write_data_must_match_len(op, message):
    # the same message from a file (schema, then the loader) and from an op built in memory (the VM's path)
    with pytest.raises(UsageError) as ei:
        load_scenario(sc({"op": "create_irqchip"}, op))
    assert str(ei.value).startswith(message), str(ei.value)
    with pytest.raises(UsageError) as ei:
        op_from_dict(op, 1)
    assert str(ei.value).startswith(message), str(ei.value)


@pytest.mark.parametrize("length", [0, -1, -(2**31)])
def test_write_of_no_bytes_takes_empty_or_absent_data(length):
    s = load_scenario(sc({**W, "len": length, "data": ""}, {"op": "write", "bus": "mmio", "addr": 2, "len": length}))
    assert [o.data for o in s.ops] == ["", None]
    assert load_scenario(dump_scenario(s)) == s
    assert write_bytes(length, None) == write_bytes(length, "") == b""


def test_write_bytes_is_exact():
    assert write_bytes(3, "0aBc0d") == b"\x0a\xbc\x0d"
    with pytest.raises(UsageError, match=r"^field 'data': expected a hex string"):
        write_bytes(1, "0 ")
    with pytest.raises(UsageError, match=r"^op 7: field 'data': expected a hex string"):
        write_bytes(1, b"\x00", "op 7: ")


def test_write_data_rule_is_in_the_schema():
    import jsonschema

    v = jsonschema.Draft202012Validator(schema("iobus-scenario/1"))
    assert v.is_valid(sc({**W, "len": 0, "data": ""})) and v.is_valid(sc({"op": "write", "bus": "pio", "addr": 1, "len": -3}))
    assert not v.is_valid(sc({**W, "len": 0, "data": "00"}))
    assert not v.is_valid(sc({"op": "write", "bus": "pio", "addr": 1, "len": 1}))


# -- files that are not UTF-8 or not JSON ---------------------------------------------------------


@pytest.mark.parametrize(
    "content,message",
    [
        (b"\xff\xfe{", r"^scenario '.*bad\.json' is not UTF-8 text \(byte 0xff at offset 0\)"),
        (b'{"schema": "iobus-scenario/1", "ops": ["\xe9"]}', r"^scenario '.*bad\.json' is not UTF-8 text \(byte 0xe9 at offset 40\)"),
        (b"", r"^scenario '.*bad\.json' is not JSON: Expecting value at line 1 column 1"),
        (b"[" * 100000, r"^scenario '.*bad\.json' is not JSON this tool reads: nested too deeply"),
    ],
)
def test_non_utf8_or_non_json_file(tmp_path, content, message):
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    with pytest.raises(UsageError, match=message) as ei:
        load_scenario(bad)
    assert "\n" not in str(ei.value)


def test_utf8_byte_order_mark_is_accepted(tmp_path):
    p = tmp_path / "bom.json"
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps(sc(W)).encode())
    assert load_scenario(p).ops[0].data == "00"


def test_report_and_baseline_loaders_share_the_reader(tmp_path):
    from iobus_verify.reports.schema import SchemaError, load_json

    bad = tmp_path / "r.json"
    bad.write_bytes(b"\xff\xfe{")
    with pytest.raises(SchemaError, match=r"^report '.*r\.json' is not UTF-8 text"):
        load_json(bad, "iobus-report/1")
    with pytest.raises(SchemaError, match=r"^baseline '.*r\.json' is not UTF-8 text"):
        load_json(bad, "iobus-baseline/1")
    with pytest.raises(SchemaError, match=r"^cannot read report '.*missing\.json'"):
        load_json(tmp_path / "missing.json", "iobus-report/1")
