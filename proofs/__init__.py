"""z3 proofs and refutations; CrossHair checks."""
