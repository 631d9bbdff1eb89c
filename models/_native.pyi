"""Typed stub of the compiled extension (source: models/native/src/lib.rs)."""

from distillguard.models.text_signals import Signals

class TextSignals:
    """The prompt and system text reduced to fingerprints and flags (`text_signals`)."""

    def __init__(self, patterns: dict[str, str], clause_words: int, analysed_chars: int,
                 header_chars: int, header_min_chars: int) -> None: ...
    def signals(self, prompt: str | None, system: str | None, coding: bool) -> Signals | None:
        """The signals, or None when either text is not ASCII (the Python twin decides)."""
