"""iobus-scenario/1: schema validation with per-op/field messages, round trips, files."""

import json
from pathlib import Path

import pytest

from iobus_verify.errors import UsageError
from iobus_verify.model.scenario import SCHEMA_PATH, Op, Scenario, dump_scenario, load_scenario, schema, write_scenario

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
        ({"schema": "iobus-scenario/2", "ops": []}, "scenario: field 'schema': expected \"iobus-scenario/1\""),
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
    assert SCHEMA_PATH.name == "iobus-scenario-1.schema.json"
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
