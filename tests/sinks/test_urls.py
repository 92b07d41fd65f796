"""Store URLs in messages: the password never, the rest as written."""

from __future__ import annotations

import pytest

from abstream.cli import main
from sinks import SinkError, open_sink, redact


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("clickhouse://user:s3cret@127.0.0.1:1/db", "clickhouse://user:***@127.0.0.1:1/db"),
        ("clickhouse://user:p%40ss@host/db?timeout=3", "clickhouse://user:***@host/db?timeout=3"),
        ("clickhouse://:s3cret@host:9000/db", "clickhouse://:***@host:9000/db"),
        ("clickhouse://user@host:9000/db", "clickhouse://user@host:9000/db"),
        ("clickhouse://127.0.0.1:9000/abstream", "clickhouse://127.0.0.1:9000/abstream"),
        ("chdb:///var/lib/abstream?database=x", "chdb:///var/lib/abstream?database=x"),
        ("not a url", "not a url"),
    ],
)
def test_redact_hides_only_the_password(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_a_store_error_names_the_store_without_its_password() -> None:
    sink = open_sink("clickhouse://user:s3cret@127.0.0.1:1/db?connect_timeout=1")
    with pytest.raises(SinkError) as caught:
        sink.query("SELECT 1")
    assert "user:***@127.0.0.1:1/db" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_an_unknown_scheme_is_reported_without_the_password() -> None:
    with pytest.raises(SinkError) as caught:
        open_sink("clickhose://user:s3cret@host/db")
    assert "s3cret" not in str(caught.value) and "did you mean clickhouse://" in str(caught.value)


def test_settings_output_hides_passwords(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ABSTREAM_SINK_URL", "clickhouse://user:s3cret@db:9000/abstream")
    monkeypatch.setenv("ABSTREAM_CLICKHOUSE_URL", "clickhouse://admin:t0psecret@db:9000/x")
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert "ABSTREAM_SINK_URL=clickhouse://user:***@db:9000/abstream" in out
    assert "ABSTREAM_CLICKHOUSE_URL=clickhouse://admin:***@db:9000/x" in out
    assert "s3cret" not in out and "t0psecret" not in out
