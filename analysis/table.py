"""An experiment's results report (see `analysis.report`) as a readable table."""

from __future__ import annotations

from typing import Any


def results_table(report: dict[str, Any]) -> str:
    """Per slice: exposures and SRM, then per metric and variant the effect against control."""
    lines = [f"{report['experiment']}  phase {report['phase']}  control "
             f"{report['control']}  computed {report['computed_at']}  newest exposure "
             f"{report['newest_exposure_at'] or 'none yet'}"]
    for part in report["slices"]:
        name = part["slice"] or ("(none)" if report["dimension"] else "all users")
        label = f"{report['dimension']} = {name}" if report["dimension"] else name
        exposures = "  ".join(f"{v}: {n:,}" for v, n in part["exposures"].items())
        srm = part["srm"]
        srm_text = srm["status"] + (f" (p = {srm['p_value']:.3g})" if "p_value" in srm else "")
        lines += ["", f"{label}   exposures {exposures}   SRM {srm_text}",
                  f"  {'metric':<24} {'variant':<12} {'control':>10} {'treatment':>10} "
                  f"{'lift':>8} {'95% interval':>19} {'p':>8} {'p (Holm)':>9}"]
        for c in part["comparisons"]:
            head = f"  {c['metric']:<24} {c['variant']:<12}"
            if "error" in c:
                lines.append(f"{head} {c['error']}")
                continue
            lines.append(f"{head} {c['control_mean']:>10.4g} {c['treatment_mean']:>10.4g} "
                         f"{_percent(c['lift']):>8} {_interval(c['lift_ci']):>19} "
                         f"{c['p_value']:>8.3g} {c['p_value_holm']:>9.3g}"
                         + ("  *" if c.get("significant") else "")
                         + ("  CUPED" if "cuped" in c else "")
                         + (f"  lift undefined: {c['lift_undefined']}"
                            if c.get("lift_undefined") else ""))
    return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1%}"


def _interval(bounds: list[float | None] | None) -> str:
    if not bounds:
        return "n/a"
    low, high = bounds
    return (f"[{'-inf' if low is None else format(low, '+.1%')}, "
            f"{'+inf' if high is None else format(high, '+.1%')}]")
