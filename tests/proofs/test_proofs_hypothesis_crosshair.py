"""The ``iobus-crosshair`` Hypothesis profile: piece properties with the hypothesis-crosshair backend."""

import pytest
from hypothesis import settings

from iobus_verify.properties import profiles
from iobus_verify.properties.pieces import _bsearch_property, _run_property, find_law_violation


@pytest.fixture
def crosshair_backend():
    # hypothesis-crosshair is a dependency: the profile must be registered (no skip)
    settings.get_profile(profiles.CROSSHAIR_PROFILE)
    previous = settings.get_current_profile_name()
    settings.load_profile(profiles.CROSSHAIR_PROFILE)
    try:
        yield
    finally:
        settings.load_profile(previous)


def test_piece_properties_under_the_crosshair_backend(crosshair_backend):
    assert settings.default.backend == "crosshair"
    # CrossHair drives Hypothesis to the 2011 comparator's antisymmetry violation in a handful of examples
    v = find_law_violation("seed-2011", "antisymmetric", max_examples=10)
    assert v is not None, "the crosshair backend missed the antisymmetry violation z3 proves exists"
    print(v.explain())
    # and fixed's segment-table bsearch agrees with a linear search on what it tried
    assert _run_property(_bsearch_property("fixed"), max_examples=5, seed=0) is None
