"""Table definitions and rows, in SQL that runs on ClickHouse 18.16 and on current ClickHouse.

`sinks.migrations` creates the tables.
"""

from __future__ import annotations

from typing import Any

from experiments.facts import NUMERATOR, metric_of, ratio_keys

EXPOSURE_COLUMNS = (
    "event_id", "user_id", "experiment", "variant", "phase", "config_version",
    "timestamp_ms", "received_at_ms", "source", "is_override", "mismatched",
)

# One row per exposure event; a replayed event_id collapses on merge (or with FINAL).
# `mismatched` (added by migration 5): the variant is not the one the config assigns.
EXPOSURES_RAW = """
CREATE TABLE IF NOT EXISTS {database}.exposures_raw (
    event_id String,
    user_id String,
    experiment String,
    variant String,
    phase UInt32,
    config_version UInt64,
    timestamp_ms Int64,
    received_at_ms Int64,
    source String,
    is_override UInt8
) ENGINE = ReplacingMergeTree()
ORDER BY (experiment, user_id, event_id)
"""


USER_METRIC_COLUMNS = (
    "experiment", "phase", "variant", "user_id", "metric", "value", "covariate",
    "denominator", "denominator_covariate", "first_exposure_ms", "multiple_exposures",
    "dimension_names", "dimension_values", "version",
)

# One row per user, experiment phase and metric, from the facts topic, keyed without the
# variant: the row of the highest version is the user's (with FINAL, or after merges), so
# a newer fact that says another variant replaces the older row. Ratio metrics carry
# their denominator (and its covariate) beside the numerator.
USER_METRICS_DDL = """
CREATE TABLE IF NOT EXISTS {database}.{table} (
    experiment String,
    phase UInt32,
    variant String,
    user_id String,
    metric String,
    value Float64,
    covariate Float64,
    denominator Float64,
    denominator_covariate Float64,
    first_exposure_ms Int64,
    multiple_exposures UInt8,
    dimension_names Array(String),
    dimension_values Array(String),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (experiment, phase, metric, user_id)
"""
USER_METRICS = USER_METRICS_DDL.format(database="{database}", table="user_metrics")


def user_metric_rows(fact: dict[str, Any]) -> list[tuple[Any, ...]]:
    """A decoded Fact record as `user_metrics` rows, one per metric."""
    values, covariates = fact["values"], fact["covariates"]
    names = sorted(fact["attributes"])
    head = (fact["experiment"], fact["phase"], fact["variant"], fact["user_id"])
    tail = (fact["first_exposure"], int(fact["multiple_exposures"]), names,
            [fact["attributes"][name] for name in names], fact["version"])
    rows = []
    for key in sorted(values):
        metric, part = metric_of(key)
        if part is None:
            measures = (values[key], covariates.get(key, 0.0), 0.0, 0.0)
        elif part == NUMERATOR:
            num, den = ratio_keys(metric)
            measures = (values[num], covariates.get(num, 0.0), values[den],
                        covariates.get(den, 0.0))
        else:
            continue  # a denominator: in its numerator's row
        rows.append((*head, metric, *measures, *tail))
    return rows


def exposure_row(exposure: dict[str, Any], mismatched: bool = False) -> tuple[Any, ...]:
    """A decoded Exposure record as an `exposures_raw` row."""
    return (
        exposure["event_id"], exposure["user_id"], exposure["experiment"], exposure["variant"],
        exposure["phase"], exposure["config_version"], exposure["timestamp"],
        exposure["received_at"], exposure["source"], int(exposure["override"]),
        int(mismatched),
    )


SRM_ALERT_COLUMNS = (
    "alert_id", "experiment", "phase", "variants", "observed", "expected_share",
    "p_value", "p_value_sequential", "detected_at_ms",
)

# One row per sample-ratio mismatch found (see agents.srm_monitor).
SRM_ALERTS = """
CREATE TABLE IF NOT EXISTS {database}.srm_alerts (
    alert_id String,
    experiment String,
    phase UInt32,
    variants Array(String),
    observed Array(UInt64),
    expected_share Array(Float64),
    p_value Float64,
    p_value_sequential Float64,
    detected_at_ms Int64
) ENGINE = ReplacingMergeTree()
ORDER BY (experiment, phase, alert_id)
"""

