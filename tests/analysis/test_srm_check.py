from __future__ import annotations

import pytest

from analysis.srm_check import check_srm


def test_a_45_55_split_of_a_50_50_design_is_a_mismatch() -> None:
    verdict = check_srm({"a": 4_500, "b": 5_500}, {"a": 50, "b": 50})
    assert verdict.mismatch
    assert verdict.largest_deviation == pytest.approx(0.05)
    assert verdict.chi_square is not None and verdict.chi_square.p_value < 1e-10


def test_a_correct_split_is_not() -> None:
    verdict = check_srm({"a": 5_030, "b": 4_970}, {"a": 50, "b": 50})
    assert not verdict.mismatch


def test_the_guards_keep_small_or_slight_imbalances_quiet() -> None:
    assert not check_srm({"a": 300, "b": 500}, {"a": 1, "b": 1}).mismatch  # too few users
    # Significant at ten million users, but a tenth of a point off: not worth an alert.
    slight = check_srm({"a": 4_990_000, "b": 5_010_000}, {"a": 1, "b": 1})
    assert slight.chi_square is not None and slight.chi_square.mismatch
    assert not slight.mismatch


def test_no_users_and_unknown_variants() -> None:
    assert not check_srm({}, {"a": 1, "b": 1}).mismatch
    verdict = check_srm({"a": 10, "stray": 5}, {"a": 1, "b": 1})
    assert verdict.counts == {"a": 10, "b": 0}
