"""`iobus-verify campaign` against real servers: a Redis server started here on
127.0.0.1 (Debian's redis-server; skipped, with the reason, where it is not
installed: .ci/run installs it) and a Dask LocalCluster of 2 worker processes.

Kept small (the README's test command has a time budget): the campaigns
search the corner plugin (MISSED on zero-length accesses, one class to shrink)
at the dev profile, or upstream with a small ladder budget.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed", reason="the campaign extra (distributed) is not installed: pip install -e '.[test]'")
redis = pytest.importorskip("redis", reason="the campaign extra (redis) is not installed: pip install -e '.[test]'")

from iobus_verify.cli import main  # noqa: E402
from iobus_verify.errors import UsageError  # noqa: E402
from iobus_verify.properties import campaign as C  # noqa: E402
from iobus_verify.properties.bench_campaign import local_redis_server  # noqa: E402
from iobus_verify.properties.database import DatabaseSpec, FallbackDatabase, KEY_PREFIX, open_database, parse_database  # noqa: E402
from iobus_verify.properties.tasks import FOUND_TOPIC, START_TOPIC  # noqa: E402
from iobus_verify.reports.report import load_report  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CORNER = f"{REPO / 'examples' / 'python' / 'corner_bus.py'}:factory"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _redis():
    """(process, URL) of a throw-away redis-server, or the test skips saying why."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server; .ci/run installs it)")
    with local_redis_server() as server:
        yield server


@pytest.fixture(scope="module")
def redis_server():
    """(process, URL) of a redis-server of this module's own."""
    with _redis() as server:
        yield server


@pytest.fixture(scope="module")
def cluster():
    c = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    yield c.scheduler_address
    c.close()


def _redis_keys(url: str) -> list[bytes]:
    return redis.Redis.from_url(url).keys(KEY_PREFIX + b"*")


# -- options and bad input ------------------------------------------------------------


def test_database_option_forms(tmp_path):
    assert parse_database("none") == DatabaseSpec("none")
    d = parse_database(str(tmp_path / "db"))
    assert d.kind == "directory" and Path(d.where).is_absolute()
    r = parse_database("redis://127.0.0.1:1/0")
    assert r.kind == "redis" and r.where == "redis://127.0.0.1:1/0" and Path(r.fallback).is_absolute()
    with pytest.raises(UsageError, match="redis://HOST:PORT/N"):
        parse_database("http://example/")
    assert C.portable_spec("upstream") == "upstream"
    assert C.portable_spec(os.path.relpath(CORNER)) == CORNER


