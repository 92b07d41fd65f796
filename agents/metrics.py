"""Prometheus metrics of a worker, served at /metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from experiments import ConfigSnapshot, ExperimentClient

EVENTS_IN = Counter("abstream_events_in_total", "Messages read by the join", ["topic"])
DUPLICATES = Counter("abstream_duplicates_total", "Events dropped as duplicates", ["topic"])
REPLAYED = Counter("abstream_replayed_total", "Messages already applied, seen again")
DEAD_LETTERS = Counter("abstream_dead_letters_total", "Input sent to the dead-letter topic",
                       ["topic", "reason"])
LATE_EVENTS = Counter("abstream_late_events_total", "Events too old to deduplicate safely")
LATE_EXPOSURES = Counter("abstream_late_exposures_total",
                         "Exposures older than the grace period: attribution may be inexact")
EXPOSURE_MISMATCHES = Counter(
    "abstream_exposure_mismatches_total",
    "Exposures of the current phase whose variant the config does not assign the user",
    ["experiment"])
MULTIPLE_EXPOSURES = Counter("abstream_multiple_exposures_total",
                             "Exposures to a second variant in the same phase")
FACTS = Counter("abstream_facts_emitted_total", "Per-user fact rows emitted")
EVENT_TIME_LAG = Gauge("abstream_event_time_lag_seconds",
                       "Wall clock minus the newest event time seen")
USERS = Gauge("abstream_users_in_state", "Users whose state this worker holds")
POSITION_GAPS = Counter("abstream_position_gaps_total",
                        "Partitions read past a reader's kept position, sought back",
                        ["reader"])
RECORDS_READ_AGAIN = Counter("abstream_records_read_again_total",
                             "Records before a reader's kept position, read again and skipped",
                             ["reader"])
REPARTITIONED = Counter("abstream_repartitioned_total",
                        "Messages read by the repartition step", ["topic"])
SINK_ROWS = Counter("abstream_sink_rows_total", "Rows written to the results store", ["table"])
SINK_ERRORS = Counter("abstream_sink_errors_total", "Failed writes to the results store (retried)")
SINK_LAG = Gauge("abstream_sink_lag_seconds",
                 "Wall clock minus when the newest fact written to the store was produced")
SRM_MISMATCH = Gauge("abstream_srm_mismatch", "1 while a sample-ratio mismatch is confirmed",
                     ["experiment"])
LEADER = Gauge("abstream_leader", "1 on the worker that runs the leader's timers "
               "(SRM monitor, ramp scheduler)")
GUARDRAIL_BREACHES = Counter("abstream_guardrail_breaches_total",
                             "Guardrail metrics shown worse than their margin (once per phase)",
                             ["experiment"])
SRM_P_VALUE = Gauge("abstream_srm_p_value", "The sequential SRM test's p-value",
                    ["experiment"])
CONSUMER_LAG = Gauge("abstream_consumer_lag_messages",
                     "Messages of an assigned input partition not yet committed",
                     ["topic", "partition"])
# Assignment is pure and in-process: buckets from 50 µs to 100 ms.
ASSIGNMENT_SECONDS = Histogram(
    "abstream_assignment_seconds", "Time to answer an assignment lookup",
    buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1))
TIMER_FAILURES = Counter("abstream_timer_failures_total",
                         "Runs of a timer that failed (logged; the timer goes on)", ["timer"])


class ReadPathStats(Collector):
    """The read path's own counters (pure code keeps plain integers) as Prometheus counters,
    read at each scrape. Each config version has its own `ReadStats`: the errors of the
    versions seen before are carried over, so the counter never goes down."""

    def __init__(self, snapshot: Callable[[], ConfigSnapshot], client: ExperimentClient) -> None:
        self._snapshot, self._client = snapshot, client
        self._earlier_errors, self._stats = 0, snapshot().stats

    def collect(self) -> Iterator[CounterMetricFamily]:
        stats = self._snapshot().stats
        if stats is not self._stats:
            self._earlier_errors += self._stats.errors
            self._stats = stats
        client = self._client.stats
        for name, text, value in (
            ("assignment_errors", "Lookups that failed and answered control",
             self._earlier_errors + stats.errors),
            ("exposures_logged", "Exposures the API's activations logged",
             client.exposures_logged),
            ("exposures_deduplicated", "Activations already logged for the user and phase",
             client.exposures_deduplicated),
            ("exposure_logger_errors", "Exposures that could not be logged",
             client.logger_errors),
        ):
            yield CounterMetricFamily(f"abstream_{name}", text, value=value)
