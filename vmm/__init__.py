"""Device buses of other VMMs (issue 17)."""
