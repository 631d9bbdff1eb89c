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


def test_simulate_a_corpus_scenario_on_grammar_text(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the corpora a corpus scenario exits 2 and says so, naming --text grammar;
    with it, the family's events come out, labelled."""
    from distillguard.simulator import corpus

    monkeypatch.setattr(corpus, "_candidates", lambda: iter([tmp_path / "none"]))
    assert main(["simulate", "--scenario", "lockstep", "--days", "0.3"]) == 2
    assert "--text grammar" in capsys.readouterr().err
    out = tmp_path / "lockstep.jsonl"
    assert main(["simulate", "--scenario", "lockstep", "--days", "0.3", "--text", "grammar",
                 "--out", str(out)]) == 0
    docs = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert {d["sim_persona"] for d in docs if d["sim_label"] == "extraction"} == {"lockstep"}


def test_demo_without_its_extra_says_how_to_install_it(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from distillguard.streams import cli

    monkeypatch.setattr(cli, "DEMO_MODULES", ("rich", "no_such_module_for_the_demo"))
    assert main(["demo"]) == 2
    err = capsys.readouterr().err
    assert "no_such_module_for_the_demo" in err and "distillguard[demo]" in err


FEEDBACK_KEY = "cli-test-key-5f1d0c9e8b7a6f5e4d3c"


def test_feedback_command_prints_the_record_and_its_signature(
        capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    from distillguard.models.feedback import SIGNATURE_HEADER, check_signature

    monkeypatch.setenv("DISTILLGUARD_FEEDBACK_KEY", FEEDBACK_KEY)
    assert main(["feedback", "--account-id", "acct-42", "--label", "benign", "--allowlist",
                 "--source", "alice", "--ts", "1767225600"]) == 0
    record, header = capsysbinary.readouterr().out.splitlines()
    assert orjson.loads(record) == {"account_id": "acct-42", "label": "benign",
                                    "allowlist": True, "ts": 1767225600.0, "source": "alice"}
    name, sig = header.split(b"=", 1)
    assert name.decode() == SIGNATURE_HEADER
    assert check_signature(FEEDBACK_KEY.encode(), record, [(name, sig)]) is None


def test_feedback_command_reads_a_key_file_and_defaults_ts_to_now(
        tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    import time

    from distillguard.models.feedback import check_signature

    key_file = tmp_path / "key"
    key_file.write_text(FEEDBACK_KEY + "\n")
    began = time.time()
    assert main(["feedback", "--campaign-id", "camp-1", "--label", "extraction",
                 "--source", "pipeline", "--feedback-key", f"@{key_file}"]) == 0
    record, header = capsysbinary.readouterr().out.splitlines()
    doc = orjson.loads(record)
    assert doc["campaign_id"] == "camp-1" and began <= doc["ts"] <= time.time()
    name, sig = header.split(b"=", 1)
    assert check_signature(FEEDBACK_KEY.encode(), record, [(name, sig)]) is None


def test_feedback_command_without_a_key_says_the_record_is_unsigned(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISTILLGUARD_FEEDBACK_KEY", raising=False)
    assert main(["feedback", "--account-id", "a", "--label", "benign", "--source", "s",
                 "--ts", "1"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 1 and "unsigned" in captured.err


@pytest.mark.parametrize("argv", [
    ["--account-id", "a", "--label", "extraction", "--allowlist", "--source", "s"],
    ["--account-id", "", "--label", "benign", "--source", "s"],
])
def test_feedback_command_refuses_a_record_the_contract_refuses(
        argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["feedback", *argv]) == 2


def test_an_unreadable_key_file_exits_2_naming_the_setting_not_the_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "/dev/null", "--feedback-key", f"@{tmp_path / 'missing'}"]) == 2
    err = capsys.readouterr().err
    assert "--feedback-key" in err and "DISTILLGUARD_FEEDBACK_KEY" in err and "missing" in err


def test_the_key_shows_nowhere_but_in_the_settings_object() -> None:
    import os

    from distillguard.streams.settings import markdown_table

    env = {**os.environ, "DISTILLGUARD_FEEDBACK_KEY": FEEDBACK_KEY}
    for argv in (["worker", "--help"], ["feedback", "--help"], ["settings"]):
        out = subprocess.run([sys.executable, "-m", "distillguard", *argv], env=env,
                             capture_output=True, text=True, check=True)
        assert FEEDBACK_KEY not in out.stdout + out.stderr, argv
    settings = from_sources(None, {"DISTILLGUARD_FEEDBACK_KEY": FEEDBACK_KEY})
    assert settings.feedback_signing_key() == FEEDBACK_KEY.encode()
    assert FEEDBACK_KEY not in repr(settings) and "feedback_key" not in repr(settings)
    assert "DISTILLGUARD_FEEDBACK_KEY" in markdown_table()


def test_worker_warns_once_when_feedback_is_unauthenticated(
        caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from distillguard.streams.cli import warn_if_unauthenticated

    with caplog.at_level(logging.WARNING):
        warn_if_unauthenticated(from_sources(None, {}))
        warn_if_unauthenticated(from_sources(None, {"DISTILLGUARD_FEEDBACK_KEY": "k" * 32}))
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "unauthenticated" in record.getMessage()
    assert "DISTILLGUARD_FEEDBACK_KEY" in record.getMessage()
