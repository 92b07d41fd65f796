"""Prometheus metrics of a worker, served at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

EVENTS_IN = Counter("abstream_events_in_total", "Messages read by the join", ["topic"])
DUPLICATES = Counter("abstream_duplicates_total", "Events dropped as duplicates", ["topic"])
REPLAYED = Counter("abstream_replayed_total", "Messages already applied, seen again")
DEAD_LETTERS = Counter("abstream_dead_letters_total", "Input sent to the dead-letter topic",
                       ["topic", "reason"])
LATE_EVENTS = Counter("abstream_late_events_total", "Events too old to deduplicate safely")
LATE_EXPOSURES = Counter("abstream_late_exposures_total",
                         "Exposures older than the grace period: attribution may be inexact")
MULTIPLE_EXPOSURES = Counter("abstream_multiple_exposures_total",
                             "Exposures to a second variant in the same phase")
FACTS = Counter("abstream_facts_emitted_total", "Per-user fact rows emitted")
EVENT_TIME_LAG = Gauge("abstream_event_time_lag_seconds",
                       "Wall clock minus the newest event time seen")
USERS = Gauge("abstream_users_in_state", "Users whose state this worker holds")
REPARTITIONED = Counter("abstream_repartitioned_total",
                        "Messages read by the repartition step", ["topic"])
SINK_ROWS = Counter("abstream_sink_rows_total", "Rows written to the results store", ["table"])
SINK_ERRORS = Counter("abstream_sink_errors_total", "Failed writes to the results store (retried)")
SINK_LAG = Gauge("abstream_sink_lag_seconds",
                 "Wall clock minus when the newest fact written to the store was produced")
SRM_MISMATCH = Gauge("abstream_srm_mismatch", "1 while a sample-ratio mismatch is confirmed",
                     ["experiment"])
SRM_P_VALUE = Gauge("abstream_srm_p_value", "The sequential SRM test's p-value",
                    ["experiment"])
