"""Validation of request events against the contract."""

from __future__ import annotations

import orjson
import pytest

from models.events import MAX_RECORD_BYTES, Event, Rejection, parse_event


def valid(**over: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "event_id": "e1", "ts": 1_767_225_600.5, "account_id": "acct-1", "model": "frontier-4",
        "input_tokens": 120, "output_tokens": 900,
    }
    doc.update(over)
    return doc


def parse(doc: object) -> Event | Rejection:
    return parse_event(orjson.dumps(doc))


def test_minimal_event_parses() -> None:
    ev = parse(valid())
    assert isinstance(ev, Event)
    assert ev.ts == 1_767_225_600.5 and ev.account_id == "acct-1" and ev.turns is None


def test_rfc3339_timestamp() -> None:
    ev = parse(valid(ts="2026-01-01T00:00:01.250Z"))
    assert isinstance(ev, Event) and ev.ts == pytest.approx(1_767_225_601.25)
    ev = parse(valid(ts="2026-01-01T02:00:00+02:00"))
    assert isinstance(ev, Event) and ev.ts == 1_767_225_600.0
    ev = parse(valid(ts="2026-01-01t00:00:00.123456789z"))
    assert isinstance(ev, Event) and ev.ts == pytest.approx(1_767_225_600.123457)


@pytest.mark.parametrize("raw, reason", [
    (b"{not json", "invalid_json"),
    (b"\xff\xfe{}", "invalid_json"),
    (b"[1,2]", "not_object"),
    (orjson.dumps({k: v for k, v in valid().items() if k != "account_id"}), "missing_field"),
    (orjson.dumps(valid(account_id=None)), "missing_field"),
    (orjson.dumps(valid(input_tokens="12")), "bad_type"),
    (orjson.dumps(valid(output_tokens=1.5)), "bad_type"),
    (orjson.dumps(valid(input_tokens=True)), "bad_type"),
    (orjson.dumps(valid(input_tokens=-1)), "bad_value"),
    (orjson.dumps(valid(account_id="")), "bad_value"),
    (orjson.dumps(valid(account_id="a" * 129)), "bad_value"),
    (orjson.dumps(valid(account_id="acct\x00evil")), "bad_value"),
    (orjson.dumps(valid(ts="yesterday")), "bad_timestamp"),
    (orjson.dumps(valid(ts="2026-01-01")), "bad_timestamp"),
    (orjson.dumps(valid(ts="2026-02-30T00:00:00Z")), "bad_timestamp"),
    (orjson.dumps(valid(ts=1e300)), "bad_timestamp"),
    (orjson.dumps(valid(ts=-5)), "bad_timestamp"),
    (orjson.dumps(valid(ts=True)), "bad_timestamp"),
    (orjson.dumps(valid(client="1.2.3.4")), "bad_type"),
    (orjson.dumps(valid(turns=0)), "bad_value"),
    (orjson.dumps(valid(prompt_fp="xyz")), "bad_value"),
    (b'{"event_id": "e", "ts": NaN}', "invalid_json"),
])
def test_rejections(raw: bytes, reason: str) -> None:
    out = parse_event(raw)
    assert isinstance(out, Rejection), out
    assert out.reason == reason, out.error


def test_too_large() -> None:
    doc = valid(prompt="x" * MAX_RECORD_BYTES)
    out = parse(doc)
    assert isinstance(out, Rejection) and out.reason == "too_large"


def test_null_optional_is_absent() -> None:
    ev = parse(valid(turns=None, client=None))
    assert isinstance(ev, Event) and ev.turns is None and ev.ip is None


def test_text_becomes_fingerprints_and_is_dropped() -> None:
    marker = "SECRET-MARKER-41d9"
    ev = parse(valid(prompt=f"Think step by step. Implement quicksort in python. {marker}",
                     system=f"You are helpful {marker}"))
    assert isinstance(ev, Event)
    assert ev.cot is True and ev.focus is True
    assert ev.prompt_fp and ev.template_fp and ev.system_fp
    assert marker.encode() not in ev.to_wire()
    assert Event.from_wire(ev.to_wire()) == ev


def test_gateway_task_label_wins_over_text() -> None:
    ev = parse(valid(prompt="write a python function", task="chat"))
    assert isinstance(ev, Event) and ev.focus is False


def test_unknown_fields_ignored() -> None:
    assert isinstance(parse(valid(something_new={"a": 1}, sim_label="organic")), Event)