def test_unreachable_redis_is_one_line_and_exit_2(capsys, tmp_path):
    code = main(["campaign", "--bus", "upstream", "--db", f"redis://127.0.0.1:{_free_port()}/0", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "the Redis server cannot be reached" in err[0]
    assert not (tmp_path / "upstream").exists()


def test_missing_extra_gives_the_install_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    code = main(["campaign", "--bus", "upstream", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "pip install 'iobus-verify[campaign]'" in err[0]


def test_bad_seeds_budget_and_scheduler_are_usage_errors(capsys):
    assert main(["campaign", "--bus", "upstream", "--seeds", "5:2"]) == 2
    assert main(["campaign", "--bus", "upstream", "--budget-ops", "0"]) == 2
    assert main(["campaign", "--bus", "upstream", "--db", "none", "--scheduler", f"tcp://127.0.0.1:{_free_port()}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "--seeds 5:2" in err[0] and "--budget-ops 0" in err[1] and "cannot connect" in err[2]


# -- the database -----------------------------------------------------------------------


def test_redis_lost_mid_run_falls_back_to_the_local_directory(tmp_path):
    with _redis() as (proc, url):
        db = open_database(DatabaseSpec("redis", url, str(tmp_path / "local")))
        assert isinstance(db, FallbackDatabase)
        db.save(b"k", b"v1")
        assert list(db.fetch(b"k")) == [b"v1"] and db.lost is None
        assert redis.Redis.from_url(url).keys(KEY_PREFIX + b"*")  # really in Redis
        proc.kill()
        proc.wait(10)
        db.save(b"k", b"v2")
        assert db.lost is not None and "went on with the local database" in db.lost
        assert list(db.fetch(b"k")) == [b"v2"]  # now from the directory
        assert (tmp_path / "local").is_dir()


# -- campaigns on a real cluster ------------------------------------------------------


def test_campaign_writes_checks_report_and_shares_examples_through_redis(cluster, redis_server, tmp_path, capsys):
    redis_proc, redis_url = redis_server
    out1, out2 = tmp_path / "one", tmp_path / "two"
    args = ["campaign", "--bus", CORNER, "--profile", "dev", "--scheduler", cluster, "--db", redis_url]
    # seed 3: the `none` rung's first survey (full capacity) finds MISSED, so its
    # shrunk failure is saved under that survey's key (a seed whose MISSED only the
    # small-capacity survey finds would save it under the second survey's key)
    assert main(args + ["--seeds", "3:4", "--out", str(out1)]) == 1  # no baseline: judged strictly, MISSED is new
    bus_dir = out1 / "corner_bus.factory"
    report = load_report(bus_dir / "report.json")  # validates against the schema
    missed = {r.id: r for r in report.results}["differential.MISSED"]
    assert missed.status == "fail" and missed.finding.condition == "none"
    assert "5 task(s) (bus, rung, seed) on 2 worker(s)" in missed.detail and "0 task(s) retried" in missed.detail
    assert report.gate.verdict == "regressed" and not report.incomplete
    for name in ("report.html", "report.md", "junit.xml", "scenarios/differential.MISSED.json"):
        assert (bus_dir / name).is_file(), name
    assert main(["replay", str(bus_dir / "scenarios/differential.MISSED.json"), "--bus", CORNER]) == 1
    saved = _redis_keys(redis_url)
    assert any(b":none:" in k and k.endswith(b":MISSED") for k in saved), saved

    # A later campaign, other seeds: seed 1's `none` survey replays the saved
    # failure first, so MISSED is seen within the first run. Then the Redis
    # server dies: the tasks after it go on with the local directory, and
    # the campaign says so.
    seen = []

    def observe(client, o):
        seen.append(o)
        if o is not None and (o.task.rung, o.task.seed) == ("none", 1):
            redis_proc.kill()

    db = DatabaseSpec("redis", redis_url, str(tmp_path / "fallback"))
    plan = C.CampaignPlan(CORNER, "dev", 1, 3, database=db, pieces=False, proofs=False)
    outcome = C.run_campaign(plan, scheduler=cluster, observer=observe)
    none_task = next(o for o in seen if o.task.rung == "none" and o.task.seed == 1)
    alone = _first_ops_alone(CORNER, "dev", 1, "none", "MISSED")
    first_run = 20 + 2  # the dev profile's steps, plus the machine's initialize ops
    assert none_task.first_ops["MISSED"] <= first_run < alone, (none_task.first_ops, alone)
    assert set(outcome.minimised) == {"MISSED"} and len(outcome.outcomes) == 10 and not outcome.failed
    assert any("went on with the local database" in n for n in outcome.database_notes), outcome.database_notes
    assert outcome.database_used == DatabaseSpec("directory", str(tmp_path / "fallback"))

    # the same report as check's: baseline update --from-report and diff take it as it is
    from iobus_verify.model.spec import resolve
    from iobus_verify.reports import baseline
    from iobus_verify.reports.campaign import campaign_report
    from iobus_verify.reports.outputs import write_outputs

    base = tmp_path / "corner.baseline.json"
    assert main(["baseline", "update", "--bus", CORNER, "--from-report", str(bus_dir / "report.json"), "--baseline", str(base)]) == 0
    second = campaign_report(resolve(CORNER), outcome, contract=None, baseline_path=base, base=baseline.load(base))
    assert second.gate.verdict == "match"  # seeds 1-2 show what seed 3's baseline expects
    assert "went on with the local database" in {r.id: r for r in second.results}["differential.MISSED"].detail
    write_outputs(second, out2)
    capsys.readouterr()
    assert main(["diff", str(bus_dir / "report.json"), str(out2 / "report.json")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert not [x for x in lines if x.startswith(("new", "lost"))], lines  # the witness may differ ("changed"), the finding not


def _first_ops_alone(bus: str, profile: str, seed: int, rung: str, cls: str) -> int:
    """Operations the rung's first survey runs before it sees ``cls`` with no database."""
    from iobus_verify.model.spec import resolve
    from iobus_verify.properties.run import survey_ladder

    lo = survey_ladder(resolve(bus), profile=profile, seed=seed, rungs=(rung,))
    return next(so.stats.first_ops[cls] for so in lo.surveys.values() if cls in so.stats.first_ops)


def _surveyed_classes(bus: str, profile: str, seeds, examples: int) -> set[str]:
    """What the surveys of every (rung, seed) see, run here, in process."""
    from iobus_verify.model.spec import resolve
    from iobus_verify.properties.run import survey_ladder

    spec = resolve(bus)
    out = set()
    for seed in seeds:
        lo = survey_ladder(spec, profile=profile, seed=seed, examples=examples)
        for so in lo.surveys.values():
            out |= set(so.stats.silent) | set(so.found)
    return out


def _executing(dask_worker) -> list[str]:
    """The keys a worker is running right now (called on the worker by client.run)."""
    return [ts.key for ts in dask_worker.state.executing]


def test_a_worker_killed_mid_campaign_loses_no_finding():
    """One of the two workers is SIGKILLed while it runs a task, right after
    the first task finished: Dask reruns that task, every finding reported
    before the kill is in the merge, and the merge holds every class the
    same tasks' surveys see when run in process."""
    examples = 20  # seed 0's surveys see MISSED and REGISTRATION: three shrinks in all
    plan = C.CampaignPlan("upstream", "dev", 0, 1, examples=examples, database=DatabaseSpec("none"), pieces=False, proofs=False, minimise=False)
    killed: list[dict] = []

    def kill_one(client, outcome):
        if killed:
            return
        started = {m for _, m in client.get_events(START_TOPIC)}
        running = {w: set(keys) & started for w, keys in client.run(_executing).items()}
        busy = sorted(w for w, keys in running.items() if keys)
        if not busy:
            return  # between tasks: try again when the next one finishes
        addr = busy[0]
        pid = client.run(os.getpid, workers=[addr])[addr]
        before = {w.cls for w in outcome.found} if outcome else set()
        os.kill(pid, signal.SIGKILL)
        killed.append({"worker": addr, "tasks": running[addr], "classes_before": before})

    outcome = C.run_campaign(plan, workers=2, observer=kill_one)
    assert killed, "no worker was busy when the first task finished"
    assert outcome.retried >= 1, "the killed worker's task was not run again"
    assert not outcome.failed and len(outcome.outcomes) == 5
    assert sorted(o.task.rung for o in outcome.outcomes) == sorted(plan.rungs())
    merged = set(outcome.minimised)
    assert killed[0]["classes_before"] <= merged
    assert {w.cls for w in outcome.reported} <= merged
    assert merged == _surveyed_classes("upstream", "dev", (0,), examples)


def test_ctrl_c_writes_the_merged_partial_report_and_exits_130(cluster, tmp_path):
    env = dict(os.environ, CI="true")
    cmd = [sys.executable, "-m", "iobus_verify", "campaign", "--bus", CORNER, "--profile", "dev", "--seeds", "0:", "--budget-ops", "100000000"]
    cmd += ["--scheduler", cluster, "--db", "none", "--out", str(tmp_path)]
    started = time.time()  # events of other tests' campaigns on this cluster are older
    # SIGINT as a terminal's Ctrl-C delivers it (a runner started in the background may have it ignored)
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)
    )
    watcher = distributed.Client(cluster)
    try:
        deadline = time.monotonic() + 300
        # Ctrl-C once a survey has reported MISSED (its task may still be shrinking it)
        while not any(ts >= started and json.loads(m)["cls"] == "MISSED" for ts, m in watcher.get_events(FOUND_TOPIC)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the campaign made no progress"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        watcher.close()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "partial report written" in err and "Traceback" not in err
    report = load_report(tmp_path / "corner_bus.factory" / "report.json")
    assert report.incomplete and report.gate.verdict == "incomplete"
    by_id = {r.id: r for r in report.results}
    assert by_id["differential.MISSED"].status == "fail"
    assert by_id["differential.SPURIOUS"].status == "unknown"  # not established absent by a partial campaign
    assert by_id["phase.properties"].status == "unknown"
