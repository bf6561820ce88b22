"""Progress while a phase runs: a bar on a terminal, plain lines in CI or a pipe.

A phase receives a :class:`PhaseProgress` and calls it as it likes:
``progress(done, total)``, ``progress(done, total, "message")``,
``progress("message")`` or with keywords ``done=``, ``total=``, ``message=``.
Anything else is ignored rather than crashing a long run.
"""

from __future__ import annotations

import os
import sys
import time
from typing import IO, Any


def use_bar(stream: IO[str]) -> bool:
    """A live bar only on an interactive terminal outside CI."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        return False
    return hasattr(stream, "isatty") and stream.isatty()


class PhaseProgress:
    """Progress of one phase, written to ``stream`` (stderr by default)."""

    WIDTH = 24

    def __init__(self, phase: str, stream: IO[str] | None = None, bar: bool | None = None, prefix: str = ""):
        self.phase = phase
        self.stream = stream if stream is not None else sys.stderr
        self.bar = use_bar(self.stream) if bar is None else bar
        self.prefix = prefix
        self.start = time.monotonic()
        self._last_line = 0.0
        self._last_pct = -1
        self._last_message = ""

    def begin(self) -> None:
        self._line(f"{self.prefix}[{self.phase}] started", final=not self.bar)

    def __call__(self, *args: Any, **kw: Any) -> None:
        nums = [a for a in args if isinstance(a, (int, float)) and not isinstance(a, bool)]
        texts = [a for a in args if isinstance(a, str)]
        done = kw.get("done", nums[0] if nums else None)
        total = kw.get("total", nums[1] if len(nums) > 1 else None)
        message = str(kw.get("message", texts[0] if texts else ""))
        elapsed = time.monotonic() - self.start
        if self.bar:
            if total:
                frac = max(0.0, min(1.0, done / total))
                filled = int(frac * self.WIDTH)
                bar = "#" * filled + "-" * (self.WIDTH - filled)
                text = f"{self.prefix}[{self.phase}] {bar} {frac:4.0%} {message} {elapsed:5.1f}s"
            else:
                count = "" if done is None else f"{done} "
                text = f"{self.prefix}[{self.phase}] {count}{message} {elapsed:5.1f}s"
            self._line(text[:119], final=False)
            return
        # Plain mode: a line per new message, else at most one per 10% step or per
        # 10 s, so CI logs stay short.
        pct = int(10 * done / total) if total and done is not None else None
        now = time.monotonic()
        fresh = bool(message) and message != self._last_message
        self._last_message = message or self._last_message
        if fresh or (pct is not None and pct > self._last_pct) or now - self._last_line >= 10:
            self._last_pct = pct if pct is not None else self._last_pct
            where = f"{done}/{total} " if total else (f"{done} " if done is not None else "")
            self._line(f"{self.prefix}[{self.phase}] {where}{message} ({elapsed:.1f}s)".rstrip(), final=True)

    def end(self, status: str, n_results: int) -> None:
        elapsed = time.monotonic() - self.start
        self._line(f"{self.prefix}[{self.phase}] {status}: {n_results} result(s) in {elapsed:.1f}s", final=True)

    def _line(self, text: str, *, final: bool) -> None:
        self._last_line = time.monotonic()
        if self.bar:
            self.stream.write("\r\x1b[K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


class Silent(PhaseProgress):
    """No output (tests, library use)."""

    def __init__(self, phase: str = "", **_: Any):
        super().__init__(phase, stream=None, bar=False)

    def _line(self, text: str, *, final: bool) -> None:
        pass
