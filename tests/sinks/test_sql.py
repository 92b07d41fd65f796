from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from sinks.sql import identifier, literal, render


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "NULL"),
        (True, "1"),
        (False, "0"),
        (-42, "-42"),
        (18446744073709551615, "18446744073709551615"),
        (1.5, "1.5"),
        (float("inf"), "inf"),
        ("plain", "'plain'"),
        ("it's", "'it\\'s'"),
        ("back\\slash", "'back\\\\slash'"),
        ("line\nbreak\ttab\0nul", "'line\\nbreak\\ttab\\0nul'"),
        ("ünïcødé ✓", "'ünïcødé ✓'"),
        (date(2026, 1, 2), "'2026-01-02'"),
        (datetime(2026, 1, 2, 3, 4, 5), "'2026-01-02 03:04:05'"),
        ([1, "a"], "[1, 'a']"),
        ((1, None), "(1, NULL)"),
    ],
    ids=repr,
)
def test_literal(value: object, expected: str) -> None:
    assert literal(value) == expected


def test_aware_datetimes_are_converted_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert literal(datetime(2026, 1, 2, 5, 0, 0, tzinfo=plus_two)) == "'2026-01-02 03:00:00'"
    assert literal(datetime(2026, 1, 2, 5, 0, 0, tzinfo=UTC)) == "'2026-01-02 05:00:00'"


def test_unsupported_types_are_refused() -> None:
    with pytest.raises(TypeError, match="set"):
        literal({1, 2})


def test_render_substitutes_named_parameters() -> None:
    sql = "SELECT * FROM t WHERE a = %(a)s AND b IN %(b)s AND c LIKE 'x%%'"
    assert render(sql, {"a": "o'k", "b": (1, 2)}) == (
        "SELECT * FROM t WHERE a = 'o\\'k' AND b IN (1, 2) AND c LIKE 'x%'"
    )
    assert render("SELECT 1", None) == "SELECT 1"


@pytest.mark.parametrize("name", ["users", "_x1", "Exposures_Raw"])
def test_identifier_accepts_plain_names(name: str) -> None:
    assert identifier(name) == name


@pytest.mark.parametrize("name", ["", "1abc", "a-b", "a; DROP TABLE x", "a.b", "`a`"])
def test_identifier_rejects_anything_else(name: str) -> None:
    with pytest.raises(ValueError, match="identifier"):
        identifier(name)
