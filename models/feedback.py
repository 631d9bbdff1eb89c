"""Analyst feedback: allow-lists and labels, and the supervised model they train.

Feedback records come from the suspension pipeline and analysts (contract:
`{"account_id" | "campaign_id", "label": "extraction" | "benign",
"allowlist": bool, "ts", "source"}`). `benign` with `allowlist: true`
suppresses an account's alerts from then on and takes it out of campaign
member lists (a research partner, a customer's batch pipeline).

Labels train `LabelModel`, an online logistic regression over the same
account features the population model sees. It learns only from analyst
labels, never from the detector's own alerts, so it cannot reinforce its own
mistakes; its output joins the score once it has seen both classes a few
times.

Authentication (`check_signature`): with a feedback key configured, a record
must carry the header `x-distillguard-signature`, the lowercase hex
HMAC-SHA256 under that key of the record's value bytes exactly as sent (no
canonical form: whoever signs, signs the bytes they produce). Anything else
is dead-lettered as `bad_signature` before it is even parsed.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from river import compose, linear_model, optim, preprocessing

LABELS = ("extraction", "benign")
#: the Kafka header that carries a feedback record's signature
SIGNATURE_HEADER = "x-distillguard-signature"
#: the dead-letter reason of unsigned and badly signed feedback
BAD_SIGNATURE = "bad_signature"


@dataclass(frozen=True, slots=True)
class Feedback:
    """One validated feedback record about an account or a campaign."""

    subject_kind: str        # "account" or "campaign"
    subject: str
    label: str
    allowlist: bool
    ts: float
    source: str

    @property
    def allowlists(self) -> bool:
        """Whether the record allow-lists its subject: only a `benign` label can."""
        return self.label == "benign" and self.allowlist

    @property
    def digest(self) -> int:
        """32-bit fingerprint of what the record says, to recognise it when it comes again.

        Over the content, not the bytes: the same record re-sent with other spacing or
        key order is the same feedback.

        >>> a = Feedback("account", "acct-1", "benign", True, 1.0, "alice")
        >>> a.digest == Feedback("account", "acct-1", "benign", True, 1.0, "alice").digest
        True
        >>> a.digest == Feedback("account", "acct-1", "benign", True, 2.0, "alice").digest
        False
        """
        return zlib.crc32(orjson.dumps([self.subject_kind, self.subject, self.label,
                                        self.allowlist, self.ts, self.source]))


def parse_feedback(raw: bytes | None) -> Feedback | str:
    """A `Feedback`, or the reason the record is not one (never raises).

    >>> fb = parse_feedback(b'{"account_id": "acct-1", "label": "benign", "allowlist": true, '
    ...                     b'"ts": 1700000000}')
    >>> fb.subject_kind, fb.subject, fb.allowlists
    ('account', 'acct-1', True)
    >>> parse_feedback(b'{"account_id": "acct-1", "label": "spam", "ts": 1700000000}')
    'bad_value'
    """
    try:
        doc = orjson.loads(raw or b"")
    except orjson.JSONDecodeError:
        return "invalid_json"
    if not isinstance(doc, dict):
        return "not_object"
    kinds = [k for k in ("account_id", "campaign_id") if isinstance(doc.get(k), str) and doc[k]]
    if len(kinds) != 1:
        return "missing_field"
    label, allowlist, ts = doc.get("label"), doc.get("allowlist", False), doc.get("ts")
    if label not in LABELS or not isinstance(allowlist, bool):
        return "bad_value"
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        return "bad_timestamp"
    source = doc.get("source")
    return Feedback("account" if kinds[0] == "account_id" else "campaign", doc[kinds[0]][:128],
                    label, allowlist, float(ts), source if isinstance(source, str) else "")


def feedback_record(subject_kind: str, subject: str, label: str, ts: float, source: str,
                    allowlist: bool = False) -> bytes:
    """A contract feedback record's bytes (what `distillguard feedback` signs and sends).

    >>> feedback_record("account", "acct-1", "benign", 1700000000, "alice", allowlist=True)
    b'{"account_id":"acct-1","label":"benign","allowlist":true,"ts":1700000000,"source":"alice"}'
    """
    value = orjson.dumps({f"{subject_kind}_id": subject, "label": label,
                          "allowlist": allowlist, "ts": ts, "source": source})
    parsed = parse_feedback(value)
    if isinstance(parsed, str):
        raise ValueError(f"not a valid feedback record ({parsed})")
    return value


def sign(key: bytes, value: bytes) -> str:
    """The signature of a feedback record: lowercase hex HMAC-SHA256 of its value bytes.

    >>> sign(b"k", b'{"account_id":"a"}')
    'b0bcbe813dea7c0f3248e482d8e70a2bbb4fe53f67e8dbec58bc0ed6ca47c25a'
    """
    return hmac.new(key, value, hashlib.sha256).hexdigest()


Headers = Mapping[Any, Any] | Iterable[tuple[Any, Any]] | None


def check_signature(key: bytes, value: bytes | None, headers: Headers) -> str | None:
    """None if `headers` carry exactly one valid signature of `value`; else what is wrong.

    The answer names the problem (it goes to `x-dlq-error`) and never the expected
    signature. Headers are Kafka's (name, value) pairs or a mapping; names and values
    may be str or bytes.

    >>> rec = b'{"account_id":"a"}'
    >>> check_signature(b"k", rec, [(SIGNATURE_HEADER, sign(b"k", rec).encode())]) is None
    True
    >>> check_signature(b"k", rec, [])
    'no x-distillguard-signature header'
    >>> check_signature(b"other", rec, [(SIGNATURE_HEADER, sign(b"k", rec).encode())])
    'x-distillguard-signature does not match the record'
    """
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
    given = [v for k, v in pairs
             if (k.decode("latin-1") if isinstance(k, bytes) else k) == SIGNATURE_HEADER]
    if not given:
        return f"no {SIGNATURE_HEADER} header"
    if len(given) > 1:
        return f"{len(given)} {SIGNATURE_HEADER} headers (one is allowed)"
    text = given[0].decode("latin-1") if isinstance(given[0], bytes) else str(given[0] or "")
    try:
        mac = bytes.fromhex(text.strip())
    except ValueError:
        mac = b""
    if len(mac) != hashlib.sha256().digest_size:
        return f"{SIGNATURE_HEADER} is not a hex HMAC-SHA256"
    expected = hmac.new(key, value or b"", hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        return f"{SIGNATURE_HEADER} does not match the record"
    return None


def load_key(spec: str) -> bytes | None:
    """The feedback key a setting names: None for "", the bytes of FILE for "@FILE", else the
    text itself (UTF-8). A key file's trailing newlines are dropped (as `$(cat FILE)` does).

    Errors name the file, never a key.

    >>> load_key(""), load_key("s3cret")
    (None, b's3cret')
    """
    if not spec:
        return None
    if not spec.startswith("@"):
        return spec.encode()
    path = spec[1:]
    try:
        with open(path, "rb") as fh:
            key = fh.read().rstrip(b"\r\n")
    except OSError as exc:
        raise ValueError(f"cannot read the key file {path!r}: {exc.strerror}") from None
    if not key:
        raise ValueError(f"the key file {path!r} is empty")
    return key


class LabelModel:
    """Supervised online model of analyst labels; speaks after `min_per_class` of each."""

    def __init__(self, min_per_class: int = 5) -> None:
        self.min_per_class = min_per_class
        self.seen = {True: 0, False: 0}
        self._model = compose.Pipeline(
            preprocessing.StandardScaler(),
            linear_model.LogisticRegression(optimizer=optim.SGD(0.1)),
        )

    @property
    def ready(self) -> bool:
        """Whether it has seen `min_per_class` labels of each class, and so speaks."""
        return min(self.seen.values()) >= self.min_per_class

    def learn(self, x: dict[str, float], extraction: bool) -> None:
        """Learn one analyst label from the labelled account's features."""
        self._model.learn_one(x, extraction)
        self.seen[extraction] += 1

    def probability(self, x: dict[str, float]) -> float | None:
        """Probability that features `x` are an extraction account's; None until `ready`."""
        if not self.ready:
            return None
        return float(self._model.predict_proba_one(x).get(True, 0.0))
