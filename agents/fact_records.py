"""Facts as the records of the facts topic: their key and their Avro form."""

from __future__ import annotations

from typing import Any

from experiments.facts import Fact
from schemas import current_registry, encoder


def fact_key(fact: Fact) -> bytes:
    """"<experiment>/<phase>/<user>": the facts topic is compacted by it."""
    return f"{fact.experiment}/{fact.phase}/{fact.user_id}".encode()


def fact_record(fact: Fact) -> dict[str, Any]:
    """A `Fact` as the Avro record of the facts topic."""
    return {
        "experiment": fact.experiment, "phase": fact.phase, "variant": fact.variant,
        "user_id": fact.user_id, "first_exposure": fact.first_exposure_ms,
        "attributes": fact.attributes, "values": fact.values, "covariates": fact.covariates,
        "multiple_exposures": fact.multiple_exposures, "version": fact.version,
    }


def encode_fact(fact: Fact) -> bytes:
    return encoder("fact", current_registry())(fact_record(fact))
