"""Benchmark of campaigns on Dask: speed-up, time to a class, scheduler overhead, and a paper estimate.

    python -m iobus_verify.properties.bench_campaign [--bus upstream] [--seeds 0:2]
        [--profile ci] [--repeat 2] [--redis redis://HOST:PORT/N]

Prints, for ``--bus`` (needs the ``campaign`` extra; starts a ``redis-server``
on 127.0.0.1 itself when ``--redis`` is not given):

1. **fixed budget, 1 vs 2 workers**: the same tasks (every rung of ``--seeds``,
   no example database, nothing minimised, so both runs do the same work) on a
   LocalCluster of 1 and of 2 workers; wall time from the first submission
   to the last result (cluster start-up excluded), speed-up, each run shown;
2. **time to the first REORDERED**: seconds from the campaign's start until
   a survey reports REORDERED, one seed's five tasks, on a fresh Redis with
   1 worker, with 2 workers, and with 2 workers on the next seed with the
   Redis the previous run filled (what it saved is replayed first);
3. **scheduler overhead per task**: 400 empty tasks through the campaign's
   own submit/as_completed loop on 1 worker (round trip per task), and, for
   the runs of 1., the share of worker time not spent in tasks;
4. **an estimate of the efficiency at 64 workers on 4 machines**, computed
   from those figures (the formula is printed with its inputs).

Figures on a shared machine are noisy: repeat (``--repeat``) and say so.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from typing import Iterator

from iobus_verify.properties import campaign as C
from iobus_verify.properties.database import DatabaseSpec, parse_database


@contextlib.contextmanager
def local_redis_server() -> Iterator[tuple[subprocess.Popen, str]]:
    """A throw-away ``redis-server`` on 127.0.0.1 (a free port, no persistence);
    yields its process and URL (the campaign's tests use it too)."""
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as d:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", d],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
            for _ in range(100):
                try:
                    client.ping()
                    break
                except redis.exceptions.ConnectionError:
                    time.sleep(0.05)
            else:
                raise RuntimeError("redis-server did not answer within 5 s")
            yield proc, f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(10)


def _noop(i: int) -> int:
    return i


def scheduler_overhead(n: int = 400) -> float:
    """Seconds per task of the round trip submit -> worker -> result, on one
    local worker, for a task that does nothing (the campaign's loop: a
    bounded window of submitted futures, refilled as each completes)."""
    distributed = C.require_distributed()
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        client.submit(_noop, -1, pure=False).result()  # warm
        t0 = time.perf_counter()
        ac = distributed.as_completed()
        it = iter(range(n))
        for i in itertools.islice(it, 3):
            ac.add(client.submit(_noop, i, pure=False))
        for fut in ac:
            fut.result()
            nxt = next(it, None)
            if nxt is not None:
                ac.add(client.submit(_noop, nxt, pure=False))
        return (time.perf_counter() - t0) / n


def makespan(durations: list[float], workers: int) -> float:
    """When the last of ``durations`` ends, each started in order on the first free worker."""
    free = [0.0] * workers
    for d in durations:
        i = free.index(min(free))
        free[i] += d
    return max(free) if free else 0.0


def fixed_budget(bus: str, profile: str, seeds: tuple[int, int], workers: int) -> C.CampaignOutcome:
    plan = C.CampaignPlan(bus, profile, seeds[0], seeds[1], database=DatabaseSpec("none"), pieces=False, proofs=False, minimise=False)
    return C.run_campaign(plan, workers=workers)


def first_class(bus: str, profile: str, seeds: tuple[int, int], workers: int, url: str, cls: str = "REORDERED") -> float | None:
    plan = C.CampaignPlan(bus, profile, seeds[0], seeds[1], database=parse_database(url), pieces=False, proofs=False, minimise=False)
    return C.run_campaign(plan, workers=workers).first_seconds.get(cls)


def _flush(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def main(argv=None) -> int:
    from iobus_verify.reports.campaign import parse_seeds

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bus", default="upstream")
    p.add_argument("--seeds", default="0:2", help="the fixed budget: every rung of these seeds (default 0:2)")
    p.add_argument("--profile", default="ci", choices=("dev", "ci", "thorough"))
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--redis", help="a Redis URL (default: start a redis-server here)")
    p.add_argument("--skip", nargs="*", default=(), choices=("speedup", "first", "overhead"))
    args = p.parse_args(argv)
    start, stop = parse_seeds(args.seeds)
    seeds = (start, stop if stop is not None else start + 2)
    print(f"# campaign benchmark: bus {args.bus}, profile {args.profile}, seeds {seeds[0]}:{seeds[1]}, {args.repeat} repeat(s)", flush=True)

    from iobus_verify.model import conditions as CO

    plan_order = [r.name for r in CO.LADDER]
    load_seen = [float("inf"), 0.0]
    cpu: list[float] = []
    walls: dict[int, list[float]] = {1: [], 2: []}
    busy: dict[int, list[float]] = {1: [], 2: []}
    tasks = 0
    mean_task = max_task = 0.0
    if "speedup" not in args.skip:
        print("\n## 1. fixed budget (no database, not minimised), 1 vs 2 workers", flush=True)
        for r in range(args.repeat):
            for w in (1, 2):
                load_seen[0] = min(load_seen[0], os.getloadavg()[0])
                out = fixed_budget(args.bus, args.profile, seeds, w)
                load_seen[1] = max(load_seen[1], os.getloadavg()[0])
                secs = [o.seconds for o in out.outcomes]
                cpu = [o.cpu_seconds for o in sorted(out.outcomes, key=lambda o: (o.task.seed, plan_order.index(o.task.rung)))]
                walls[w].append(out.seconds)
                busy[w].append(sum(secs) / (out.seconds * w))
                tasks = len(secs)
                # the estimate (4.) takes the tasks' CPU seconds: wall seconds here include other processes' load
                mean_task, max_task = statistics.mean(cpu), max(cpu)
                print(
                    f"run {r + 1}, {w} worker(s): {out.seconds:.1f} s for {len(secs)} tasks "
                    f"({out.ops + out.shrink_ops} ops, {(out.ops + out.shrink_ops) / out.seconds:,.0f} ops/s); "
                    f"task wall mean {statistics.mean(secs):.2f} s, max {max(secs):.2f} s; task CPU mean {mean_task:.2f} s, max {max_task:.2f} s; "
                    f"workers busy {100 * busy[w][-1]:.0f} %",
                    flush=True,
                )
        s = [a / b for a, b in zip(walls[1], walls[2])]
        print(f"speed-up 2 vs 1 worker (wall): {', '.join(f'{x:.2f}x' for x in s)} (median {statistics.median(s):.2f}x)", flush=True)
        print(
            f"the same tasks' CPU seconds (their threads' own work, whatever else the machine runs), list-scheduled in submission order: "
            f"1 worker {makespan(cpu, 1):.1f} s, 2 workers {makespan(cpu, 2):.1f} s: speed-up {makespan(cpu, 1) / makespan(cpu, 2):.2f}x "
            f"(per-task overhead not included); load average during the runs {load_seen[0]:.1f}-{load_seen[1]:.1f} on {os.cpu_count()} cores",
            flush=True,
        )

    if "first" not in args.skip:
        print("\n## 2. time to the first REORDERED (seconds from the campaign's start to a survey's report)", flush=True)
        with contextlib.ExitStack() as stack:
            url = args.redis or stack.enter_context(local_redis_server())[1]
            rows = []
            for r in range(args.repeat):
                base = seeds[0] + 100 * (r + 1)  # seeds no other row used
                _flush(url)
                one = first_class(args.bus, args.profile, (base, base + 1), 1, url)
                _flush(url)
                two = first_class(args.bus, args.profile, (base, base + 1), 2, url)
                warm = first_class(args.bus, args.profile, (base + 1, base + 2), 2, url)  # Redis holds what the last run saved
                rows.append((one, two, warm))
                fmt = lambda x: "not found" if x is None else f"{x:.1f} s"  # noqa: E731
                print(f"seed {base}: 1 worker {fmt(one)}; 2 workers {fmt(two)}; 2 workers, seed {base + 1}, Redis warm {fmt(warm)}", flush=True)
            ok = [(a, b) for a, b, _ in rows if a is not None and b is not None]
            if ok:
                print(f"median ratio 1 worker / 2 workers: {statistics.median(a / b for a, b in ok):.2f}", flush=True)

    if "overhead" not in args.skip:
        print("\n## 3. scheduler overhead per task", flush=True)
        per = statistics.median(scheduler_overhead() for _ in range(max(1, args.repeat)))
        print(f"empty task round trip on 1 local worker: {1000 * per:.2f} ms per task", flush=True)
        if busy[2]:
            print(f"workers busy in the fixed-budget runs: 1 worker {100 * statistics.median(busy[1]):.0f} %, 2 workers {100 * statistics.median(busy[2]):.0f} %", flush=True)

        print("\n## 4. estimate: 64 workers on 4 machines (16 each)", flush=True)
        if tasks and busy[2]:
            t = mean_task
            rtt = 0.0005  # s: a LAN round trip, paid once per task for submit/result and ~20 Redis calls
            redis_calls = 20
            overhead = per + rtt * (1 + redis_calls)
            n = 64 * 40  # a campaign of 40 waves: 512 seeds x 5 rungs
            waves = n / 64
            ideal = waves * t
            tail = max_task - t  # the last wave waits for its longest task
            sched_rate = 64 / t  # tasks the one scheduler must place per second
            eff = ideal / (waves * (t + overhead) + tail)
            print(
                f"inputs: mean task {t:.2f} s, longest {max_task:.2f} s (CPU seconds, from 1.), scheduler {1000 * per:.2f} ms/task (3.), "
                f"LAN round trip {1000 * rtt:.1f} ms x (1 + {redis_calls} Redis calls) per task (assumed)",
                flush=True,
            )
            print(
                f"E = W*T / (W*(T + o) + (Tmax - T)) with W = {waves:.0f} waves of 64 tasks, T = {t:.2f} s, o = {1000 * overhead:.1f} ms, "
                f"Tmax - T = {tail:.2f} s: E = {100 * eff:.1f} %; the scheduler places {sched_rate:.0f} tasks/s, "
                f"{100 * sched_rate * per:.1f} % of its time",
                flush=True,
            )
        else:
            print("needs the fixed-budget runs (1.)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
