"""Pure statistics on per-variant sufficient statistics (numpy and scipy only, no I/O).

The usual flow: per metric, `compare` (or `compare_ratio`, `cuped_compare`) each variant
against control; then `adjust` the family of comparisons across metrics × variants
(Holm or Benjamini–Hochberg); guardrail metrics go through `non_inferiority`; user counts
through `srm_chi_square` and `sequential_srm`; planning through `sample_size` and `mde`.
"""

from analysis.compare import Comparison, CupedAdjustment, compare, compare_ratio
from analysis.corrections import AdjustedComparison, adjust, benjamini_hochberg, holm
from analysis.cuped import cuped_compare
from analysis.errors import AnalysisError
from analysis.guardrails import NonInferiority, non_inferiority
from analysis.inference import Alternative, Interval
from analysis.power import mde, sample_size
from analysis.sequential import DEFAULT_TUNING_N
from analysis.srm import SequentialSrm, SrmTest, sequential_srm, srm_chi_square
from analysis.stats import RatioStats, SampleStats

__all__ = [
    "DEFAULT_TUNING_N",
    "AdjustedComparison",
    "Alternative",
    "AnalysisError",
    "Comparison",
    "CupedAdjustment",
    "Interval",
    "NonInferiority",
    "RatioStats",
    "SampleStats",
    "SequentialSrm",
    "SrmTest",
    "adjust",
    "benjamini_hochberg",
    "compare",
    "compare_ratio",
    "cuped_compare",
    "holm",
    "mde",
    "non_inferiority",
    "sample_size",
    "sequential_srm",
    "srm_chi_square",
]
