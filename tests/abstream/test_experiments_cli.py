"""What `abstream experiments` prints from the server is shown, never interpreted."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from abstream import experiments_cli
from abstream.admin_client import ApiError
from abstream.experiments_cli import printable

HOSTILE = "ok\nforged line\x1b[2J\x9b31m\u202eevil\x00"


def test_control_characters_are_escaped() -> None:
    assert printable(HOSTILE) == "ok\\nforged line\\x1b[2J\\x9b31m\\u202eevil\\x00"
    assert printable("naïve café 日本 ✓") == "naïve café 日本 ✓"


class FakeClient:
    def __init__(self, *_: Any) -> None:
        pass

    def get(self, path: str) -> Any:
        entry = {"version_after": 2, "action": "update", "actor": "al\x1bice",
                 "reason": HOSTILE, "diff": {"description": ["a", "b\nc"]}}
        return {"history": [entry]}


def test_history_prints_reasons_escaped(monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("abstream.admin_client.AdminClient", FakeClient)
    args = argparse.Namespace(action="history", key="e")
    settings = argparse.Namespace(api_url="http://x", api_token=None)
    experiments_cli.run_experiments_command(args, settings)  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "\x1b" not in out and "\x9b" not in out
    assert "ok\\nforged line\\x1b[2J" in out and "al\\x1bice" in out


def test_server_errors_are_escaped() -> None:
    error = ApiError(422, "bad\x1b[31m", ["field\nforged: detail"])
    assert "\x1b" not in str(error) and "field\\nforged: detail" in str(error)
