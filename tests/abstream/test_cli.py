"""The command as its users meet it: the help, and a worker that is not there."""

from __future__ import annotations

import pytest

from abstream.cli import build_parser, main


def test_help_says_what_abstream_is_and_where_to_start() -> None:
    text = build_parser().format_help()
    assert "A/B test" in text
    assert "abstream infra up" in text and "abstream worker" in text
    assert "parses arguments" not in text  # about the user's job, not the code


def test_an_unreachable_worker_is_reported_with_how_to_start_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ABSTREAM_API_URL", "http://127.0.0.1:1")
    assert main(["results", "checkout"]) == 1
    err = capsys.readouterr().err
    assert "HTTP 0" not in err
    assert "no abstream worker answers at http://127.0.0.1:1" in err
    assert "abstream worker" in err and "ABSTREAM_API_URL" in err
