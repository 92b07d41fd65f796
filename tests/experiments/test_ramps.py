"""Ramp schedules as pure rules: declaring, advancing, suspending, and what a step waits for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from experiments import ConfigError, experiment_document, parse_config
from experiments.changes import apply_patch, new_experiment
from experiments.model import Experiment
from experiments.parsing import parse_experiment
from experiments.ramps import SCHEDULER, progress
from experiments.validation import validate_experiment

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
STEPS = [{"coverage": 1, "min_hours": 24, "min_exposed": 1000},
         {"coverage": 5, "min_hours": 24, "min_exposed": 5000},
         {"coverage": 50}]


def canonical(doc: dict[str, Any]) -> dict[str, Any]:
    config, problems = parse_config({"experiments": [doc]})
    assert problems == []
    return experiment_document(config.experiments[0])


def draft_with_ramp() -> dict[str, Any]:
    return canonical(new_experiment({
        "key": "exp", "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}],
        "metrics": [{"key": "errors", "kind": "count", "event": "error"}], "ramp": STEPS,
    }, NOW))


def change(current: dict[str, Any], patch: dict[str, Any], actor: str = "alice",
           at: datetime = NOW) -> dict[str, Any]:
    return canonical(apply_patch(current, patch, at, actor).document)


def model(doc: dict[str, Any]) -> Experiment:
    problems: list = []
    experiment = parse_experiment(doc, problems)
    assert problems == [] and experiment is not None
    return experiment


def test_a_draft_starts_at_the_first_step_and_its_clock_starts_on_activation() -> None:
    draft = draft_with_ramp()
    assert draft["coverage"] == 1.0
    assert draft["ramp_state"] == {"step": 0, "step_started_at": None, "suspended": None}
    active = change(draft, {"status": "active"})
    assert active["ramp_state"]["step_started_at"] == NOW.isoformat()
    assert active["phases"][0]["coverage"] == 1.0


def test_the_schedulers_change_to_the_next_coverage_advances_one_step_in_the_same_phase(
) -> None:
    active = change(draft_with_ramp(), {"status": "active"})
    later = NOW + timedelta(hours=25)
    advanced = change(active, {"coverage": 5}, SCHEDULER, later)
    assert advanced["ramp_state"] == {"step": 1, "step_started_at": later.isoformat(),
                                      "suspended": None}
    assert [p["number"] for p in advanced["phases"]] == [1]  # a coverage ramp moves no one
    assert advanced["phases"][0]["coverage"] == 5.0


@pytest.mark.parametrize("patch", [{"coverage": 5}, {"status": "paused"},
                                   {"variants": [{"key": "a", "weight": 60},
                                                 {"key": "b", "weight": 40}]}])
def test_a_hand_change_to_the_allocation_or_a_pause_suspends_the_schedule(
        patch: dict[str, Any]) -> None:
    active = change(draft_with_ramp(), {"status": "active"})
    edited = change(active, patch, "alice")
    assert edited["ramp_state"]["step"] == 0
    assert "alice changed" in edited["ramp_state"]["suspended"]


def test_a_description_edit_does_not_suspend_and_a_second_scheduler_advance_is_not_a_skip(
) -> None:
    active = change(draft_with_ramp(), {"status": "active"})
    assert change(active, {"description": "x"})["ramp_state"]["suspended"] is None
    # The scheduler asking for a coverage that is not the next step's is no advance.
    jumped = change(active, {"coverage": 50}, SCHEDULER)
    assert jumped["ramp_state"]["step"] == 0


def test_declaring_the_schedule_again_resumes_it_from_the_current_coverage() -> None:
    active = change(draft_with_ramp(), {"status": "active"})
    advanced = change(active, {"coverage": 5}, SCHEDULER)
    paused = change(advanced, {"status": "paused"})
    assert paused["ramp_state"]["suspended"]
    resumed = change(change(paused, {"status": "active"}), {"ramp": paused["ramp"]},
                     at=NOW + timedelta(hours=1))
    assert resumed["ramp_state"] == {"step": 1, "suspended": None,
                                     "step_started_at": (NOW + timedelta(hours=1)).isoformat()}
    assert resumed["coverage"] == 5.0


def test_a_ramp_cannot_lower_the_coverage_of_a_running_experiment() -> None:
    running = canonical({"key": "exp", "status": "active", "coverage": 80,
                         "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}]})
    with pytest.raises(ConfigError, match="a ramp only goes up"):
        apply_patch(running, {"ramp": [{"coverage": 10}, {"coverage": 50}]}, NOW, "alice")
    assert change(running, {"ramp": [{"coverage": 50}, {"coverage": 100}]})["coverage"] == 100


@pytest.mark.parametrize(("steps", "field", "reason"), [
    ([{"coverage": 5}, {"coverage": 5}], "ramp[1].coverage", "steps must increase"),
    ([{"coverage": 0}], "ramp[0].coverage", "above 0"),
    ([{"coverage": 120}], "ramp[0].coverage", "at most 100"),
    ([{"coverage": 5, "min_hours": -1}], "ramp[0].min_hours", "between 0"),
    ([{"coverage": 5, "min_exposed": -3}], "ramp[0].min_exposed", "between 0"),
    ([{"coverage": 5, "wait": 3}], "ramp[0].wait", "unknown field"),
    ("fast", "ramp", "must be a list"),
])
def test_bad_schedules_are_refused_with_the_field_and_reason(steps: Any, field: str,
                                                             reason: str) -> None:
    problems: list = []
    doc = {"key": "exp", "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}],
           "ramp": steps}
    experiment = parse_experiment(doc, problems)
    if experiment is not None:
        problems += validate_experiment(experiment)
    assert any(p.field == field and reason in p.reason for p in problems), problems


@pytest.mark.parametrize(("guardrail", "field", "reason"), [
    ({"metric": "nope", "margin": 0.02}, "guardrails[0].metric", "not a metric"),
    ({"metric": "errors", "margin": 0}, "guardrails[0].margin", "above 0"),
    ({"metric": "errors", "margin": 1.5}, "guardrails[0].margin", "below 1"),
    ({"metric": "errors"}, "guardrails[0].margin", "is required"),
])
def test_bad_guardrails_are_refused_with_the_field_and_reason(guardrail: dict, field: str,
                                                              reason: str) -> None:
    problems: list = []
    doc = {"key": "exp", "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}],
           "metrics": [{"key": "errors", "kind": "count", "event": "error"}],
           "guardrails": [guardrail]}
    experiment = parse_experiment(doc, problems)
    if experiment is not None:
        problems += validate_experiment(experiment)
    assert any(p.field == field and reason in p.reason for p in problems), problems


def test_progress_says_what_the_step_waits_for_until_it_is_ready() -> None:
    active = model(change(draft_with_ramp(), {"status": "active"}))
    waiting = progress(active, 400, NOW + timedelta(hours=2))
    assert waiting is not None and waiting.state == "waiting"
    assert waiting.waiting_for == ("22.00 more hours (the step lasts at least 24)",
                                   "600 more exposed users (400 of 1,000)")
    ready = progress(active, 1000, NOW + timedelta(hours=24))
    assert ready is not None and ready.state == "ready" and ready.next_coverage == 5.0
    last = model(change(change(change(draft_with_ramp(), {"status": "active"}),
                               {"coverage": 5}, SCHEDULER), {"coverage": 50}, SCHEDULER))
    done = progress(last, 0, NOW)
    assert done is not None and done.state == "done" and done.next_coverage is None


@pytest.mark.parametrize("patch", [
    {"ramp": [{"coverage": 10**400}]}, {"coverage": 10**400},
    {"variants": [{"key": "a", "weight": 10**400}, {"key": "b", "weight": 1}]},
    {"ramp": [{"coverage": "5"}]}, {"ramp": [5]}, {"ramp": {"coverage": 5}},
    {"guardrails": [{"metric": "errors", "margin": 10**400}]}, {"on_breach": "explode"},
])
def test_hostile_values_are_refused_as_problems_never_raised_as_crashes(
        patch: dict[str, Any]) -> None:
    running = change(draft_with_ramp(), {"status": "active"})
    try:
        document = apply_patch(running, patch, NOW, "alice").document
    except ConfigError:
        return
    config, problems = parse_config({"experiments": [document]})
    problems += [p for e in config.experiments for p in validate_experiment(e)]
    assert problems, patch


def test_a_draft_with_a_ramp_takes_its_coverage_from_the_ramp_and_edits_do_not_suspend(
) -> None:
    draft = draft_with_ramp()
    with pytest.raises(ConfigError, match="the ramp sets the coverage"):
        apply_patch(draft, {"coverage": 30}, NOW, "alice")
    assert change(draft, {"coverage": 1})["coverage"] == 1.0  # the step's own: accepted
    reweighted = change(draft, {"variants": [{"key": "a", "weight": 70},
                                             {"key": "b", "weight": 30}]})
    assert reweighted["ramp_state"]["suspended"] is None
    with pytest.raises(ConfigError, match="the ramp sets the coverage"):
        apply_patch(change(draft, {"status": "active"}),
                    {"ramp": STEPS, "coverage": 40}, NOW, "alice")


def test_a_concluded_experiment_takes_no_schedule() -> None:
    running = canonical({"key": "exp", "status": "active", "coverage": 20,
                         "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}]})
    with pytest.raises(ConfigError, match="a concluded experiment has no schedule"):
        apply_patch(running, {"status": "concluded", "ramp": [{"coverage": 100}]}, NOW, "alice")
