"""The `>>>` examples in the package's docstrings run, and pass, as tests.

Every module of the subpackages below is imported by its `distillguard.` name and its
examples are run with ELLIPSIS and NORMALIZE_WHITESPACE; one test per module, so a
failure names it.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from types import ModuleType

import pytest

PACKAGES = (
    "distillguard.models",
    "distillguard.streams",
    "distillguard.simulator",
    "distillguard.testing",
)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
#: examples `distillguard.models` must hold at least, so the suite cannot silently run none
MIN_MODEL_EXAMPLES = 10


def _module_names(package: str) -> list[str]:
    pkg = importlib.import_module(package)
    names = [package]
    names += [info.name for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
    return names


MODULES = [name for package in PACKAGES for name in _module_names(package)]


def _run(module: ModuleType) -> doctest.TestResults:
    return doctest.testmod(module, optionflags=FLAGS, report=False)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_pass(name: str) -> None:
    module = importlib.import_module(name)
    failed, attempted = _run(module)
    assert failed == 0, f"{failed} of {attempted} docstring examples failed in {name}"


def test_models_hold_examples() -> None:
    attempted = sum(_run(importlib.import_module(name)).attempted
                    for name in _module_names("distillguard.models"))
    assert attempted >= MIN_MODEL_EXAMPLES, (
        f"only {attempted} docstring examples in distillguard.models")
