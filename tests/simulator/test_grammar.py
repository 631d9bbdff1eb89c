"""Tests for the organic prompt grammar."""

from __future__ import annotations

from distillguard.simulator.grammar import GRAMMAR


def test_grammar_symbols_all_resolve() -> None:
    assert GRAMMAR.referenced() <= GRAMMAR.symbols()
