"""The worker's log format: mode's text lines, or one JSON object per line.

With ``ABSTREAM_LOG_FORMAT=json`` every record — abstream's, Faust's, mode's,
aiokafka's — is written as one line of JSON to standard error::

    {"time": "2026-01-31T12:00:00.123Z", "level": "INFO", "logger": "faust.worker",
     "message": "...", "exc_info": "Traceback (most recent call last): ..."}

``exc_info`` (the formatted traceback) is there only when the record carries an
exception. The configuration is a `logging.config.dictConfig` dictionary that the
worker hands to Faust's `Worker` (``logging_config``), which installs it when it
starts, in place of its own handlers.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
import sys
import threading
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON: time (ISO 8601, UTC), level, logger, message, and
    exc_info / stack_info when the record has them."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
        }
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        # json.dumps escapes newlines: a traceback stays on its record's line.
        return json.dumps(entry, ensure_ascii=False, default=str)


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a bad format string must not turn into a plain-text logging error
        return f"{record.msg!r} % {record.args!r}"


def logging_config(level: str, log_format: str) -> dict[str, Any] | None:
    """The `dictConfig` for `level` and `log_format`; None leaves mode's own (text) setup."""
    if log_format == "text":
        return None
    if log_format != "json":
        raise ValueError(f"unknown log format {log_format!r}: use one of {LOG_FORMATS}")
    name = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,  # aiokafka's and Faust's loggers exist already
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "json",
                                 "level": name, "stream": "ext://sys.stderr"}},
        "root": {"level": name, "handlers": ["default"]},
    }


def configure_json_logging(level: str) -> None:
    """Log as JSON from now on, before Faust's worker starts: what happens while topics
    are prepared, warnings, and exceptions nobody caught are records too."""
    config = logging_config(level, "json")
    assert config is not None
    logging.config.dictConfig(config)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(kind: type[BaseException], value: BaseException,
                  traceback: TracebackType | None) -> None:
    logging.getLogger("abstream").critical("uncaught exception: %r", value,
                                           exc_info=(kind, value, traceback))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    logging.getLogger("abstream").critical(
        "uncaught exception in thread %s: %r", getattr(args.thread, "name", "?"),
        args.exc_value, exc_info=(args.exc_type, args.exc_value, args.exc_traceback))


_CREDENTIALS = re.compile(r"(authorization\s*:\s*)[^\r\n'\"]*", re.IGNORECASE)


def without_credentials(text: str) -> str:
    """`text` with the value of every Authorization header it quotes replaced by ***."""
    return _CREDENTIALS.sub(r"\1***", text)


class CredentialsFilter(logging.Filter):
    """Keeps bearer tokens out of the logs: aiohttp's parser errors quote the raw header
    line that failed, Authorization included."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = without_credentials(
                logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        record.msg = without_credentials(_message(record))
        record.args = None
        return True


def keep_credentials_out_of_http_logs() -> None:
    """On the loggers aiohttp's request handling writes to (the app's and the server's)."""
    for name in ("aiohttp.web", "aiohttp.server"):
        logging.getLogger(name).addFilter(CredentialsFilter())
