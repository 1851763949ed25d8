"""The worker sandbox (bubblewrap) with real hostile cards, and the scrubbed environment."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from generator.execute.cache import Cache
from generator.execute.runner import run_cards
from generator.execute.sandbox import (
    ENV_KEEP,
    NO_SANDBOX_WARNING,
    SANDBOX_OFF_WARNING,
    choose_sandbox,
)
from generator.load import load
from generator.model import BuiltCard
from generator.verify import verify

ROOT = Path(__file__).resolve().parent.parent

needs_bwrap = pytest.mark.skipif(choose_sandbox(True)[0] is None,
                                 reason="bubblewrap is not installed or cannot run here (make system-deps)")


def _build(write_cards, text: str, cache: Cache, **kw) -> dict[str, BuiltCard]:  # type: ignore[no-untyped-def]
    loaded = load([write_cards(text)])
    assert loaded.problems == ()
    return {o.card.id: verify(o) for o in run_cards(loaded.cards, cache=cache, jobs=1, **kw)}


def _answer(b: BuiltCard) -> str:
    assert b.status == "ok", b.reason
    assert b.answer is not None
    return b.answer.text


@needs_bwrap
def test_a_card_cannot_read_home_write_outside_or_reach_the_network(
        write_cards, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("SECRET KEY")
    monkeypatch.setenv("HOME", str(home))
    cache = Cache(tmp_path / "cache")
    (cache.root / "results").mkdir(parents=True)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    outside = ROOT / "sandbox-probe.txt"
    text = f"""\
deck: D
cards:
  - id: reads-home
    question: q
    code: |
      import os
      def read():
          try:
              return open({str(home / ".ssh" / "id_ed25519")!r}).read()
          except OSError as e:
              return type(e).__name__
    answer: (read(), os.listdir(os.path.expanduser("~")))
  - id: writes-cache
    question: q
    code: |
      import subprocess
      for how in ("remount,rw", "remount,bind,rw"):  # works for root with capabilities
          subprocess.run(["mount", "-o", how, "/"], capture_output=True)
      def write(path):
          try:
              open(path, "w").write("poison")
              return "written"
          except OSError as e:
              return type(e).__name__
    answer: (write({str(cache.root / "results" / "poison.json")!r}), write({str(outside)!r}))
  - id: connects
    question: q
    code: |
      import socket
      try:
          socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
          net = "connected"
      except OSError as e:
          net = type(e).__name__
    answer: net
"""
    try:
        built = _build(write_cards, text, cache, sandbox=True)
    finally:
        try:
            conn, _ = listener.accept()
            conn.close()
            accepted = True
        except OSError:
            accepted = False
        listener.close()
    content, listing = eval(_answer(built["reads-home"]))
    assert content in ("FileNotFoundError", "PermissionError") and listing == []
    _, in_repo = eval(_answer(built["writes-cache"]))
    assert not (cache.root / "results" / "poison.json").exists()  # at most a private, thrown-away copy
    leaked = outside.exists()
    outside.unlink(missing_ok=True)
    assert in_repo == "OSError" and not leaked  # read-only file system
    assert _answer(built["connects"]) != "'connected'" and not accepted


ENV_CARD = """\
deck: D
cards:
  - id: env
    question: q
    code: |
      import os
    answer: sorted(os.environ)
"""


@pytest.mark.parametrize("sandbox", [True, False], ids=["sandbox", "no-sandbox"])
def test_a_card_sees_a_scrubbed_environment(write_cards, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                            sandbox: bool) -> None:
    if sandbox and choose_sandbox(True)[0] is None:
        pytest.skip("bubblewrap is not installed or cannot run here (make system-deps)")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    built = _build(write_cards, ENV_CARD, Cache(tmp_path / "cache"), sandbox=sandbox)
    names = eval(_answer(built["env"]))
    assert "GITHUB_TOKEN" not in names and "AWS_SECRET_ACCESS_KEY" not in names
    # what tnquiz sets itself (and PWD, which bwrap sets)
    allowed = {*ENV_KEEP, "PYTHONPATH", "TMPDIR", "HOME", "PWD", "PYTORCH_NVML_BASED_CUDA_CHECK"}
    assert {n for n in names if not n.startswith("LC_")} <= allowed


def test_the_build_says_once_when_no_sandbox_runs(write_cards, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cards = ENV_CARD + '  - {id: two, question: q, answer: "1"}\n'
    warnings: list[str] = []
    monkeypatch.setenv("TNQUIZ_SANDBOX", "0")
    _build(write_cards, cards, Cache(tmp_path / "c1"), on_warning=warnings.append)
    assert warnings == [SANDBOX_OFF_WARNING]
    warnings.clear()
    monkeypatch.delenv("TNQUIZ_SANDBOX")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no bwrap to be found
    _build(write_cards, cards, Cache(tmp_path / "c2"), on_warning=warnings.append)
    assert warnings == [NO_SANDBOX_WARNING]
    assert choose_sandbox(None) == (None, NO_SANDBOX_WARNING)
    monkeypatch.setenv("PATH", os.defpath)


def test_tnquiz_is_not_inspectable_while_cards_run() -> None:
    from generator.execute.sandbox import PR_GET_DUMPABLE, not_inspectable, prctl

    if prctl(PR_GET_DUMPABLE) != 1:
        pytest.skip("no prctl here, or this process is already not dumpable")
    with not_inspectable():
        assert prctl(PR_GET_DUMPABLE) == 0  # /proc/<tnquiz>/fd and /mem closed to other processes of the user
    assert prctl(PR_GET_DUMPABLE) == 1
