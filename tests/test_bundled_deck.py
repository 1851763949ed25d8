"""The bundled deck: every claim in it still holds for the installed torch, and it builds."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from tests.conftest import run_tnquiz


def test_bundled_deck_checks_and_builds_with_no_unexpected_failure(tmp_path: Path) -> None:
    env = {"TNQUIZ_CACHE_DIR": str(tmp_path / "cache")}
    checked = run_tnquiz("check", env=env, timeout=1200)
    assert checked.returncode == 0, checked.stdout[-5000:] + checked.stderr[-2000:]
    out = tmp_path / "build"
    built = run_tnquiz("build", "--out", str(out), env=env)  # from the cache: nothing runs again
    assert built.returncode == 0, built.stderr[-3000:]
    (summary,) = [line for line in built.stderr.splitlines() if line.endswith(" from cache")]
    assert "; 0 run, " in summary and "failed" not in summary and "contradicted" not in summary
    cards = json.loads((out / "cards.json").read_text())["cards"]
    assert len(cards) >= 200
    assert [c["id"] for c in cards if not c["source"]] == []
    assert [c["id"] for c in cards if not c["tags"]] == []
    assert [c["id"] for c in cards if not c["explain"].strip()] == []  # the back says why
    statuses = Counter(c["status"] for c in cards)
    assert statuses["failed"] == 0
    skipped = {c["reason"].split(":")[0] for c in cards if c["status"] == "skipped"}
    assert skipped <= {"requires cuda", "requires torchvision", "requires numpy"}
    kinds = Counter(c["kind"] for c in cards if c["status"] == "ok")
    assert set(kinds) == {"shape", "value", "dtype", "error", "output", "choice", "cloze"}
    assert all(c["deck"].startswith("PyTorch::") for c in cards)
