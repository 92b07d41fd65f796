from pathlib import Path

import pytest

from errors import SettingsError
from topology.settings import load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("ABSTREAM_KAFKA_BOOTSTRAP", "ABSTREAM_CLICKHOUSE_URL", "ABSTREAM_SINK_URL",
                 "ABSTREAM_API_TOKENS", "ABSTREAM_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ABSTREAM_ENV_FILE", str(tmp_path / "absent.env"))


def test_defaults_point_at_the_local_servers_and_embedded_chdb() -> None:
    settings = load_settings(local_dir=Path("/srv/ab"))
    assert settings.manages_kafka and settings.manages_clickhouse
    assert settings.bootstrap_servers == "127.0.0.1:19092"
    assert settings.clickhouse_server_url == "clickhouse://127.0.0.1:19000/abstream"
    assert settings.results_sink_url == "chdb:///srv/ab/chdb?database=abstream"
    assert settings.home == Path("/srv/ab/stacks/dev")
    assert settings.kafka_libs_dir == Path("/srv/ab/kafka/libs")


def test_environment_names_existing_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ABSTREAM_KAFKA_BOOTSTRAP", "broker-1:9092,broker-2:9092")
    monkeypatch.setenv("ABSTREAM_CLICKHOUSE_URL", "clickhouse://ch:9000/results")
    monkeypatch.setenv("ABSTREAM_TOPIC_PARTITIONS", "12")
    settings = load_settings()
    assert not settings.manages_kafka and not settings.manages_clickhouse
    assert settings.bootstrap_servers == "broker-1:9092,broker-2:9092"
    assert settings.clickhouse_server_url == "clickhouse://ch:9000/results"
    assert settings.topic_partitions == 12


def test_env_file_is_read_and_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env_file = tmp_path / "abstream.env"
    env_file.write_text("ABSTREAM_KAFKA_PORT=29999\nABSTREAM_DATABASE=from_file\n")
    monkeypatch.setenv("ABSTREAM_ENV_FILE", str(env_file))
    monkeypatch.setenv("ABSTREAM_DATABASE", "from_env")
    settings = load_settings()
    assert settings.kafka_port == 29999
    assert settings.database == "from_env"


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("ABSTREAM_KAFKA_PORT", "70000", "ABSTREAM_KAFKA_PORT: Input should be less than"),
        ("ABSTREAM_TOPIC_PARTITIONS", "zero", "ABSTREAM_TOPIC_PARTITIONS: Input should be a valid"),
        ("ABSTREAM_DATABASE", "drop table", "ABSTREAM_DATABASE: String should match pattern"),
        ("ABSTREAM_KAFKA_HEAP", "lots", "ABSTREAM_KAFKA_HEAP"),
        ("ABSTREAM_LOG_LEVEL", "verbose",
         "ABSTREAM_LOG_LEVEL: Input should be 'debug', 'info', 'warning' or 'error'"),
        ("ABSTREAM_LOG_FORMAT", "xml", "ABSTREAM_LOG_FORMAT: Input should be 'text' or 'json'"),
        ("ABSTREAM_STANDBY_REPLICAS", "-1",
         "ABSTREAM_STANDBY_REPLICAS: Input should be greater than or equal to 0"),
    ],
)
def test_invalid_settings_name_the_variable_and_reason(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=reason):
        load_settings()


def test_all_errors_are_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ABSTREAM_KAFKA_PORT", "0")
    monkeypatch.setenv("ABSTREAM_CLICKHOUSE_PORT", "-5")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "ABSTREAM_KAFKA_PORT" in str(raised.value)
    assert "ABSTREAM_CLICKHOUSE_PORT" in str(raised.value)


def test_api_tokens_name_their_actors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ABSTREAM_API_TOKENS", "alice:alice-token-1, bob:bob-token-22")
    settings = load_settings()
    assert {token: actor.name for token, actor in settings.token_actors.items()} == {
        "alice-token-1": "alice", "bob-token-22": "bob"}
    assert "alice-token-1" not in repr(settings)  # secrets stay out of logs


@pytest.mark.parametrize("value", ["alice", "alice:short", ":no-actor-token",
                                   "alice:alice-token-1:root", "a:same-token,b:same-token"])
def test_malformed_api_tokens_are_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ABSTREAM_API_TOKENS", value)
    with pytest.raises(SettingsError, match="ABSTREAM_API_TOKENS"):
        load_settings()