GUARDRAIL_ALERT_COLUMNS = (
    "alert_id", "experiment", "phase", "metric", "variant", "relative", "higher_is_better",
    "margin", "estimate", "bound", "harm_bound", "control_n", "treatment_n", "action",
    "detected_at_ms",
)

# One row per guardrail shown breached in a phase (see agents.ramp_scheduler); the alert
# id names experiment, phase, metric and variant, so a second leader's row replaces it.
GUARDRAIL_ALERTS = """
CREATE TABLE IF NOT EXISTS {database}.guardrail_alerts (
    alert_id String,
    experiment String,
    phase UInt32,
    metric String,
    variant String,
    relative UInt8,
    higher_is_better UInt8,
    margin Float64,
    estimate Float64,
    bound Float64,
    harm_bound Float64,
    control_n UInt64,
    treatment_n UInt64,
    action String,
    detected_at_ms Int64
) ENGINE = ReplacingMergeTree()
ORDER BY (experiment, phase, alert_id)
"""


EVENT_COLUMNS = (
    "event_id", "user_id", "name", "value", "timestamp_ms", "received_at_ms",
    "attribute_names", "attribute_values",
)

# One row per goal event; a replayed event_id collapses on merge (or with FINAL).
EVENTS_RAW = """
CREATE TABLE IF NOT EXISTS {database}.events_raw (
    event_id String,
    user_id String,
    name String,
    value Float64,
    timestamp_ms Int64,
    received_at_ms Int64,
    attribute_names Array(String),
    attribute_values Array(String)
) ENGINE = ReplacingMergeTree()
ORDER BY (name, user_id, event_id)
"""

DEAD_LETTER_COLUMNS = ("topic", "partition", "offset", "source_topic", "key", "payload",
                       "error", "received_at_ms", "source")

# One row per dead letter, by its position in the dead-letter topic: written twice, kept once.
DEAD_LETTERS = """
CREATE TABLE IF NOT EXISTS {database}.dead_letters (
    topic String,
    partition UInt32,
    offset UInt64,
    source_topic String,
    key String,
    payload String,
    error String,
    received_at_ms Int64,
    source String
) ENGINE = ReplacingMergeTree()
ORDER BY (topic, partition, offset)
"""

AUDIT_COLUMNS = ("change_id", "kind", "key", "action", "actor", "time_ms", "reason",
                 "version_before", "version_after", "before", "after", "diff", "summary")

# The config audit trail, one row per change.
EXPERIMENT_AUDIT = """
CREATE TABLE IF NOT EXISTS {database}.experiment_audit (
    change_id String,
    kind String,
    key String,
    action String,
    actor String,
    time_ms Int64,
    reason String,
    version_before Int64,
    version_after Int64,
    before String,
    after String,
    diff String,
    summary String
) ENGINE = ReplacingMergeTree()
ORDER BY (kind, key, time_ms, change_id)
"""


def event_row(event: dict[str, Any]) -> tuple[Any, ...]:
    names = sorted(event["attributes"])
    return (event["event_id"], event["user_id"], event["name"], event["value"] or 0.0,
            event["timestamp"], event["received_at"], names,
            [event["attributes"][n] for n in names])


def dead_letter_row(letter: dict[str, Any], topic: str, partition: int,
                    offset: int) -> tuple[Any, ...]:
    # Keys and payloads are bytes of any kind: kept as text, undecodable bytes escaped.
    return (topic, partition, offset, letter["topic"],
            (letter["key"] or b"").decode("utf-8", "backslashreplace"),
            letter["payload"].decode("utf-8", "backslashreplace"), letter["error"],
            letter["received_at"], letter["source"])


def audit_row(record: dict[str, Any]) -> tuple[Any, ...]:
    return (record["change_id"], record["kind"], record["key"], record["action"],
            record["actor"], record["time"], record["reason"], record["version_before"],
            record["version_after"], record["before"] or "", record["after"] or "",
            record["diff"], record["summary"])

POSITION_COLUMNS = ("reader", "topic", "partition", "next_offset")

# Where each sink writer stands per partition, written right after its rows: the highest
# next offset is the one that counts (topology/positions.py).
SINK_POSITIONS = """
CREATE TABLE IF NOT EXISTS {database}.sink_positions (
    reader String,
    topic String,
    partition UInt32,
    next_offset UInt64
) ENGINE = ReplacingMergeTree(next_offset)
ORDER BY (reader, topic, partition)
"""
