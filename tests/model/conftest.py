"""Fixtures shared by the tests of the buses the C bridge runs (C files,
Rust crates, kernel trees)."""

from __future__ import annotations

import os

import pytest

from iobus_verify.model.cbus import shutdown_workers


@pytest.fixture(scope="module")
def build_cache(tmp_path_factory):
    """A build cache of the module's own (``IOBUS_VERIFY_CACHE_DIR``), so its
    builds start cold and leave the user's cache alone; the bridge's worker
    processes are stopped, and the variable restored, when the module ends."""
    old = os.environ.get("IOBUS_VERIFY_CACHE_DIR")
    path = tmp_path_factory.mktemp("build-cache")
    os.environ["IOBUS_VERIFY_CACHE_DIR"] = str(path)
    yield path
    shutdown_workers()
    if old is None:
        del os.environ["IOBUS_VERIFY_CACHE_DIR"]
    else:
        os.environ["IOBUS_VERIFY_CACHE_DIR"] = old
