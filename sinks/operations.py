"""What the operations page reads from the results store: traffic, dead letters, alerts."""

from __future__ import annotations

from typing import Any

from sinks.base import Sink

SAMPLE_CHARS = 500  # of a dead letter's payload shown beside its reason


def recent_rows(sink: Sink, table: str, since_ms: int) -> int:
    """Rows of `exposures_raw` or `events_raw` received since `since_ms` (duplicates too)."""
    if table not in ("exposures_raw", "events_raw"):
        raise ValueError(f"not an input table: {table!r}")
    rows = sink.query(f"SELECT count() FROM {sink.database}.{table} "
                      "WHERE received_at_ms >= %(since)s", {"since": since_ms})
    return int(rows[0][0])


def dead_letters_by_reason(sink: Sink, since_ms: int) -> list[dict[str, Any]]:
    """Dead letters since `since_ms` per reason, the most frequent first, each with a sample."""
    rows = sink.query(
        f"SELECT error, source_topic, count() AS n, any(payload), max(received_at_ms) "
        f"FROM {sink.database}.dead_letters WHERE received_at_ms >= %(since)s "
        "GROUP BY error, source_topic ORDER BY n DESC, error LIMIT 50", {"since": since_ms})
    return [{"reason": error, "topic": topic, "count": int(n),
             "sample_payload": payload[:SAMPLE_CHARS], "latest_ms": int(latest)}
            for error, topic, n, payload, latest in rows]


def recent_srm_alerts(sink: Sink, limit: int = 50) -> list[dict[str, Any]]:
    rows = sink.query(
        f"SELECT alert_id, experiment, phase, variants, observed, expected_share, p_value, "
        f"p_value_sequential, detected_at_ms FROM {sink.database}.srm_alerts FINAL "
        f"ORDER BY detected_at_ms DESC LIMIT {int(limit)}")
    return [{"alert_id": a, "experiment": e, "phase": int(p), "variants": list(v),
             "observed": [int(n) for n in o], "expected_share": [float(s) for s in s_],
             "p_value": float(pv), "p_value_sequential": float(ps), "detected_at_ms": int(t)}
            for a, e, p, v, o, s_, pv, ps, t in rows]


def newest_exposures(sink: Sink) -> dict[str, int]:
    """Per experiment, the latest first exposure counted in `user_metrics` (freshness)."""
    rows = sink.query(f"SELECT experiment, max(first_exposure_ms) "
                      f"FROM {sink.database}.user_metrics GROUP BY experiment")
    return {experiment: int(newest) for experiment, newest in rows}
