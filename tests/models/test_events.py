"""Validation of request events against the contract."""

from __future__ import annotations

import orjson
import pytest

from distillguard.models.events import (
    MAX_RECORD_BYTES,
    Event,
    Rejection,
    _build_checked,
    _build_fast,
    parse_event,
)


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


def test_long_prompts_with_one_fixed_header_share_its_fingerprint() -> None:
    """A pipeline's fixed instructions before sampled examples: every fill a new template,
    one header; a short prompt has none."""
    header = "You generate training data. Follow the format of the examples exactly. " * 3
    fills = [parse(valid(prompt=f"{header}\nExample 1: {seed} " + "x" * (200 + 40 * seed)))
             for seed in range(1, 6)]
    assert all(isinstance(ev, Event) for ev in fills)
    assert len({ev.header_fp for ev in fills if isinstance(ev, Event)}) == 1
    assert len({ev.template_fp for ev in fills if isinstance(ev, Event)}) == 5
    short = parse(valid(prompt="Sort this list in python."))
    assert isinstance(short, Event) and short.header_fp is None
    # an instruction line of under HEADER_CHARS before the examples is the header too
    line = "Write one new task unlike these examples, in the same format."
    fills = [parse(valid(prompt=f"{line}\nExample: {seed} " + "y" * (400 + 7 * seed)))
             for seed in range(1, 6)]
    assert len({ev.header_fp for ev in fills if isinstance(ev, Event)}) == 1


def test_gateway_task_label_wins_over_text() -> None:
    ev = parse(valid(prompt="write a python function", task="chat"))
    assert isinstance(ev, Event) and ev.focus is False


def test_unknown_fields_ignored() -> None:
    assert isinstance(parse(valid(something_new={"a": 1}, sim_label="organic")), Event)


def test_fast_path_builds_what_the_checked_path_builds() -> None:
    # `_build_fast` passes the fields positionally: every value here is distinct, so a
    # field out of `Event` order shows as a difference
    client = {"ip": "192.0.2.1", "asn": 64500, "country": "US", "user_agent": "ua/1", "ja4": "t13",
              "sdk": "sdk-py"}
    doc = valid(org_id="org-1", api_key_id="key-1", endpoint="messages", max_tokens=512,
                stop_reason="end_turn", status=200, latency_ms=12.5, stream=True, turns=3, tools=2,
                tool_calls=1, task="coding", prompt_fp="0123456789ABCDEF",
                system_fp="fedcba9876543210", payment_fp="pay-1", account_created=1_700_000_000.0,
                client=client)
    fast = _build_fast(doc)
    assert fast is not None and fast == _build_checked(doc)
    for key, value in {**doc, **client, "prompt_fp": "0123456789abcdef"}.items():
        if key != "client":
            assert getattr(fast, key) == value, key


@pytest.mark.parametrize("over", [
    {"ts": 1_767_225_600}, {"ts": "2026-01-01T00:00:00Z"}, {"account_id": "compte-é"},
    {"latency_ms": 12}, {"account_created": 1_700_000_000}, {"client": {}},
])
def test_unusual_but_valid_fields_parse_as_before(over: dict[str, object]) -> None:
    doc = valid(**over)
    ev = parse(doc)
    assert isinstance(ev, Event) and ev == _build_checked(doc)
    assert type(ev.ts) is float and type(ev.account_created) in (float, type(None))


def test_first_bad_field_in_contract_order_wins() -> None:
    assert parse(valid(client=[], turns=0, ts="yesterday")) == Rejection(
        "bad_timestamp", "ts='yesterday' is not an RFC 3339 date-time")
    assert parse(valid(input_tokens=-1, model=5, prompt=1)) == Rejection(
        "bad_type", "model must be a string, got int")
    assert parse(valid(prompt=1, client={"asn": True})) == Rejection(
        "bad_type", "client.asn must be an integer, got bool")
