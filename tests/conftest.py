"""Shared fixtures: an isolated cache per test session and helpers to run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True, scope="session")
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Never touch the user's real cache or review database."""
    os.environ["TNQUIZ_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    os.environ.setdefault("TNQUIZ_DB", str(tmp_path_factory.mktemp("db") / "reviews.sqlite3"))


def run_tnquiz(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
               timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a fresh interpreter, as a user would."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "generator", *args], cwd=cwd or ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def write_cards(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write a YAML card file into tmp_path and return its path."""

    def write(text: str, name: str = "cards.yaml") -> Path:
        p = tmp_path / name
        p.write_text(text, encoding="utf-8")
        return p

    return write
