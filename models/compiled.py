"""Which implementation of the hot path runs: the compiled extension or its Python twin.

The extension (`distillguard.models._native`, Rust, source in `models/native/`) is
built by `pip install` wherever a Rust toolchain is on PATH; without one the install
goes on and the Python functions, which stay the reference, do the work. Both give
the same events and records (`tests/models/test_native_parity.py`). The setting
`DISTILLGUARD_NATIVE` chooses: `auto` (default: the extension if it is installed),
`require` (fail at import if it is not: a deployment that counts on its speed) or
`off` (the Python twin only, e.g. to compare the two).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")

SETTING = "DISTILLGUARD_NATIVE"
MODES = ("auto", "require", "off")


class NativeUnavailable(RuntimeError):
    """`DISTILLGUARD_NATIVE=require`, but the compiled extension is not installed."""


def load(mode: str | None = None) -> ModuleType | None:
    """The compiled extension, or None where the Python twin runs (see the module doc)."""
    mode = (mode if mode is not None else os.environ.get(SETTING, "auto")).strip().lower()
    if mode not in MODES:
        raise ValueError(f"{SETTING}={mode!r}: expected one of {', '.join(MODES)}")
    if mode == "off":
        return None
    try:
        from distillguard.models import _native
    except ImportError as exc:
        if mode == "require":
            raise NativeUnavailable(
                f"{SETTING}=require but the compiled extension is not installed ({exc}); "
                "reinstall with a Rust toolchain (cargo) on PATH") from None
        logger.info("compiled extension not installed: the Python twin runs (%s)", exc)
        return None
    return _native


#: the extension this process uses (None: the Python twin), chosen once at import
NATIVE = load()


def implementation() -> str:
    """'compiled' or 'python': what runs the hot path in this process (for logs, metrics)."""
    return "python" if NATIVE is None else "compiled"


#: (module, global) of every compiled twin, for `python_twin`
_TWINS: list[tuple[str, str]] = []


def twin(module: str, name: str, value: T | None) -> T | None:
    """`value`, the compiled twin `module` keeps in its global `name` (None: Python only),
    noted so that `python_twin` sets it aside with every other."""
    _TWINS.append((module, name))
    return value


@contextmanager
def python_twin() -> Iterator[None]:
    """Only the Python twins while inside, as `DISTILLGUARD_NATIVE=off` would (comparisons)."""
    held = [(sys.modules[module], name) for module, name in _TWINS]
    saved = [getattr(module, name) for module, name in held]
    for module, name in held:
        setattr(module, name, None)
    try:
        yield
    finally:
        for (module, name), value in zip(held, saved, strict=True):
            setattr(module, name, value)
