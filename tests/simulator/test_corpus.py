"""Tests for the prompt corpora: provenance, licences, forbidden sources, deterministic draws,
and that ``build.py`` rebuilds the files byte for byte from the mirrored repositories."""

from __future__ import annotations

import gzip
import importlib.util
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from distillguard.simulator import corpus

pytestmark = pytest.mark.skipif(
    not corpus.available(),
    reason="the prompt corpora are not installed (distillguard/simulator/corpora/README.md)")

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "distillguard" / "simulator" / "corpora" / "build.py"
MIRROR = Path("/work/.mirror")
LICENCES = {"MIT", "Apache-2.0", "CC-BY-3.0", "CC0-1.0"}


def _build_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("corpora_build", BUILD)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["corpora_build"] = module
    spec.loader.exec_module(module)
    return module


def test_manifest_names_every_file_with_its_provenance() -> None:
    loaded = corpus.load()
    sources = loaded.manifest["sources"]
    assert {s["name"] for s in sources} == set(loaded.by_source)
    for src in sources:
        assert src["repository"].startswith("https://github.com/")
        assert len(src["commit"]) == 40 and src["paths"] and src["drawn"]
        assert src["licence"] in LICENCES
        assert src["records"] == len(loaded.by_source[src["name"]])
        got = {c: sum(p.category == c for p in loaded.by_source[src["name"]])
               for c in corpus.CATEGORIES}
        assert {c: n for c, n in got.items() if n} == src["per_category"]


def test_no_forbidden_source() -> None:
    forbidden = _build_module().FORBIDDEN
    readme = (BUILD.parent / "README.md").read_text()
    for src in corpus.load().manifest["sources"]:
        where = " ".join([src["repository"], *src["paths"]]).lower().replace("_", "-")
        assert not [f for f in forbidden if f.replace("_", "-") in where], src["name"]
        assert src["repository"].removeprefix("https://github.com/") in readme
    for name in ("arena-hard-auto", "HH-RLHF", "Code Alpaca", "ToolBench", "HumanEval", "MBPP"):
        assert name in readme  # the README says what is kept out


def test_every_category_has_a_pool_of_real_text() -> None:
    loaded = corpus.load()
    for cat in corpus.CATEGORIES:
        pool = loaded.pool(cat)
        assert len(pool) >= 200, cat
        assert all(p.text.strip() == p.text and p.text for p in pool)
    assert len(loaded.pool("math", ("gsm8k",))) > 8_000
    assert any(p.tools for p in loaded.pool("agentic"))
    assert loaded.followups


def test_draws_are_deterministic() -> None:
    a = [corpus.pick(random.Random(5), c).id for c in corpus.CATEGORIES]
    b = [corpus.pick(random.Random(5), c).id for c in corpus.CATEGORIES]
    assert a == b
    plain = corpus.plain_pool("math")
    assert plain and len(plain) < len(corpus.load().pool("math"))


def test_files_are_gzip_json_lines() -> None:
    where = corpus.corpus_dir()
    for src in corpus.load().manifest["sources"]:
        raw = gzip.decompress((where / src["file"]).read_bytes()).decode("utf-8")
        rows = [json.loads(line) for line in raw.split("\n") if line]
        assert len(rows) == src["records"]
        assert {"id", "category", "text"} <= set(rows[0])


def test_build_rebuilds_the_files_byte_for_byte(tmp_path: Path) -> None:
    missing = [s.repo for s in _build_module().SOURCES
               if not (MIRROR / s.repo.replace("/", "+") / "repo").is_dir()]
    if missing:
        pytest.skip(f"source repositories not mirrored here: {', '.join(missing)}")
    subprocess.run([sys.executable, str(BUILD), "--mirror", str(MIRROR), "--out",
                    str(tmp_path)], check=True, capture_output=True)
    where = corpus.corpus_dir()
    for src in corpus.load().manifest["sources"]:
        assert (tmp_path / src["file"]).read_bytes() == (where / src["file"]).read_bytes()
    assert json.loads((tmp_path / "manifest.json").read_text()) == corpus.load().manifest
