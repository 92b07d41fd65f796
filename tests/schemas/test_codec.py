import pytest

from schemas import SchemaError, decode, encode, load_schema


def exposure(**changes: object) -> dict[str, object]:
    record = {
        "event_id": "e-1", "user_id": "ü-42", "experiment": "checkout", "variant": "green",
        "phase": 3, "config_version": 12, "timestamp": 1_795_000_000_000,
        "received_at": 1_795_000_000_250, "attributes": {"platform": "ios"},
        "source": "sdk", "override": False,
    }
    record.update(changes)
    return record


def test_exposure_round_trip() -> None:
    assert decode("exposure", encode("exposure", exposure())) == exposure()


def test_defaults_fill_optional_fields() -> None:
    minimal = {k: v for k, v in exposure().items()
               if k not in ("phase", "config_version", "attributes", "source", "override")}
    decoded = decode("exposure", encode("exposure", minimal))
    assert decoded["phase"] == 1 and decoded["attributes"] == {} and decoded["override"] is False


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"user_id": None}, "user_id"), ({"timestamp": "yesterday"}, "timestamp"),
     ({"attributes": {"a": 1}}, "attributes")],
)
def test_invalid_records_are_refused_naming_the_field(changes: dict, field: str) -> None:
    with pytest.raises(SchemaError, match=field):
        encode("exposure", exposure(**changes))


def test_missing_field_is_refused() -> None:
    record = exposure()
    del record["variant"]
    with pytest.raises(SchemaError, match="variant"):
        encode("exposure", record)


@pytest.mark.parametrize("payload", [b"", b"\xff\xff\xff", b"\x02"])
def test_garbage_bytes_raise_schema_error(payload: bytes) -> None:
    with pytest.raises(SchemaError, match="exposure"):
        decode("exposure", payload)


def test_trailing_bytes_are_an_error() -> None:
    with pytest.raises(SchemaError, match="trailing"):
        decode("exposure", encode("exposure", exposure()) + b"\x00")


def test_unknown_schema_name() -> None:
    with pytest.raises(SchemaError, match="no schema named 'nope'"):
        load_schema("nope")
