"""The join's own Avro writer for facts against fastavro's, byte for byte."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agents.fact_records import FactEncoder, fact_record
from experiments.facts import Fact
from schemas import current_registry, decode, encode

texts = st.text(max_size=40)
longs = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
doubles = st.floats(allow_nan=False)
facts = st.builds(
    Fact, texts, st.integers(min_value=-(1 << 31), max_value=(1 << 31) - 1), texts, texts,
    longs, st.dictionaries(texts, texts, max_size=4), st.dictionaries(texts, doubles, max_size=6),
    st.dictionaries(texts, doubles, max_size=6), st.booleans(), longs)


@settings(max_examples=400, deadline=None)
@given(facts)
def test_a_fact_is_written_as_fastavro_writes_it(fact: Fact) -> None:
    written = FactEncoder(current_registry())(fact)
    assert written == encode("fact", fact_record(fact))
    assert decode("fact", written) == fact_record(fact)


def test_the_constant_parts_made_once_are_the_same_on_every_fact() -> None:
    encoder = FactEncoder(current_registry())
    base = Fact("exp", 1, "a", "u1", 1_700_000_000_000, {"platform": "ios"},
                {"n": 1.0, "rev:num": 2.5, "rev:den": 1.0}, {"n": 0.0}, False, 3)
    for user_id, version in (("u2", 4), ("u1", 70), ("ü" * 80, 1 << 40)):
        fact = base._replace(user_id=user_id, version=version)
        assert encoder(fact) == encode("fact", fact_record(fact))
