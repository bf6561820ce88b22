"""Hypothesis properties and stateful differential machines."""
