"""Guardrail verdicts of one phase from its per-variant totals: pure, no I/O.

Each guarded metric is compared, treatment against control, as the results
report compares it (`analysis.report.compare_totals`), then tested with
`analysis.guardrails.non_inferiority`. A verdict is `breached` when the
always-valid harm test shows the treatment worse than the margin: safe to check
continuously, which is what the scheduler does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from analysis.errors import AnalysisError
from analysis.guardrails import non_inferiority
from analysis.report import Totals, compare_totals


@dataclass(frozen=True)
class Guarded:
    metric: str
    kind: str  # conversion, count, sum, ratio
    margin: float
    relative: bool = True
    higher_is_better: bool = True


@dataclass(frozen=True)
class GuardrailVerdict:
    metric: str
    variant: str
    control_n: int
    treatment_n: int
    margin: float
    relative: bool
    higher_is_better: bool
    estimate: float | None = None  # lift when relative, else difference
    bound: float | None = None  # always-valid bound on the harmful side
    harm_bound: float | None = None  # always-valid bound on the favourable side
    non_inferior: bool = False  # shown no worse than the margin (always valid)
    breached: bool = False  # shown worse than the margin (always valid)
    error: str | None = None  # why there is no verdict yet

    def evidence(self) -> str:
        """One line for an audit record or an alert."""
        if self.error or self.estimate is None or self.bound is None or self.harm_bound is None:
            return f"{self.metric} ({self.variant}): {self.error}"
        unit = "lift" if self.relative else "difference"
        low, high = sorted((self.bound, self.harm_bound))
        return (f"{self.metric} ({self.variant} against control): {unit} {self.estimate:+.4g}, "
                f"always-valid bounds [{low:.4g}, {high:.4g}], margin {self.margin:g} "
                f"({'higher' if self.higher_is_better else 'lower'} is better); "
                f"users {self.control_n:,} control, {self.treatment_n:,} treatment")


def check_guardrails(guardrails: Sequence[Guarded], variants: Sequence[str],
                     totals: Sequence[Totals], alpha: float = 0.05,
                     ) -> list[GuardrailVerdict]:
    """Verdicts per guarded metric and treatment variant, on the overall slice's totals."""
    rows = {(row.variant, row.metric): row for row in totals if row.slice == ""}
    control = variants[0]
    verdicts = []
    for guarded in guardrails:
        for variant in variants[1:]:
            base, treated = rows.get((control, guarded.metric)), rows.get((variant, guarded.metric))
            verdicts.append(_verdict(guarded, variant, base, treated, alpha))
    return verdicts


def _verdict(guarded: Guarded, variant: str, base: Totals | None, treated: Totals | None,
             alpha: float) -> GuardrailVerdict:
    shared = {"metric": guarded.metric, "variant": variant,
              "control_n": base.n if base else 0, "treatment_n": treated.n if treated else 0,
              "margin": guarded.margin, "relative": guarded.relative,
              "higher_is_better": guarded.higher_is_better}
    if base is None or treated is None:
        return GuardrailVerdict(**shared, error="no users in one of the arms yet")
    try:
        comparison = compare_totals(guarded.kind, base, treated, alpha, cuped=True)
        result = non_inferiority(comparison, guarded.margin, relative=guarded.relative,
                                 higher_is_better=guarded.higher_is_better, alpha=alpha)
    except AnalysisError as exc:
        return GuardrailVerdict(**shared, error=str(exc))
    return GuardrailVerdict(**shared, estimate=result.estimate,
                            bound=result.bound_always_valid,
                            harm_bound=result.harm_bound_always_valid,
                            non_inferior=bool(result.non_inferior_always_valid),
                            breached=bool(result.harmful_always_valid))


def guarded_metrics(guardrails: Sequence, kinds: Mapping[str, str]) -> list[Guarded]:
    """The model's guardrails (`experiments.model.Guardrail`) with their metrics' kinds."""
    return [Guarded(g.metric, kinds[g.metric], g.margin, g.relative, g.higher_is_better)
            for g in guardrails if g.metric in kinds]
