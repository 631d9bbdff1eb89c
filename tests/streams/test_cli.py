"""The command line: settings precedence, help, replay and simulate without Kafka."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from distillguard import simulator
from distillguard.models.replay import replay
from distillguard.streams.cli import main
from distillguard.streams.settings import DECLARED, from_sources

SMALL = simulator.SimConfig(seed=5, days=1.0, organic_accounts=10, loud_accounts=1)


def test_flags_beat_environment_beat_defaults() -> None:
    import argparse

    env = {"DISTILLGUARD_INPUT_TOPIC": "from-env", "DISTILLGUARD_TICK_EVENTS": "7",
           "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092"}
    args = argparse.Namespace(input_topic="from-flag")
    s = from_sources(args, env)
    assert (s.input_topic, s.detection.tick_events, s.bootstrap_servers) == \
        ("from-flag", 7, "kafka:9092")
    assert from_sources(None, {}).input_topic == "llm.requests"


def test_bad_environment_value_is_a_clear_error(capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTILLGUARD_TICK_EVENTS", "often")
    assert main(["replay", "/dev/null"]) == 2
    assert "DISTILLGUARD_TICK_EVENTS" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "env", "named"), [
    (["--tick-events", "0"], {}, ("--tick-events", "DISTILLGUARD_TICK_EVENTS", ">= 1")),
    ([], {"DISTILLGUARD_LINK_MIN_SHARE": "1.5"}, ("--link-min-share", "<= 1")),
    ([], {"DISTILLGUARD_PARTITIONS": "0"}, ("--partitions", "DISTILLGUARD_PARTITIONS")),
    (["--log-level", "loud"], {}, ("--log-level", "crit, error, warn, info, debug")),
])
def test_out_of_range_setting_exits_2_naming_it(
        argv: list[str], env: dict[str, str], named: tuple[str, ...],
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["replay", "/dev/null", *argv]) == 2
    err = capsys.readouterr().err
    for text in named:
        assert text in err


def test_bad_thresholds_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "/dev/null", "--threshold-low", "0.99"]) == 2
    assert "thresholds" in capsys.readouterr().err


def test_worker_help_documents_every_setting() -> None:
    out = subprocess.run([sys.executable, "-m", "distillguard", "worker", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for name, spec in DECLARED.items():
        assert "--" + name.replace("_", "-") in out
        assert spec.env in out


def test_readme_settings_table_is_the_declared_settings() -> None:
    from distillguard.streams.settings import markdown_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert markdown_table() in readme, "README's settings table: paste `distillguard settings`"


def test_readme_documents_every_environment_variable() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for spec in DECLARED.values():
        assert spec.env in readme, f"{spec.env} missing from README"
    for var in ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_PASSWORD"):
        assert var in readme


def test_simulate_then_replay_finds_the_loud_account(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "traffic.jsonl"
    with log.open("wb") as fh:
        n = simulator.write_jsonl(SMALL, fh)
    assert n > 0
    assert main(["replay", str(log)]) == 0
    captured = capsys.readouterr()
    alerts = [orjson.loads(line) for line in captured.out.splitlines()]
    truth = simulator.ground_truth(SMALL)
    flagged = {a["subject"] for a in alerts}
    assert flagged and all(truth[a] == "extraction" for a in flagged)
    assert f"{n} events accepted" in captured.err


def test_replay_counts_rejections_by_reason() -> None:
    from distillguard.models.replay import ReplayStats

    stats = ReplayStats()
    lines = [b"{bad", b"[]", b"", orjson.dumps({"event_id": "e"})]
    assert list(replay(io.BytesIO(b"\n".join(lines)), stats=stats)) == []
    assert stats.rejected == {"invalid_json": 1, "not_object": 1, "missing_field": 1}


def test_simulate_unknown_scenario_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--scenario", "nope"]) == 2
    assert "unknown scenario" in capsys.readouterr().err


def test_demo_without_its_extra_says_how_to_install_it(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from distillguard.streams import cli

    monkeypatch.setattr(cli, "DEMO_MODULES", ("rich", "no_such_module_for_the_demo"))
    assert main(["demo"]) == 2
    err = capsys.readouterr().err
    assert "no_such_module_for_the_demo" in err and "distillguard[demo]" in err
