"""The worker's JSON log lines."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from datetime import datetime

import pytest

from topology.logs import JsonFormatter, logging_config


def record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.LogRecord("faust.worker", logging.WARNING, __file__, 1, message, args,
                             exc_info)


def test_a_record_is_one_line_of_json_with_time_level_logger_message() -> None:
    line = JsonFormatter().format(record("partitions %s\nassigned", {1, 2}))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry.keys() == {"time", "level", "logger", "message"}
    assert entry["level"] == "WARNING" and entry["logger"] == "faust.worker"
    assert entry["message"] == "partitions {1, 2}\nassigned"
    assert entry["time"].endswith("Z")
    assert datetime.fromisoformat(entry["time"]).utcoffset().total_seconds() == 0


def test_an_exception_comes_with_its_traceback() -> None:
    try:
        raise ValueError("broken")
    except ValueError as exc:
        caught = exc
    entry = json.loads(JsonFormatter().format(record("it failed", exc=caught)))
    assert entry["message"] == "it failed"
    assert entry["exc_info"].startswith("Traceback (most recent call last):")
    assert entry["exc_info"].endswith("ValueError: broken")


def test_a_message_that_does_not_format_is_still_logged() -> None:
    entry = json.loads(JsonFormatter().format(record("%d users", "many")))
    assert "users" in entry["message"] and "many" in entry["message"]


def test_text_keeps_modes_own_setup_and_unknown_formats_are_refused() -> None:
    assert logging_config("info", "text") is None
    with pytest.raises(ValueError, match="xml"):
        logging_config("info", "xml")


def test_the_json_config_installs_a_handler_at_the_level() -> None:
    config = logging_config("warning", "json")
    assert config is not None
    # The same config, on a logger of its own rather than the test run's root logger.
    config["loggers"] = {"abstream.test_logs": {**config.pop("root"), "propagate": False}}
    logging.config.dictConfig(config)
    logger = logging.getLogger("abstream.test_logs")
    stream = io.StringIO()
    (handler,) = logger.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    try:
        logger.info("not shown")
        logger.warning("shown: %d", 7)
    finally:
        logger.handlers.clear()
    (line,) = stream.getvalue().splitlines()
    assert json.loads(line)["message"] == "shown: 7"
