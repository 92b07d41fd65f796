from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from analysis import AnalysisError, SampleStats, adjust, benjamini_hochberg, compare, holm

# Benjamini & Hochberg (1995), §4: the 15 p-values of their worked example (Neuhaus et al.'s
# thrombolysis trial). At level 0.05 their procedure rejects the 4 smallest, while the
# Bonferroni family of procedures rejects only the 3 smallest (0.0095 > 0.05/12 for Holm).
BH_1995 = [
    0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344,
    0.0459, 0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.0000,
]  # fmt: skip


def _random_p_values(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = np.r_[rng.uniform(size=20), rng.beta(0.2, 8.0, size=10)]
    values[[3, 7]] = values[5]  # ties must not matter
    return rng.permutation(values)


@pytest.mark.parametrize("seed", range(5))
def test_holm_matches_statsmodels(seed: int) -> None:
    values = _random_p_values(seed)
    _, reference, _, _ = multipletests(values, method="holm")
    np.testing.assert_allclose(holm(values), reference, rtol=1e-12, atol=0)


@pytest.mark.parametrize("seed", range(5))
def test_benjamini_hochberg_matches_statsmodels(seed: int) -> None:
    values = _random_p_values(seed)
    _, reference, _, _ = multipletests(values, method="fdr_bh")
    np.testing.assert_allclose(benjamini_hochberg(values), reference, rtol=1e-12, atol=0)


def test_benjamini_hochberg_1995_worked_example() -> None:
    shuffled = np.random.default_rng(0).permutation(BH_1995)
    rejected = benjamini_hochberg(shuffled) <= 0.05
    assert sorted(shuffled[rejected]) == BH_1995[:4]
    assert sorted(shuffled[holm(shuffled) <= 0.05]) == BH_1995[:3]


def test_empty_family() -> None:
    assert holm([]).shape == (0,)
    assert benjamini_hochberg([]).shape == (0,)
    assert adjust([], "holm") == []


@pytest.mark.parametrize("values", [[0.1, 1.2], [-0.01], [float("nan")], [[0.1, 0.2]]])
def test_invalid_p_values_are_refused(values: list[float]) -> None:
    with pytest.raises(AnalysisError):
        holm(values)
    with pytest.raises(AnalysisError):
        benjamini_hochberg(values)


def _family() -> list:
    """Comparisons of 3 metrics × 2 variants, some with real effects."""
    rng = np.random.default_rng(42)
    comparisons = []
    for effect in (0.0, 0.05, 0.3, 0.0, 0.25, 0.02):
        control = SampleStats.from_values(rng.normal(0.0, 1.0, 400))
        treatment = SampleStats.from_values(rng.normal(effect, 1.0, 400))
        comparisons.append(compare(control, treatment))
    return comparisons


def test_adjust_with_holm_gives_bonferroni_intervals() -> None:
    family = _family()
    adjusted = adjust(family, "holm")
    expected = holm([c.p_value for c in family])
    assert [a.p_value for a in adjusted] == pytest.approx(expected.tolist(), rel=1e-12)
    assert [a.rejected for a in adjusted] == (expected <= 0.05).tolist()
    assert any(a.rejected for a in adjusted)
    for item in adjusted:
        assert item.diff_ci == item.comparison.diff_ci_at(0.05 / len(family))
        assert item.diff_ci is not None
        assert item.diff_ci.width > item.comparison.diff_ci.width


def test_adjust_with_bh_gives_fcr_intervals_to_the_selected() -> None:
    family = _family()
    adjusted = adjust(family, "benjamini-hochberg")
    selected = sum(a.rejected for a in adjusted)
    assert 0 < selected < len(family)
    for item in adjusted:
        if item.rejected:
            # Benjamini & Yekutieli (2005): level 1 − R·α/m for the R selected parameters.
            assert item.diff_ci == item.comparison.diff_ci_at(0.05 * selected / len(family))
            assert item.lift_ci == item.comparison.lift_ci_at(0.05 * selected / len(family))
            assert item.diff_ci is not None
            assert not item.diff_ci.contains(0.0)
        else:
            assert item.diff_ci is None
            assert item.lift_ci is None


def test_adjust_uses_an_explicit_alpha() -> None:
    family = _family()
    lenient = adjust(family, "holm", alpha=0.5)
    default = adjust(family, "holm")
    assert sum(a.rejected for a in lenient) > sum(a.rejected for a in default)
    assert lenient[0].diff_ci == family[0].diff_ci_at(0.5 / len(family))


def test_adjust_refuses_mixed_levels_and_unknown_methods() -> None:
    family = _family()
    mixed = [*family, compare(SampleStats(5, 5.0, 7.0), SampleStats(5, 4.0, 6.0), alpha=0.1)]
    with pytest.raises(AnalysisError, match="different alphas"):
        adjust(mixed, "holm")
    with pytest.raises(AnalysisError, match="method"):
        adjust(family, "bonferroni")  # type: ignore[arg-type]
