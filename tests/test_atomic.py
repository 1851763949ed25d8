"""generator.atomic: the target is the old file or the new one, never a part; no temp file stays."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import atomic


def test_write_replaces_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "cards.json"
    atomic.write_text(target, "old")
    atomic.write_text(target, "new ✓")
    assert target.read_text(encoding="utf-8") == "new ✓"
    assert [p.name for p in target.parent.iterdir()] == ["cards.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "quiz.html"
    atomic.write_text(target, "complete old page")
    with pytest.raises(RuntimeError), atomic.atomic_path(target) as tmp:
        tmp.write_text("half a pa")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "complete old page"
    assert [p.name for p in tmp_path.iterdir()] == ["quiz.html"]


def test_lone_surrogates_are_escaped_not_fatal(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    atomic.write_text(target, "a\ud800b")
    assert target.read_bytes() == b"a\\ud800b"


def test_a_write_that_is_not_durable_is_still_atomic(tmp_path: Path) -> None:
    target = tmp_path / "results" / "ab" / "entry.json"
    atomic.write_text(target, "old", durable=False)
    with pytest.raises(RuntimeError), atomic.atomic_path(target, durable=False) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    atomic.write_text(target, "new", durable=False)
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["entry.json"]
