import pytest

from sinks import BACKENDS, SinkError, open_sink


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        ("clickhose://127.0.0.1:9000/abstream", "did you mean clickhouse://"),
        ("chbd:///tmp/x", "did you mean chdb://"),
        ("postgres://localhost/db", "valid schemes: clickhouse://, chdb://"),
        ("127.0.0.1:9000", "valid schemes"),
    ],
)
def test_unknown_schemes_name_the_valid_ones(url: str, hint: str) -> None:
    with pytest.raises(SinkError, match=hint):
        open_sink(url)


def test_chdb_url_needs_a_directory() -> None:
    with pytest.raises(SinkError, match="needs a directory"):
        open_sink("chdb://")


def test_every_backend_is_registered_by_scheme() -> None:
    assert set(BACKENDS) == {"clickhouse", "chdb"}


def test_unreachable_server_is_a_sink_error() -> None:
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    sink = open_sink("clickhouse://127.0.0.1:1/abstream?connect_timeout=1")
    with pytest.raises(SinkError, match=r"127\.0\.0\.1:1"):
        sink.query("SELECT 1")
