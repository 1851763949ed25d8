"""Shared fixtures: an isolated cache per test session, helpers to run the real CLI, and what several
test files share so that it is made once per session: the bundled deck built (once for the whole
run, even when pytest-xdist splits it across processes), the small demo deck built, one Chromium."""

from __future__ import annotations

import compileall
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

# Two cards of the demo deck the CLI and API tests build: squeeze-one (shape), arange-dtype (dtype).
DEMO_CARDS = """\
deck: Demo::Basics
tags: [demo]
cards:
  - id: squeeze-one
    question: What is the shape of `torch.squeeze(a, 1)`?
    setup: a = torch.zeros(1, 1, 2, 3)
    code: b = torch.squeeze(a, 1)
    answer: b.shape
    expect: "[1, 2, 3]"
    source: test
  - id: arange-dtype
    question: dtype of `torch.arange(3)`?
    answer: torch.arange(3).dtype
    source: test
"""


def pytest_configure(config: pytest.Config) -> None:
    """Before any test starts a process, in every pytest process:

    - Ctrl-C reaches the processes the tests start, however pytest was started. A shell starts a
      background job (``make test &``) with SIGINT ignored, an ignored signal stays ignored across
      ``exec``, and a build or quiz started that way rightly ignores the SIGINT the Ctrl-C tests
      send. Python's own handler, set here, is reset to the default in every child.
    - tnquiz's modules are byte-compiled (by the controller only: pytest-xdist starts its
      processes after this). An editable install is not, and with ``PYTHONDONTWRITEBYTECODE`` set
      (as on the reference machine and in many container images) every CLI run and worker the
      tests start would compile ``generator/`` from source: about 0.15 s of CPU each, some hundreds
      of times a run. Python ignores bytecode older than its source, so an edit is never missed.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        compileall.compile_dir(ROOT / "generator", quiet=1)


@pytest.fixture(autouse=True, scope="session")
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Never touch the user's real cache or review database (not even one TNQUIZ_DB names), nor
    another pytest-xdist worker's: each worker has a base temp folder of its own."""
    os.environ["TNQUIZ_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    os.environ["TNQUIZ_DB"] = str(tmp_path_factory.mktemp("db") / "reviews.sqlite3")


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


@dataclass(frozen=True)
class Built:
    """A deck built once per session with the real CLI. Read it; to change anything, copy it first
    (:meth:`copy_to`): other tests read the same files."""

    cards: Path  # what was built: a card file or folder
    cache: Path  # the cache it ran into
    out: Path  # cards.json, tnquiz.apkg, quiz.html
    checked: subprocess.CompletedProcess[str] | None  # `tnquiz check` that ran the cards, if one did
    built: subprocess.CompletedProcess[str]  # `tnquiz build` (from the warm cache where check ran)

    def copy_to(self, folder: Path) -> tuple[Path, dict[str, str], Path]:
        """A private copy in ``folder``: (card file, env whose cache is a copy of this one's, out)."""
        cards = folder / self.cards.name
        if self.cards.is_dir():
            shutil.copytree(self.cards, cards)
        else:
            shutil.copyfile(self.cards, cards)
        shutil.copytree(self.cache, folder / "cache")
        shutil.copytree(self.out, folder / "out")
        return cards, {"TNQUIZ_CACHE_DIR": str(folder / "cache")}, folder / "out"


def made_once(tmp_path_factory: pytest.TempPathFactory, name: str,
              make: Callable[[Path], dict[str, Any]]) -> tuple[Path, dict[str, Any]]:
    """``make(folder)`` run once for the whole test run, also when pytest-xdist runs the tests in
    several processes (each has its own session fixtures): the first process to get here makes it
    in a folder all of them share, under a file lock; the others wait and read what it returned
    (JSON). Returns (folder, what ``make`` returned). What is made there is read by tests of every
    process at once: a test that changes it works on a copy."""
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, above each worker's own (popen-gw0, ...)
    folder, done = root / name, root / f"{name}.json"
    with FileLock(root / f"{name}.lock"):
        if not done.is_file():
            shutil.rmtree(folder, ignore_errors=True)  # what a process that failed here left
            folder.mkdir()
            done.write_text(json.dumps(make(folder)), encoding="utf-8")
        return folder, json.loads(done.read_text(encoding="utf-8"))


def _ran(p: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return {"args": p.args, "returncode": p.returncode, "stdout": p.stdout, "stderr": p.stderr}


def _completed(d: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess(d["args"], d["returncode"], d["stdout"], d["stderr"])


@pytest.fixture(scope="session")
def bundled_deck(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The bundled deck run by `tnquiz check` into a cache of its own, then built from it: once per
    test run (:func:`made_once`; the longest fixture, about a tenth of the suite's time).

    The slow tests that run the bundled deck again (lint's shifted seeds, the fuzzed mutants) pass
    that cache (TNQUIZ_CACHE_DIR) and find the unchanged cards' results there; what they add is
    written atomically, so they may share it. The outcome is asserted by test_bundled_deck.py."""

    def make(root: Path) -> dict[str, Any]:
        env = {"TNQUIZ_CACHE_DIR": str(root / "cache")}
        checked = run_tnquiz("check", env=env, timeout=1800)
        built = run_tnquiz("build", "--out", str(root / "build"), env=env)
        return {"checked": _ran(checked), "built": _ran(built)}

    root, made = made_once(tmp_path_factory, "bundled", make)
    return Built(ROOT / "cards", root / "cache", root / "build", _completed(made["checked"]),
                 _completed(made["built"]))


@pytest.fixture(scope="session")
def demo_deck(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """DEMO_CARDS built once with the real CLI into a cache of its own (both cards ran)."""
    root = tmp_path_factory.mktemp("demo")
    cards = root / "demo.yaml"
    cards.write_text(DEMO_CARDS, encoding="utf-8")
    built = run_tnquiz("build", str(cards), "-o", str(root / "out"), env={"TNQUIZ_CACHE_DIR": str(root / "cache")})
    assert built.returncode == 0, built.stderr
    assert "2 cards: 2 ok; 2 run, 0 from cache" in built.stderr
    return Built(cards, root / "cache", root / "out", None, built)


@pytest.fixture(scope="session")
def fixture_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache holding the results of every card of tests/fixture_decks.py, run by one `tnquiz check`
    (one worker start for them all). A test's `tnquiz build` of one of those files with this cache
    (TNQUIZ_CACHE_DIR) runs nothing (it adds its highlighting memo). A test that tampers with a
    cache uses a copy."""
    from tests.fixture_decks import FIXTURE_DECKS

    root = tmp_path_factory.mktemp("fixture-decks")
    for name, text in FIXTURE_DECKS.items():
        (root / name).write_text(text, encoding="utf-8")
    checked = run_tnquiz("check", str(root), env={"TNQUIZ_CACHE_DIR": str(root / "cache")})
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return root / "cache"


def no_browser(reason: str) -> None:
    """Skip, or fail where the browser tests must run (TNQUIZ_REQUIRE_BROWSER=1, CI)."""
    if os.environ.get("TNQUIZ_REQUIRE_BROWSER") == "1":
        pytest.fail(f"TNQUIZ_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Debian Chromium for the session, driven by playwright; each test opens its own context."""
    if not CHROMIUM.exists():
        no_browser(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        no_browser("the playwright package is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()
