from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from errors import AbstreamError
from sinks.urls import redact


class SinkError(AbstreamError):
    """The results store refused a statement or could not be reached."""


@contextmanager
def store_failures(url: str, failures: tuple[type[BaseException], ...],
                   doing: str = "") -> Iterator[None]:
    """The one place a backend's driver failures become SinkErrors: callers (the writers'
    retries, the results API's 503) handle one error, which names the store without its
    password."""
    try:
        yield
    except SinkError:
        raise
    except failures as exc:
        raise SinkError(f"{redact(url)}: {doing}{exc}") from exc
