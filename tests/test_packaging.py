"""`pip install .` installs one import name, `distillguard`, and nothing bare beside it.

The client's folders `models/` and `streams/` install as `distillguard.models`
and `distillguard.streams`; a user's own `models.py` can neither shadow them
nor be shadowed by them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_plain_install_has_one_top_level_import_name(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(REPO)], check=True, capture_output=True)
    top = {p.name for p in target.iterdir()
           if not p.name.endswith(".dist-info") and p.name != "bin"}
    assert top == {"distillguard"}
    assert (target / "distillguard" / "py.typed").exists()
    assert (target / "distillguard" / "models" / "events.py").exists()

    def imports(module: str) -> bool:
        code = f"import {module}"
        return subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, "
                               f"{str(target)!r}); {code}"], cwd=tmp_path,
                              capture_output=True).returncode == 0

    assert imports("distillguard.models.events") and imports("distillguard.streams.settings")
    assert not imports("models") and not imports("streams")
