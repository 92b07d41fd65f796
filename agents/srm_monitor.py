"""The SRM monitor: on the leader worker, every `ABSTREAM_SRM_CHECK_INTERVAL_S`, each
active experiment's current phase is checked for a sample-ratio mismatch
(`analysis.srm_check`) against its allocation.

A confirmed mismatch is recorded once per phase (by this worker): a row in
`srm_alerts`, an `SrmAlert` on `<prefix>.alerts`, and `abstream_srm_mismatch`
set to 1; the experiment is also paused, by the actor `srm-monitor`, with the
reason in its history, when its `on_breach` is `pause` (unset: when
`ABSTREAM_SRM_PAUSE=true`). A pause suspends its ramp, if it has one.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from functools import partial

import faust

from agents import metrics
from agents.config_service import ConfigService
from agents.experiment_admin import AdminError, ExperimentAdmin
from agents.results_store import ResultsStore
from agents.timers import guarded
from analysis.srm_check import SrmVerdict, check_srm
from experiments.model import BreachAction, Experiment, Status
from schemas import alert_headers, encode
from sinks import Sink, SinkError
from sinks.tables import SRM_ALERT_COLUMNS
from sinks.totals import exposed_users
from topology.settings import Settings

log = logging.getLogger(__name__)
ACTOR = "srm-monitor"


def register_srm_monitor(app: faust.App, settings: Settings, config: ConfigService,
                         store: ResultsStore) -> None:
    alerted: set[tuple[str, int]] = set()

    @app.timer(settings.srm_check_interval_s, on_leader=True)
    @guarded("srm_check")  # a store failure or a pause that times out: the next check runs
    async def check_all() -> None:
        if not config.ready.is_set():
            return
        for experiment in config.state.snapshot().config.experiments:
            if experiment.status is not Status.ACTIVE:
                _clear_gauges(experiment.key)  # a paused experiment's alert resolves
                continue
            try:
                counts = await store.call(partial(exposed_users, experiment=experiment.key,
                                                  phase=experiment.phase))
            except SinkError as exc:
                log.warning("SRM check skipped: %s", exc)
                return
            verdict = check_srm(counts, experiment.weights)
            metrics.SRM_MISMATCH.labels(experiment.key).set(int(verdict.mismatch))
            if verdict.sequential is not None:
                metrics.SRM_P_VALUE.labels(experiment.key).set(verdict.sequential.p_value)
            if not verdict.mismatch:
                continue
            if (experiment.key, experiment.phase) not in alerted:
                await _alert(app, settings, store, experiment, verdict)
                alerted.add((experiment.key, experiment.phase))
            action = experiment.on_breach or (BreachAction.PAUSE if settings.srm_pause
                                              else BreachAction.ALERT)
            if action is BreachAction.PAUSE:  # until it is paused: a lost write is retried
                await _pause(config, experiment, verdict)


def _clear_gauges(key: str) -> None:
    for gauge in (metrics.SRM_MISMATCH, metrics.SRM_P_VALUE):
        with contextlib.suppress(KeyError):  # never set for this experiment
            gauge.remove(key)


async def _alert(app: faust.App, settings: Settings, store: ResultsStore,
                 experiment: Experiment, verdict: SrmVerdict) -> None:
    if verdict.chi_square is None or verdict.sequential is None:
        return  # no users: never a mismatch
    alert_id, now = uuid.uuid4().hex, int(time.time() * 1000)
    variants = list(verdict.counts)
    row = (alert_id, experiment.key, experiment.phase, variants,
           [verdict.counts[v] for v in variants], [verdict.expected_share[v] for v in variants],
           verdict.chi_square.p_value, verdict.sequential.p_value, now)
    log.warning("sample-ratio mismatch in %s phase %d: %s (expected shares %s)",
                experiment.key, experiment.phase, verdict.counts, verdict.expected_share)
    await store.call(partial(_insert_alert, row=row))
    alert = encode("srm_alert", {
        "alert_id": alert_id, "experiment": experiment.key, "phase": experiment.phase,
        "test": "sequential", "observed": verdict.counts,
        "expected_share": verdict.expected_share, "p_value": verdict.sequential.p_value,
        "statistic": verdict.sequential.log_bayes_factor, "detected_at": now})
    await app.producer.send(settings.topics.alerts, experiment.key.encode(), alert,
                            None, None, alert_headers("srm_alert"))


async def _pause(config: ConfigService, experiment: Experiment, verdict: SrmVerdict) -> None:
    if verdict.sequential is None:
        return
    reason = (f"sample-ratio mismatch: {verdict.counts} against expected shares "
              f"{verdict.expected_share} (p = {verdict.sequential.p_value:.2g})")
    admin = ExperimentAdmin(config)
    try:
        current, version = admin.get(experiment.key)
        if current["status"] == Status.ACTIVE.value:  # paused meanwhile: nothing to do
            await admin.act(experiment.key, {"status": "paused"}, version, ACTOR, reason)
    except AdminError as exc:
        log.error("could not pause %s after its SRM (the next check tries again): %s",
                  experiment.key, exc)


def _insert_alert(sink: Sink, row: tuple) -> int:
    return sink.insert("srm_alerts", SRM_ALERT_COLUMNS, [row])
