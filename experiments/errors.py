from __future__ import annotations

from dataclasses import dataclass

from errors import AbstreamError


@dataclass(frozen=True)
class Problem:
    """One reason a configuration is invalid: where it is and what is wrong."""

    owner: str  # "experiment 'x'", "layer 'y'", "holdout", "config"
    field: str  # a path such as "variants[1].weight"
    reason: str

    def __str__(self) -> str:
        return f"{self.owner}: {self.field}: {self.reason}"


class ConfigError(AbstreamError):
    """An experiment configuration is invalid; `problems` lists every reason at once."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"invalid configuration ({len(problems)} problems):\n{listing}")
