"""Writes seed-experiment.json: the seed patch's benchmark as a scenario.

200 ioeventfds on one PIO byte (0x510, length 1, told apart by datamatch
0..199 as the collision check requires), then guest writes to another byte
(0x511), which every bus must refuse, and one write to the crowded byte that
ioeventfd e150 must take. Run: python scenarios/gen_seed_experiment.py
"""

import json
from pathlib import Path

ADDR, OTHER, COUNT = 0x510, 0x511, 200

ops = [
    {"op": "ioeventfd", "action": "assign", "id": f"e{i}", "bus": "pio", "addr": ADDR, "len": 1, "datamatch": i}
    for i in range(COUNT)
]
ops += [{"op": "write", "bus": "pio", "addr": OTHER, "len": 1, "data": "00"} for _ in range(3)]
ops.append({"op": "write", "bus": "pio", "addr": ADDR, "len": 1, "data": f"{150:02x}"})
ops.append({"op": "write", "bus": "pio", "addr": ADDR, "len": 1, "data": f"{250:02x}"})
doc = {
    "schema": "iobus-scenario/1",
    "meta": {"title": "the seed patch's experiment: 200 ioeventfds on one byte, accesses to another byte", "generator": "scenarios/gen_seed_experiment.py"},
    "ops": ops,
}
out = Path(__file__).with_name("seed-experiment.json")
out.write_text("{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in doc.items() if k != "ops")
               + ',\n "ops": [\n' + ",\n".join("  " + json.dumps(o) for o in ops) + "\n ]\n}\n")
print(f"wrote {out} ({len(ops)} ops)")
