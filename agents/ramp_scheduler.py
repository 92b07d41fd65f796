"""The ramp scheduler: on the leader worker, every `ABSTREAM_RAMP_CHECK_INTERVAL_S`,
each active experiment with a ramp or guardrails is checked, and acted on through
the config service as the actor `scheduler`:

- a guardrail shown breached (`analysis.guardrail_check`: the always-valid harm
  test) is recorded once per phase, metric and variant (a row in
  `guardrail_alerts`, a `GuardrailAlert` on `<prefix>.alerts`) and, per the
  experiment's `on_breach` (default pause), pauses it, so every worker serves
  control; the evidence is the change's reason in the audit trail, and the ramp
  is suspended;
- a confirmed SRM suspends the ramp (its alert and pause are the SRM monitor's);
- otherwise a step whose time and exposed users are reached advances.

Every action is one change at the version the decision was made on: the config
log applies it only if nothing changed since, so a second leader, or an old one
that has not noticed it lost the lead, can neither repeat nor skip a step.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from functools import partial

import faust

from agents import metrics
from agents.config_service import ConfigService
from agents.experiment_admin import AdminError, ExperimentAdmin
from agents.results_store import ResultsStore
from agents.timers import guarded
from analysis.guardrail_check import GuardrailVerdict, check_guardrails, guarded_metrics
from analysis.srm_check import check_srm
from experiments.model import BreachAction, Experiment, Status
from experiments.ramps import SCHEDULER, progress, ramp_state_of
from schemas import alert_headers, encode
from sinks import Sink, SinkError
from sinks.tables import GUARDRAIL_ALERT_COLUMNS
from sinks.totals import exposed_users, variant_totals
from topology.settings import Settings

log = logging.getLogger(__name__)


def register_ramp_scheduler(app: faust.App, settings: Settings, config: ConfigService,
                            store: ResultsStore) -> None:
    scheduler = RampScheduler(app, settings, config, store)
    metrics.LEADER.set_function(lambda: float(app.is_leader()))

    @app.timer(settings.ramp_check_interval_s, on_leader=True)
    @guarded("ramp_check")  # a store failure or a write that times out: the next check runs
    async def check_all() -> None:
        if config.ready.is_set():
            await scheduler.check_all()


class RampScheduler:
    def __init__(self, app: faust.App, settings: Settings, config: ConfigService,
                 store: ResultsStore) -> None:
        self.app, self.settings, self.store = app, settings, store
        self.config = config
        self.admin = ExperimentAdmin(config)
        self.alerted: dict[tuple[str, int], set[str]] = {}  # (key, phase) → alert ids recorded

    async def check_all(self) -> None:
        for experiment in self.config.state.snapshot().config.experiments:
            if experiment.status is Status.ACTIVE and (experiment.ramp or experiment.guardrails):
                try:
                    await self.check(experiment)
                except SinkError as exc:
                    log.warning("ramp checks skipped: %s", exc)
                    return  # the store is down: the next interval tries again
                except Exception:  # one experiment's failure must not stop the others' checks
                    metrics.TIMER_FAILURES.labels("ramp_check").inc()
                    log.exception("ramp check of %s failed", experiment.key)

    async def check(self, experiment: Experiment) -> None:
        key, phase = experiment.key, experiment.phase
        breaches = [v for v in await self._guardrails(experiment) if v.breached]
        if breaches:
            await self._roll_back(experiment, breaches)
            return
        state = ramp_state_of(experiment)
        if not experiment.ramp or state.suspended is not None:
            return
        counts = await self.store.call(partial(exposed_users, experiment=key, phase=phase))
        srm = check_srm(counts, experiment.weights)
        if srm.mismatch:
            await self._act(experiment, {}, f"ramp stopped: sample-ratio mismatch, {counts} "
                            f"against expected shares {srm.expected_share}",
                            stop=True)
            return
        status = progress(experiment, sum(counts.values()), datetime.now(UTC))
        if status is None or status.state != "ready" or status.next_coverage is None:
            return
        step = experiment.ramp[state.step]
        await self._act(experiment, {"coverage": status.next_coverage},
                        f"ramp step {state.step + 2} of {len(experiment.ramp)}: coverage "
                        f"{step.coverage:g} % → {status.next_coverage:g} % after "
                        f"{step.min_hours:g}+ hours and {sum(counts.values()):,} exposed users "
                        f"(at least {step.min_exposed:,}); no SRM, no guardrail breached")

    async def _guardrails(self, experiment: Experiment) -> list[GuardrailVerdict]:
        if not experiment.guardrails:
            return []
        totals = await self.store.call(partial(variant_totals, experiment=experiment.key))
        kinds = {m.key: m.kind.value for m in experiment.metrics}
        return check_guardrails(guarded_metrics(experiment.guardrails, kinds),
                                [v.key for v in experiment.variants],
                                [t for t in totals if t.phase == experiment.phase])

    async def _roll_back(self, experiment: Experiment, breaches: list[GuardrailVerdict]) -> None:
        action = experiment.on_breach or BreachAction.PAUSE
        evidence = "; ".join(v.evidence() for v in breaches)
        await self._alert_once(experiment, breaches, action)
        log.warning("guardrail breached in %s phase %d: %s", experiment.key, experiment.phase,
                    evidence)
        if action is BreachAction.PAUSE:
            await self._act(experiment, {"status": Status.PAUSED.value},
                            f"guardrail breached, paused: {evidence}", stop=True)
        elif experiment.ramp and ramp_state_of(experiment).suspended is None:
            await self._act(experiment, {}, f"guardrail breached (alert only): {evidence}",
                            stop=True)

    async def _alert_once(self, experiment: Experiment, breaches: list[GuardrailVerdict],
                          action: BreachAction) -> None:
        """A row and a message per breach and phase; a new leader reads which exist."""
        phase = (experiment.key, experiment.phase)
        if phase not in self.alerted:
            self.alerted[phase] = set(await self.store.call(partial(
                recorded_alerts, experiment=experiment.key, phase=experiment.phase)))
        now = int(time.time() * 1000)
        rows = [row for v in breaches
                if (row := _alert_row(experiment, v, action, now))[0] not in self.alerted[phase]]
        if not rows:
            return
        await self.store.call(partial(_insert_alerts, rows=rows))
        for row in rows:
            await self._send_alert(dict(zip(GUARDRAIL_ALERT_COLUMNS, row, strict=True)))
            self.alerted[phase].add(row[0])
        metrics.GUARDRAIL_BREACHES.labels(experiment.key).inc(len(rows))

    async def _act(self, experiment: Experiment, patch: dict, reason: str,
                   stop: bool = False) -> None:
        try:
            _, version = self.admin.get(experiment.key)
            if version != experiment.version:
                return  # changed since this check read it: the next check decides again
            await self.admin.act(experiment.key, patch, version, SCHEDULER, reason[:1000],
                                 stop_ramp=reason[:1000] if stop and experiment.ramp else None)
        except AdminError as exc:
            log.error("scheduler could not change %s: %s", experiment.key, exc)

    async def _send_alert(self, row: dict) -> None:
        alert = encode("guardrail_alert", {**{k: v for k, v in row.items()
                                              if k != "detected_at_ms"},
                                           "relative": bool(row["relative"]),
                                           "higher_is_better": bool(row["higher_is_better"]),
                                           "detected_at": row["detected_at_ms"]})
        await self.app.producer.send(self.settings.topics.alerts, row["experiment"].encode(),
                                     alert, None, None, alert_headers("guardrail_alert"))


def _alert_row(experiment: Experiment, verdict: GuardrailVerdict, action: BreachAction,
               now: int) -> tuple:
    alert_id = f"{experiment.key}/{experiment.phase}/{verdict.metric}/{verdict.variant}"
    return (alert_id, experiment.key, experiment.phase, verdict.metric, verdict.variant,
            int(verdict.relative), int(verdict.higher_is_better), verdict.margin,
            verdict.estimate, verdict.bound, verdict.harm_bound, verdict.control_n,
            verdict.treatment_n, action.value, now)


def _insert_alerts(sink: Sink, rows: list[tuple]) -> int:
    return sink.insert("guardrail_alerts", GUARDRAIL_ALERT_COLUMNS, rows)


def recorded_alerts(sink: Sink, experiment: str, phase: int) -> list[str]:
    """The guardrail alerts already recorded for the experiment's phase."""
    rows = sink.query(f"SELECT DISTINCT alert_id FROM {sink.database}.guardrail_alerts "
                      "WHERE experiment = %(experiment)s AND phase = %(phase)s",
                      {"experiment": experiment, "phase": phase})
    return [row[0] for row in rows]
