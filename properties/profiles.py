"""Hypothesis settings profiles of the suite: ``dev``, ``ci`` and ``thorough``.

A profile fixes the budget of every search the properties phase runs:

* ``dev``: quick feedback while editing (random seed unless one is given).
* ``ci``: a fixed budget, derandomized and seeded (``seed`` is printed and
  recorded in every Result's detail), no example database, so that two runs
  of the same commit find the same findings with the same shrunk scenarios.
* ``thorough``: a long search; uses the example database so that what one
  run learned is replayed first by the next (:mod:`iobus_verify.properties.database`;
  campaigns on many workers: :mod:`iobus_verify.properties.campaign`).

Selected by ``--hypothesis-profile NAME`` (Hypothesis's own pytest option) or
the environment variable ``IOBUS_VERIFY_PROFILE`` (:func:`selected_profile`).
Hypothesis knows them as ``iobus-dev``, ``iobus-ci`` and ``iobus-thorough``,
and under the plain names where those are free (Hypothesis's own ``ci``
profile, derandomized with no database, is kept), so that
``--hypothesis-profile dev|ci|thorough`` works. The *budgets* of the suite's
own searches always come from :data:`BUDGETS`, whichever settings profile is
loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from hypothesis.errors import InvalidArgument
from hypothesis import HealthCheck, Phase, settings

from iobus_verify.errors import UsageError

ENV_VAR = "IOBUS_VERIFY_PROFILE"
PROFILE_NAMES = ("dev", "ci", "thorough")


@dataclass(frozen=True)
class Budget:
    """What a profile gives each search of the properties phase.

    ``machine_examples``: runs of the differential machine per bus and search;
    ``steps``: the machine's ``stateful_step_count`` (operations per run);
    ``piece_examples``: examples per piece property (comparator laws, sort,
    bsearch); ``small_capacity``: the bus capacity used by the capacity search
    (small, so that filling the bus is cheap); ``derandomize``: seeded runs;
    ``shrink_seconds``: a wall-clock cap on shrinking per search (see
    ``run.search``); ``max_shrinks``: a cap in successful shrinks (Hypothesis's
    ``MAX_SHRINKS``, 500 by default), which unlike seconds gives the same
    scenario on a loaded machine: a seeded profile that must give the same
    report for the same seed caps its shrinking in shrinks, not seconds.
    """

    machine_examples: int
    steps: int
    piece_examples: int
    small_capacity: int
    derandomize: bool
    use_database: bool
    shrink_seconds: float | None = 300.0
    max_shrinks: int | None = None


BUDGETS: dict[str, Budget] = {
    # dev: quick, and still same seed, same report: its shrinking is capped in
    # shrinks (a 10 s cap gave other witnesses under load, hence other reports)
    "dev": Budget(150, steps=20, piece_examples=300, small_capacity=4, derandomize=False, use_database=False, shrink_seconds=None, max_shrinks=100),
    # ci: no wall-clock cap on shrinking (a cap hit under load would change
    # the scenario the deterministic minimiser starts from: same seed, other report)
    "ci": Budget(300, steps=20, piece_examples=1000, small_capacity=4, derandomize=True, use_database=False, shrink_seconds=None),
    "thorough": Budget(5000, steps=60, piece_examples=20000, small_capacity=6, derandomize=False, use_database=True, shrink_seconds=300),
}

_COMMON = dict(deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)

def _registered(name: str) -> bool:
    try:
        settings.get_profile(name)
        return True
    except InvalidArgument:  # not registered; any other error is a bug and propagates
        return False


for _name, _b in BUDGETS.items():
    # The plain names are registered only when free: Hypothesis ships its own
    # derandomized ``ci`` profile, which is compatible and left alone, and a
    # user's own profiles must not be clobbered by an installed plugin.
    for _alias in (f"iobus-{_name}",) + (() if _registered(_name) else (_name,)):
        settings.register_profile(
            _alias,
            max_examples=_b.piece_examples,
            stateful_step_count=_b.steps,
            derandomize=_b.derandomize,
            database=None if not _b.use_database else settings.default.database,
            phases=tuple(Phase),
            **_COMMON,
        )

#: ``iobus-crosshair``: the piece properties under the ``hypothesis-crosshair`` backend
#: (CrossHair chooses the inputs by symbolic execution instead of at random). A Hypothesis
#: settings profile only, not a suite budget. hypothesis-crosshair is a required
#: dependency (pyproject.toml): a failure to register is an error, not swallowed.
CROSSHAIR_PROFILE = "iobus-crosshair"
settings.register_profile(CROSSHAIR_PROFILE, backend="crosshair", max_examples=100, database=None, **_COMMON)


def budget(profile: str) -> Budget:
    """The :class:`Budget` of a profile name, or a :class:`UsageError` naming the choices."""
    try:
        return BUDGETS[profile]
    except KeyError:
        raise UsageError(f"unknown profile {profile!r}: use one of {', '.join(PROFILE_NAMES)}") from None


def selected_profile(explicit: str | None = None, default: str = "ci") -> str:
    """The profile to use: ``explicit`` if given, else ``$IOBUS_VERIFY_PROFILE``, else ``default``."""
    name = explicit or os.environ.get(ENV_VAR) or default
    budget(name)  # validates
    return name
