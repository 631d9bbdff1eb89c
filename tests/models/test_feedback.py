"""Feedback: signatures, key files, idempotent application and the allow-list's trail."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from distillguard.models.accounts import AccountScorer
from distillguard.models.campaigns import CampaignGraph, CampaignRule
from distillguard.models.config import DetectorConfig
from distillguard.models.feedback import (
    SIGNATURE_HEADER,
    Feedback,
    check_signature,
    feedback_record,
    load_key,
    parse_feedback,
    sign,
)
from distillguard.models.fingerprints import Link
from distillguard.models.replay import Backtest
from tests.models.test_detector import extraction_events

KEY = b"0123456789abcdef0123456789abcdef"
RECORD = feedback_record("account", "acct-1", "benign", 1_767_225_600.0, "alice", allowlist=True)


# --- signatures --------------------------------------------------------------------------

def test_a_good_signature_passes_in_every_header_form() -> None:
    sig = sign(KEY, RECORD)
    assert len(sig) == 64 and sig == sig.lower()
    for headers in ([(SIGNATURE_HEADER, sig.encode())],       # aiokafka: (str, bytes)
                    [(SIGNATURE_HEADER.encode(), sig)],       # bytes name, str value
                    {SIGNATURE_HEADER: sig.upper().encode()},  # a mapping; hex in any case
                    [("other", b"x"), (SIGNATURE_HEADER, sig.encode() + b"\n")]):
        assert check_signature(KEY, RECORD, headers) is None, headers


@pytest.mark.parametrize(("headers", "complaint"), [
    (None, "no x-distillguard-signature header"),
    ([], "no x-distillguard-signature header"),
    ([("x-distillguard-signature-v2", b"00")], "no x-distillguard-signature header"),
    ([(SIGNATURE_HEADER, b"")], "is not a hex HMAC-SHA256"),
    ([(SIGNATURE_HEADER, b"not hex at all")], "is not a hex HMAC-SHA256"),
    ([(SIGNATURE_HEADER, b"ab" * 31)], "is not a hex HMAC-SHA256"),   # too short
    ([(SIGNATURE_HEADER, b"00" * 32)], "does not match the record"),
    ([(SIGNATURE_HEADER, sign(b"another key", RECORD).encode())], "does not match the record"),
    ([(SIGNATURE_HEADER, sign(KEY, RECORD).encode())] * 2, "2 x-distillguard-signature headers"),
])
def test_missing_malformed_or_wrong_signatures_are_refused(headers: Any, complaint: str) -> None:
    wrong = check_signature(KEY, RECORD, headers)
    assert wrong is not None and complaint in wrong
    assert sign(KEY, RECORD) not in wrong  # the answer never gives the expected signature away


def test_the_signature_covers_the_bytes_as_sent() -> None:
    sig = [(SIGNATURE_HEADER, sign(KEY, RECORD).encode())]
    reencoded = orjson.dumps(orjson.loads(RECORD), option=orjson.OPT_INDENT_2)
    assert parse_feedback(reencoded) == parse_feedback(RECORD)  # the same feedback...
    assert check_signature(KEY, reencoded, sig) is not None     # ...but not the signed bytes
    tampered = RECORD.replace(b"acct-1", b"acct-2")
    assert check_signature(KEY, tampered, sig) is not None
    assert check_signature(KEY, None, [(SIGNATURE_HEADER, sign(KEY, b"").encode())]) is None


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_the_readme_openssl_line_gives_the_same_signature() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    [line] = [ln for ln in readme.splitlines() if "openssl dgst" in ln]
    out = subprocess.run(["sh", "-c", line.split("#")[0]],
                         env={"REC": RECORD.decode(), "KEY": KEY.decode(), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == sign(KEY, RECORD)


# --- the key -----------------------------------------------------------------------------

def test_key_inline_or_from_a_file(tmp_path: Path) -> None:
    assert load_key("") is None
    assert load_key("s3cret") == b"s3cret"
    path = tmp_path / "feedback.key"
    path.write_bytes(KEY + b"\n")  # as `echo KEY > file` writes it
    assert load_key(f"@{path}") == KEY
    path.write_bytes(KEY + b"\r\n\n")
    assert load_key(f"@{path}") == KEY


def test_unreadable_or_empty_key_file_names_the_file_only(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read the key file") as missing:
        load_key(f"@{tmp_path / 'absent.key'}")
    assert "absent.key" in str(missing.value)
    empty = tmp_path / "empty.key"
    empty.write_bytes(b"\n")
    with pytest.raises(ValueError, match="is empty"):
        load_key(f"@{empty}")


def test_feedback_record_refuses_what_the_contract_refuses() -> None:
    assert parse_feedback(RECORD) == Feedback("account", "acct-1", "benign", True,
                                              1_767_225_600.0, "alice")
    with pytest.raises(ValueError, match="missing_field"):
        feedback_record("account", "", "benign", 1.0, "alice")
    with pytest.raises(ValueError, match="bad_value"):
        feedback_record("account", "a", "spam", 1.0, "alice")


# --- applying feedback -------------------------------------------------------------------

def scored_account(scorer: AccountScorer, account: str = "x", n: int = 30) -> dict[str, Any]:
    record: dict[str, Any] | None = None
    for ev in extraction_events(account, n, random.Random(2)):
        record = scorer.process(ev, record).record or record
    assert record is not None
    return record


def test_the_same_feedback_twice_changes_nothing_and_trains_once() -> None:
    scorer = AccountScorer(DetectorConfig(warmup=10**9))
    record = scored_account(scorer)
    label = Feedback("account", "x", "extraction", False, 1_767_230_000.0, "pipeline")
    once = scorer.apply_feedback(label, record)
    assert scorer.labels.seen == {True: 1, False: 0}
    snapshot = orjson.dumps(once)
    twice = scorer.apply_feedback(label, once)
    assert twice is once and orjson.dumps(twice) == snapshot  # the same record, untouched
    # a redelivery carries the same record in other bytes: still the same feedback
    again = parse_feedback(orjson.dumps({"source": "pipeline", "ts": 1_767_230_000,
                                         "label": "extraction", "account_id": "x"}))
    assert isinstance(again, Feedback) and again.digest == label.digest
    assert scorer.apply_feedback(again, once) is once
    assert scorer.labels.seen == {True: 1, False: 0}  # the label model learnt it once
    other = Feedback("account", "x", "extraction", False, 1_767_230_001.0, "pipeline")
    assert scorer.apply_feedback(other, once) != once  # a new decision still applies
    assert scorer.labels.seen == {True: 2, False: 0}


def test_replayed_feedback_through_the_backtest_is_idempotent() -> None:
    backtest = Backtest(DetectorConfig(warmup=10**9))
    for ev in extraction_events("x", 30, random.Random(2)):
        backtest.process(ev)
    allow = Feedback("account", "x", "benign", True, 1_767_230_000.0, "alice")
    backtest.feedback(allow)
    state = dict(backtest.accounts["x"])
    backtest.feedback(allow)
    assert backtest.accounts["x"] == state
    assert backtest.detector.accounts.labels.seen == {True: 0, False: 1}


def test_only_the_last_few_feedback_digests_are_kept() -> None:
    scorer = AccountScorer()
    record = None
    for i in range(20):
        record = scorer.apply_feedback(Feedback("account", "a", "benign", False, float(i), "s"),
                                       record)
    assert len(record["fb_ids"]) == 8


def test_allowlist_is_recorded_with_source_and_time_and_shown_once_lifted() -> None:
    scorer = AccountScorer(DetectorConfig(warmup=10**9))
    events = extraction_events("x", 300, random.Random(4))
    record: dict[str, Any] | None = None
    alerts: list[dict[str, Any]] = []
    for i, ev in enumerate(events):
        if i == 5:
            record = scorer.apply_feedback(
                Feedback("account", "x", "benign", True, ev.ts, "alice@trust"), record)
            assert (record["allow"], record["allow_src"], record["allow_ts"]) == \
                (True, "alice@trust", ev.ts)
        if i == 150:
            assert alerts == []  # allow-listed: silent
            record = scorer.apply_feedback(
                Feedback("account", "x", "extraction", False, ev.ts, "bob@trust"), record)
            assert record["allow"] is False and record["allow_src"] == "alice@trust"
        outcome = scorer.process(ev, record)
        record = outcome.record or record
        alerts.extend(outcome.alerts)
    assert alerts, "the lifted allow-list should let the account alert again"
    for alert in alerts:
        assert alert["evidence"]["allowlist"] == {"source": "alice@trust",
                                                  "ts": events[5].ts}


def test_alerts_of_accounts_never_allowlisted_carry_no_allowlist_evidence() -> None:
    scorer = AccountScorer(DetectorConfig(warmup=10**9))
    record: dict[str, Any] | None = None
    alerts = []
    for ev in extraction_events("x", 200, random.Random(4)):
        outcome = scorer.process(ev, record)
        record = outcome.record or record
        alerts.extend(outcome.alerts)
    assert alerts and all("allowlist" not in a["evidence"] for a in alerts)
    assert record is not None and record["allow_ts"] is None


def test_campaign_alerts_list_members_taken_out_by_an_allowlist() -> None:
    graph = CampaignGraph(CampaignRule())
    members = [f"a{i}" for i in range(6)]
    [first] = graph.add(Link("asn:1", 0.0, tuple((a, 0.9, 30) for a in members)))
    assert "allowlisted_accounts" not in first["evidence"]
    graph.remove_account("a0", "alice", 5.0)
    graph.remove_account("a0", "alice", 5.0)  # a repeat changes nothing
    graph.remove_account("nobody", "alice", 5.0)
    more = [f"b{i}" for i in range(120)]
    [later] = graph.add(Link("asn:1", 10.0, tuple((a, 0.9, 30) for a in more)))
    assert "a0" not in later["accounts"]
    assert later["evidence"]["allowlisted_accounts"] == [
        {"account": "a0", "source": "alice", "ts": 5.0}]
