from __future__ import annotations

from experiments import ConfigSnapshot, ExperimentClient, ExposureRecord, parse_config


def snapshot(phase: int = 1, **changes: object) -> ConfigSnapshot:
    doc = {"key": "exp", "status": "active", "overrides": {"qa": "b"},
           "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}],
           "phases": [{"number": n} for n in range(1, phase + 1)], **changes}
    config, problems = parse_config({"experiments": [doc]})
    assert problems == []
    return ConfigSnapshot.build(config)


def test_get_group_has_no_side_effect_and_activation_logs_once() -> None:
    logged: list[ExposureRecord] = []
    client = ExperimentClient(snapshot(), logged.append, clock=lambda: 1_700_000_000.5)
    user = client.for_user("u1", {"country": "US", "age": 30, "none": None})
    group = user.get_group("exp")
    assert group in ("a", "b") and logged == []
    assert user.activate_experiment("exp") == group
    assert user.activate_experiment("exp") == group
    assert len(logged) == 1
    record = logged[0]
    assert (record.user_id, record.experiment, record.variant, record.phase) == (
        "u1", "exp", group, 1
    )
    assert record.timestamp == 1_700_000_000_500
    assert record.attributes == {"country": "US", "age": "30"}
    assert not record.override
    assert client.stats.exposures_deduplicated == 1


def test_a_new_phase_logs_again() -> None:
    logged: list[ExposureRecord] = []
    current = [snapshot(phase=1)]
    client = ExperimentClient(lambda: current[0], logged.append)
    client.for_user("u1").activate_experiment("exp")
    current[0] = snapshot(phase=2)
    client.for_user("u1").activate_experiment("exp")
    assert [r.phase for r in logged] == [1, 2]


def test_overrides_are_flagged_and_inactive_experiments_log_nothing() -> None:
    logged: list[ExposureRecord] = []
    ExperimentClient(snapshot(), logged.append).for_user("qa").activate_experiment("exp")
    assert logged[0].override and logged[0].variant == "b"
    paused = ExperimentClient(snapshot(status="paused"), logged.append)
    assert paused.for_user("u1").activate_experiment("exp") == "a"
    assert len(logged) == 1
    assert paused.for_user("u1").activate_experiment("unknown") is None


def test_dedup_memory_is_bounded() -> None:
    logged: list[ExposureRecord] = []
    client = ExperimentClient(snapshot(), logged.append, dedup_capacity=100)
    for i in range(1_000):
        client.for_user(f"u{i}").activate_experiment("exp")
    assert len(client._seen) == 100
    client.for_user("u0").activate_experiment("exp")  # forgotten long ago: logged again
    assert len(logged) == 1_001


def test_a_failing_logger_is_counted_and_retried_later() -> None:
    calls: list[ExposureRecord] = []

    def flaky(record: ExposureRecord) -> None:
        calls.append(record)
        if len(calls) == 1:
            raise ConnectionError("broker down")

    client = ExperimentClient(snapshot(), flaky)
    user = client.for_user("u1")
    assert user.activate_experiment("exp") in ("a", "b")
    assert client.stats.logger_errors == 1
    user.activate_experiment("exp")
    assert len(calls) == 2 and client.stats.exposures_logged == 1


def test_bad_input_gives_control_without_raising() -> None:
    logged: list[ExposureRecord] = []
    client = ExperimentClient(snapshot(), logged.append)
    assert client.for_user(None, "not a mapping").activate_experiment("exp") == "a"
    assert logged == []
    assert client.for_user(None).assign_all()["exp"].reason.value == "error"
