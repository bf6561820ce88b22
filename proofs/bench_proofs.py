"""Benchmark: solve time of each lookup obligation per variant and N, and how it grows.

Run: ``python -m iobus_verify.proofs.bench_proofs [--n 8 12 16 24 32 64] [--timeout 60]``.
Every lemma cache is cleared before each measurement, so each figure includes
its z3 lemmas. Rows: unconditional refutations (seed-2011, upstream: the exact
exploration, minimisation and replay), the conditional proofs under
``positive-len+no-wrap+disjoint`` (bounded N and unbounded), and ``fixed``.
Targets: refutation <= 3 s at N=16; seed-2011 conditional equivalent_to_linear
<= 20 s at N=16, <= 60 s at N=32, <= 300 s at N=64.
"""

from __future__ import annotations

import argparse
import time

from iobus_verify.model import conditions as C
from iobus_verify.proofs import lookup as L
from iobus_verify.proofs.encode import proof_variant

DISJOINT = C.POSITIVE & C.NO_WRAP & C.DISJOINT


def measure(ns: list[int], timeout_s: float) -> list[tuple[str, str, str, int, float, str]]:
    rows = []
    for name in ("seed-2011", "upstream", "fixed"):
        pv = proof_variant(name)
        for ob in L.LOOKUP:
            for n in ns:
                L.lemma.cache_clear()
                t0 = time.perf_counter()
                if pv.kind == "fixed":
                    res = L.prove_by_lemmas(pv, ob, C.NONE, n, timeout_s)
                    cond = "none"
                else:
                    res = [L.refute(pv, ob, n_max=n, timeout_s=timeout_s)]
                    cond = "none"
                rows.append((name, ob, cond, n, time.perf_counter() - t0, "/".join(r.outcome for r in res)))
                if pv.kind != "fixed":
                    L.lemma.cache_clear()
                    t0 = time.perf_counter()
                    res = L.prove_by_lemmas(pv, ob, DISJOINT, n, timeout_s)
                    rows.append((name, ob, DISJOINT.name, n, time.perf_counter() - t0, "/".join(r.outcome for r in res)))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[8, 12, 16, 24, 32, 64])
    ap.add_argument("--timeout", type=float, default=60.0)
    a = ap.parse_args(argv)
    rows = measure(a.n, a.timeout)
    print(f"{'variant':10} {'obligation':30} {'condition':32} " + " ".join(f"N={n:<6}" for n in a.n) + " outcome")
    keys = sorted({(r[0], r[1], r[2]) for r in rows}, key=lambda k: (k[0], k[2], k[1]))
    for k in keys:
        cells = {r[3]: r for r in rows if r[:3] == k}
        times = " ".join(f"{cells[n][4]:<8.2f}" for n in a.n)
        growth = cells[a.n[-1]][4] / max(cells[a.n[0]][4], 1e-3)
        print(f"{k[0]:10} {k[1]:30} {k[2]:32} {times} {cells[a.n[-1]][5]} (x{growth:.1f} from N={a.n[0]} to N={a.n[-1]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
