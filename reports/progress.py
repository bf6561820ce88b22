"""Progress while a phase runs: a live bar on a terminal, plain lines in CI or a pipe.

On an interactive terminal (and ``CI`` not set to true) each phase gets a
`rich <https://rich.readthedocs.io>`_ progress bar: the step being run, the
search runs done out of those planned, the operations executed, the
divergence classes found so far, the time spent and an estimate of the time
left. It is redrawn four times a second, so it moves *during* a step, not
only between steps. Elsewhere (a pipe, a file, ``CI=true``) it writes plain
lines: one per step, and one every :data:`HEARTBEAT_S` seconds while a long
step runs.

A phase receives a :class:`PhaseProgress` and may call it

* ``progress("message")``: a new step (any callable taking one string works
  the same, which is all ``properties/run.py`` needs to know);
* ``progress("message", watch=stats)``: a new step whose counters are read
  live while it runs: ``stats.runs`` (search runs finished), ``stats.ops``
  (operations executed) and the keys of ``stats.silent`` / ``stats.found``
  (classes seen), e.g. the :class:`~iobus_verify.properties.machine.SearchStats`
  a survey fills in;
* ``progress.plan(runs)`` once: the search runs the phase will make in all
  (the bar's total; the time left is estimated from it); ``unit=`` names what
  is counted when it is not search runs (the proofs phase counts
  ``obligations``); calling it again changes the total (a plan that grew);
* ``progress(done, total[, "message"])`` or keywords ``done=``, ``total=``,
  ``message=``, as before.

:func:`step` and :func:`plan` make the same calls on any callback, falling
back to ``progress(message)`` for a plain one.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import IO, Any

#: seconds between plain lines while one step runs
HEARTBEAT_S = 15.0
#: classes named in a status line; more are counted ("and 3 more")
MAX_CLASSES = 5


def use_bar(stream: IO[str]) -> bool:
    """A live bar only on an interactive terminal outside CI."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        return False
    return hasattr(stream, "isatty") and stream.isatty()


def step(progress: Any, message: str, *, watch: Any = None) -> None:
    """Announce a step to ``progress`` (a :class:`PhaseProgress` or any
    ``Callable[[str], None]``); ``watch`` is read live by a PhaseProgress."""
    if progress is None:
        return
    if isinstance(progress, PhaseProgress):
        progress(message, watch=watch)
    else:
        progress(message)


def plan(progress: Any, runs: int, unit: str = "runs") -> None:
    """Tell ``progress`` how many search runs (or other ``unit``s: the proofs
    phase counts obligations) the phase will make (ignored by a plain callback)."""
    fn = getattr(progress, "plan", None)
    if callable(fn):
        if unit == "runs":
            fn(runs)
        else:
            fn(runs, unit=unit)


def _classes(watch: Any) -> set[str]:
    out: set[str] = set()
    for attr in ("silent", "found"):
        v = getattr(watch, attr, None)
        if isinstance(v, dict):
            out.update(str(k) for k in v)
    return out


