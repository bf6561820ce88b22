"""CrossHair agrees with z3 on the 2011 comparator: returns -1/0/1, antisymmetry refuted."""

from iobus_verify.model.cints import INT
from iobus_verify.model.comparators import cmp_2011
from iobus_verify.proofs.crosshair_checks import check
from iobus_verify.proofs.encode import proof_variant
from iobus_verify.proofs.obligations import check_all


def test_crosshair_and_z3_agree_on_the_2011_comparator():
    lines = check(budget_s=4.0)
    assert len(lines) == 1 and "cmp_2011_antisymmetric" in lines[0], lines  # only the refuted law
    z3_refuted = {r.id for r in check_all(proof_variant("seed-2011"), 20.0) if r.outcome == "refuted"}
    assert "comparator.antisymmetric" in z3_refuted
    # CrossHair's witness is a real violation on ints
    a = lines[0].split("cmp_2011_antisymmetric(")[1].split(")")[0]
    a1, l1, a2, l2 = (int(x) for x in a.split(","))
    assert cmp_2011(INT, a1, l1, a2, l2) != -cmp_2011(INT, a2, l2, a1, l1)
