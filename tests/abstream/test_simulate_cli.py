"""`abstream simulate --via api`: through a worker's intake, and the truth file it writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abstream.cli import main
from abstream.demo import apply_demo_config
from abstream.simulate import store_totals, wait_until_processed
from experiments.ground_truth import compare
from sinks import open_sink
from tests.agents.test_faults import FaultRun
from tests.servers import Servers
from tests.workers import INTAKE_TOKEN, TOKENS
from topology.topics import TopicNames

pytestmark = pytest.mark.infra


async def test_simulated_users_sent_through_the_api_match_the_truth_file(
    servers: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = FaultRun(servers, tmp_path)
    try:
        worker = run.start()
        apply_demo_config(worker.client(TOKENS["alice"]))
        for name, value in {**run.env, "ABSTREAM_API_URL": worker.url,
                            "ABSTREAM_API_TOKEN": INTAKE_TOKEN}.items():
            monkeypatch.setenv(name, value)
        truth_file = tmp_path / "truth.json"
        assert main(["simulate", "--users", "400", "--via", "api", "--seed", "5",
                     "--truth", str(truth_file), "--duplicates", "0.1"]) == 0
        assert capsys.readouterr().out.strip() == f"ground truth: {truth_file}"
        truth = json.loads(truth_file.read_text())
        assert truth["users"] == 400 and truth["rates"]["duplicate"] == 0.1
        await wait_until_processed(servers.bootstrap, run.prefix, TopicNames(run.prefix),
                                   timeout_s=180)
        with open_sink(run.env["ABSTREAM_SINK_URL"]) as sink:
            rows = compare(truth, store_totals(sink, truth))
        assert len(rows) == 16 and [r for r in rows if not r["ok"]] == []
    finally:
        run.close()


def test_bad_simulate_arguments_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--effect", "checkout_button_color=0.1"]) == 1
    assert "use experiment.variant[.event]=lift" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["simulate", "--duplicates", "2"])
    assert "not a rate between 0 and 1" in capsys.readouterr().err
