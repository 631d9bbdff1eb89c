"""Typed stub of the compiled extension (source: models/native/src/lib.rs)."""

from collections.abc import Callable
from typing import Any

from distillguard.models.events import Event
from distillguard.models.fingerprints import Tick
from distillguard.models.text_signals import Signals

class TextSignals:
    """The prompt and system text reduced to fingerprints and flags (`text_signals`)."""

    def __init__(self, patterns: dict[str, str], clause_words: int, analysed_chars: int,
                 header_chars: int, header_min_chars: int) -> None: ...
    @property
    def engines(self) -> dict[str, str]:
        """How each rule with a hand-written scanner is taken: by the scanner or its regex."""
    def signals(self, prompt: str | None, system: str | None, coding: bool) -> Signals | None:
        """The signals, or None when either text is not ASCII (the Python twin decides)."""

class FastParser:
    """`events._build_fast` and `events._text_signals` in one pass over the raw record."""

    def __init__(self, signals: TextSignals, max_id_len: int, max_string_len: int,
                 max_count: int, min_ts: float, max_ts: float, focus_tasks: list[str]) -> None: ...
    def fields(self, raw: bytes) -> tuple[tuple[Any, ...], str | None] | None:
        """The `Event` fields of a plainly valid record and its prompt; None: the Python path."""

class AccountFold:
    """`account_state.update` on an `AccountState`'s `__dict__`."""

    def __init__(self, constants: dict[str, float | int], seeds: list[int],
                 new_signature: Callable[[], list[int]],
                 fold_chunk: Callable[[str, int, str], tuple[str, int]]) -> None: ...
    def update(self, state: dict[str, Any], ev: Event, late_tolerance: float) -> bool | None:
        """Whether the event was too late for the timing statistics; None: the Python twin."""

class AggregateShape:
    """`fingerprints._update_shape` on a `FingerprintAggregate`'s `__dict__`."""

    def __init__(self, alpha: float, sync_seconds: float, day: float, top_templates: int,
                 max_models: int) -> None: ...
    def update(self, agg: dict[str, Any], key: str, tick: Tick, burst: float) -> bool | None:
        """True when done; None (nothing changed): the Python twin."""

class Forest:
    """The population model's `MinMaxScaler | HalfSpaceTrees`, from River's state."""

    def __init__(self, names: list[str], min: list[float], max: list[float],
                 trees: list[list[tuple[int, float, int, int, int, int]]], height: int,
                 window_size: int, counter: int, first_window: bool) -> None: ...
    def score(self, x: dict[str, float]) -> float:
        """`Pipeline.score_one(x)` (the int 0 before the first window is full)."""
    def learn(self, x: dict[str, float]) -> None:
        """`Pipeline.learn_one(x)`."""

class Pooler:
    """`content.Embedder._pooled`: a text's token-embedding rows summed in float32."""

    def __init__(self, table: bytes, dim: int, encode: Callable[[str], list[int]],
                 cached_words: int) -> None: ...
    def pool(self, text: str) -> bytes | None:
        """The sum as little-endian float32 bytes; None for no tokens."""