class PhaseProgress:
    """Progress of one phase, written to ``stream`` (stderr by default)."""

    def __init__(self, phase: str, stream: IO[str] | None = None, bar: bool | None = None, prefix: str = ""):
        self.phase = phase
        self.stream = stream if stream is not None else sys.stderr
        self.bar = use_bar(self.stream) if bar is None else bar
        self.prefix = prefix
        self.start = time.monotonic()
        self.total_runs: int | None = None
        self.unit = "runs"  # what total_runs counts
        self.message = ""
        self._done_runs = 0  # runs of the steps already finished
        self._done_ops = 0
        self._classes: set[str] = set()
        self._watch: Any = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_line = 0.0
        self._last_message = ""
        self._rich: Any = None
        self._task: Any = None
        self._note = ""  # what the phase adds to the status (a campaign: ops/s, dashboard)

    # -- the counters ---------------------------------------------------------------------
    def _fold(self) -> None:
        """Add the finished step's counters to the totals."""
        w = self._watch
        if w is not None:
            self._done_runs += int(getattr(w, "runs", 0) or 0)
            self._done_ops += int(getattr(w, "ops", 0) or 0)
            self._classes |= _classes(w)
        self._watch = None

    def counters(self) -> tuple[int, int, list[str]]:
        """(runs done, ops executed, classes found so far), the current step's included."""
        with self._lock:
            w = self._watch
            runs = self._done_runs + (int(getattr(w, "runs", 0) or 0) if w is not None else 0)
            ops = self._done_ops + (int(getattr(w, "ops", 0) or 0) if w is not None else 0)
            classes = self._classes | (_classes(w) if w is not None else set())
        return runs, ops, sorted(classes)

    def _status(self) -> str:
        runs, ops, classes = self.counters()
        parts = []
        if self.total_runs:
            parts.append(f"{min(runs, self.total_runs)}/{self.total_runs} {self.unit}")
        if ops:
            parts.append(f"{ops} ops")
        if self.total_runs or ops or classes:
            named = ", ".join(classes[:MAX_CLASSES]) + (f" and {len(classes) - MAX_CLASSES} more" if len(classes) > MAX_CLASSES else "")
            parts.append("found: " + (named if classes else "nothing yet"))
        if self._note:
            parts.append(self._note)
        return ", ".join(parts)

    # -- the calls ------------------------------------------------------------------------
    def begin(self) -> None:
        self.start = time.monotonic()
        if self.bar:
            self._start_rich()
        else:
            self._line(f"{self.prefix}[{self.phase}] started")
        self._thread = threading.Thread(target=self._tick, name=f"progress-{self.phase}", daemon=True)
        self._thread.start()

    def plan(self, runs: int, unit: str = "runs") -> None:
        self.total_runs = max(0, int(runs)) or None
        self.unit = unit
        self._sync()

    def note(self, text: str) -> None:
        """Text the phase adds at the end of the status, replacing the last
        (a campaign's tasks running, operations per second, dashboard address)."""
        with self._lock:
            self._note = text
        self._sync()

    def __call__(self, *args: Any, **kw: Any) -> None:
        nums = [a for a in args if isinstance(a, (int, float)) and not isinstance(a, bool)]
        texts = [a for a in args if isinstance(a, str)]
        message = str(kw.get("message", texts[0] if texts else ""))
        watch = kw.get("watch")
        done = kw.get("done", nums[0] if nums else None)
        total = kw.get("total", nums[1] if len(nums) > 1 else None)
        with self._lock:
            self._fold()
            self._watch = watch
            if message:
                self.message = message
            if total and not self.total_runs:
                self.total_runs = int(total)
            if done is not None and self.total_runs and watch is None:
                self._done_runs = int(done)
        # the counters with this step's watch: a fresh survey's are 0 (what the steps before it did);
        # a step that reports work already done (the proofs' "obligation X proved") counts it
        status = self._status()
        if self.bar:
            self._sync()
        elif message and message != self._last_message:
            self._last_message = message
            self._line(f"{self.prefix}[{self.phase}] {message} ({self._elapsed()}" + (f"; {status})" if status else ")"))

    def end(self, status: str, n_results: int) -> None:
        with self._lock:
            self._fold()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        summary = self._status()
        text = f"{self.prefix}[{self.phase}] {status}: {n_results} result(s) in {time.monotonic() - self.start:.1f}s" + (f" ({summary})" if summary else "")
        if self._rich is not None:
            self._sync(final=True)
            self._rich.stop()
            self._rich = None
        self._line(text)

    # -- output ---------------------------------------------------------------------------
    def _elapsed(self) -> str:
        return f"{time.monotonic() - self.start:.1f}s"

    def _tick(self) -> None:
        """Keeps the bar's counters live; in plain mode a line every HEARTBEAT_S."""
        while not self._stop.wait(0.25):
            if self.bar:
                self._sync()
            elif time.monotonic() - self._last_line >= HEARTBEAT_S:
                status = self._status()
                self._line(f"{self.prefix}[{self.phase}] still at: {self.message or 'starting'} ({self._elapsed()}" + (f"; {status})" if status else ")"))

    def _start_rich(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        console = Console(file=self.stream, highlight=False)
        self._rich = Progress(
            SpinnerColumn(),
            TextColumn(f"{self.prefix}[{self.phase}]".replace("[", "\\[")),
            BarColumn(bar_width=24),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("left"),
            TextColumn("{task.fields[step]}", style="dim"),
            console=console,
            refresh_per_second=4,
            transient=True,
        )
        self._task = self._rich.add_task(self.phase, total=None, status="", step="starting")
        self._rich.start()

    def _sync(self, final: bool = False) -> None:
        if self._rich is None or self._task is None:
            return
        runs, _, _ = self.counters()
        total = self.total_runs
        step_text = self.message.split(": ", 2)[-1].split(" (")[0] if self.message else ""
        self._rich.update(
            self._task,
            total=total,
            completed=total if final and total else (min(runs, total) if total else 0),
            status=self._status(),
            step=step_text[:60],
        )

    def _line(self, text: str) -> None:
        self._last_line = time.monotonic()
        if self._rich is not None:
            self._rich.console.print(text, markup=False, highlight=False)
            return
        self.stream.write(text + "\n")
        self.stream.flush()


class Silent(PhaseProgress):
    """No output (tests, library use)."""

    def __init__(self, phase: str = "", **_: Any):
        super().__init__(phase, stream=None, bar=False)

    def begin(self) -> None:
        pass

    def end(self, status: str, n_results: int) -> None:
        pass

    def _line(self, text: str) -> None:
        pass
