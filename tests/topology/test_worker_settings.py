"""The worker's operational settings: log level and format, standby replicas."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from abstream import cli
from topology.app import create_app
from topology.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("LOG_LEVEL", "LOG_FORMAT", "STANDBY_REPLICAS"):
        monkeypatch.delenv(f"ABSTREAM_{name}", raising=False)
    monkeypatch.setenv("ABSTREAM_ENV_FILE", str(tmp_path / "absent.env"))


def test_defaults() -> None:
    settings = load_settings()
    assert (settings.log_level, settings.log_format, settings.standby_replicas) == (
        "info", "text", 1)


def test_values_are_read_whatever_their_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ABSTREAM_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("ABSTREAM_LOG_FORMAT", "Json")
    monkeypatch.setenv("ABSTREAM_STANDBY_REPLICAS", "0")
    settings = load_settings()
    assert (settings.log_level, settings.log_format, settings.standby_replicas) == (
        "warning", "json", 0)


def test_the_app_keeps_the_standby_replicas() -> None:
    app = create_app(load_settings(standby_replicas=2, stack="unit"))
    assert app.conf.table_standby_replicas == 2


@pytest.mark.parametrize(("argv", "level"), [
    (["worker"], "warning"),  # from ABSTREAM_LOG_LEVEL
    (["worker", "--loglevel", "debug"], "debug"),  # the option wins
])
def test_the_worker_takes_its_log_level_from_the_settings_unless_told(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], level: str
) -> None:
    seen: list[str] = []

    def run_worker(settings: Settings, loglevel: str | None = None) -> None:
        seen.append(loglevel or settings.log_level)

    monkeypatch.setenv("ABSTREAM_LOG_LEVEL", "warning")
    monkeypatch.setattr("abstream.worker.run_worker", run_worker)
    assert cli.main(argv) == 0
    assert seen == [level]


def test_the_readme_and_the_example_env_list_every_setting() -> None:
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    example = (root / "configs" / "settings.example.env").read_text()
    for name in Settings.model_fields:
        variable = f"ABSTREAM_{name.upper()}"
        assert f"`{variable}`" in readme, variable
        assert re.search(rf"^#?{variable}=", example, flags=re.MULTILINE), variable
