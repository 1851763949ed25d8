"""Nothing tnquiz starts outlives it: signals to a running build, detached card processes, temp folders.

Real processes throughout: a real build is signalled as a terminal would signal its foreground
process group, then /proc is scanned for anything it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from generator.execute.cache import Cache
from generator.execute.runner import run_cards
from generator.execute.sandbox import choose_sandbox
from generator.load import load
from generator.verify import verify

ROOT = Path(__file__).resolve().parent.parent
HAS_BWRAP = choose_sandbox(True)[0] is not None


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of a process; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), fields[0], int(fields[19])


def _descendants(root: int) -> dict[int, int]:
    """Every live process under ``root``: pid -> start time."""
    parents: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (st := _stat(int(name))) is not None:
            parents.setdefault(st[0], []).append(int(name))
            starts[int(name)] = st[2]
    out: dict[int, int] = {}
    todo = [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            out[child] = starts[child]
            todo.append(child)
    return out


def _alive(pid: int, start: int) -> bool:
    st = _stat(pid)
    return st is not None and st[2] == start and st[1] != "Z"


def _cmdline_has(marker: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as fh:
                    if marker.encode() in fh.read():
                        found.append(int(name))
            except OSError:
                pass
    return [p for p in found if p != os.getpid() and (st := _stat(p)) is not None and st[1] != "Z"]


def _wait_for(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _runaway_deck(marker: str, n: int = 1) -> str:
    """``n`` cards that each start a detached process and never end (two: two lanes run them)."""
    return "deck: D\ncards:\n" + "".join(f"""\
  - id: runaway-{i}
    question: q
    code: |
      import subprocess
      subprocess.Popen(["sleep", "{marker}"], start_new_session=True)
      open("running", "w").close()
      while True:
          pass
    answer: "1"
    timeout: 300
""" for i in range(n))


SIGNALS = [signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGKILL]


@pytest.mark.parametrize(("sig", "sandbox", "jobs"), [
    *((s, box, 1) for s in SIGNALS for box in (True, False)),
    *((s, box, 2) for s in (signal.SIGTERM, signal.SIGKILL) for box in (True, False)),  # lanes
], ids=lambda v: v.name if isinstance(v, signal.Signals) else (("sandbox" if v else "no-sandbox")
                                                               if isinstance(v, bool) else f"jobs-{v}"))
def test_a_signalled_build_leaves_no_process_behind(tmp_path: Path, sig: signal.Signals, sandbox: bool,
                                                    jobs: int) -> None:
    if sandbox and not HAS_BWRAP:
        pytest.skip("bubblewrap is not installed or cannot run here (make system-deps)")
    marker = f"{3000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6}"
    deck = tmp_path / "deck.yaml"
    deck.write_text(_runaway_deck(marker, jobs))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "TNQUIZ_SANDBOX": "1" if sandbox else "0",
           "TNQUIZ_CACHE_DIR": str(tmp_path / "cache")}
    # its own process group, as a shell runs a foreground job; the terminal signals the whole group
    errors = tmp_path / "stderr.txt"
    with errors.open("wb") as err:
        build = subprocess.Popen([sys.executable, "-m", "generator", "build", str(deck),
                                  "--out", str(tmp_path / "out"), "--jobs", str(jobs)],
                                 cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=err)
    try:
        # a card's folder: in its worker's temporary root, or in its lane's inside it
        assert _wait_for(lambda: len(list(tmp.glob("tnquiz-worker-*/**/tnquiz-card-*/running"))) == jobs, 240), \
            "the runaway cards never started"
        assert _wait_for(lambda: _cmdline_has(marker), 10)
        started = _descendants(build.pid)
        assert len(started) >= 3  # worker, the card, its detached sleep (and bwrap)
        os.killpg(build.pid, sig)
        build.wait(timeout=60)
    finally:
        if build.poll() is None:
            build.kill()
            build.wait()
    assert _wait_for(lambda: not any(_alive(p, s) for p, s in started.items()), 15), \
        [p for p, s in started.items() if _alive(p, s)]
    assert _cmdline_has(marker) == []
    assert "Traceback" not in errors.read_text()
    if sig != signal.SIGKILL:  # a SIGKILLed tnquiz cannot remove anything itself
        assert list(tmp.iterdir()) == []


def test_a_build_started_ignoring_a_signal_goes_on_when_it_comes(tmp_path: Path) -> None:
    """``nohup tnquiz build``: the terminal's SIGHUP neither stops the build nor kills its cards."""
    deck = tmp_path / "deck.yaml"
    deck.write_text("""\
deck: D
cards:
  - id: slow
    question: q
    code: |
      import time
      open("running", "w").close()
      time.sleep(3)
    answer: "1"
""")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "TNQUIZ_CACHE_DIR": str(tmp_path / "cache")}
    build = subprocess.Popen(["nohup", sys.executable, "-m", "generator", "build", str(deck),
                              "--out", str(tmp_path / "out")], cwd=ROOT, env=env, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(lambda: bool(list(tmp.glob("tnquiz-worker-*/**/tnquiz-card-*/running"))), 240), \
            "the card never started"
        os.killpg(build.pid, signal.SIGHUP)
        _, err = build.communicate(timeout=120)
    finally:
        if build.poll() is None:
            build.kill()
            build.wait()
    assert build.returncode == 0, err
    assert "1 card: 1 ok; 1 run" in err
    assert (tmp_path / "out" / "cards.json").is_file()


DETACH = """\
deck: D
cards:
  - id: detaches
    question: q
    code: |
      import os, subprocess
      subprocess.Popen(["sleep", "{marker}"], start_new_session=True)
      if os.fork() == 0:  # a double-forked daemon
          os.setsid()
          if os.fork() == 0:
              os.execvp("sleep", ["sleep", "{marker}"])
          os._exit(0)
    answer: "1"
  - id: crashes
    question: q
    code: |
      import os
      open("left.txt", "w").write("x")
      os._exit(3)
    answer: "1"
  - id: times-out
    question: q
    code: |
      open("left.txt", "w").write("x")
      while True:
          pass
    answer: "1"
    timeout: 1
  - {{id: after, question: q, answer: "torch.zeros(2).shape"}}
"""


@pytest.mark.parametrize("jobs", [1, 2], ids=["one-worker", "two-lanes"])
@pytest.mark.parametrize("sandbox", [True, False], ids=["sandbox", "no-sandbox"])
def test_detached_processes_and_temp_folders_die_with_their_card(  # type: ignore[no-untyped-def]
        write_cards, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: bool, jobs: int) -> None:
    if sandbox and not HAS_BWRAP:
        pytest.skip("bubblewrap is not installed or cannot run here (make system-deps)")
    marker = f"{4000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6}"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.setenv("TMPDIR", str(tmp))
    loaded = load([write_cards(DETACH.format(marker=marker))])
    assert loaded.problems == ()
    outcomes = {o.card.id: verify(o) for o in
                run_cards(loaded.cards, cache=Cache(tmp_path / "cache"), jobs=jobs, sandbox=sandbox)}
    assert [outcomes[k].status for k in ("detaches", "crashes", "times-out", "after")] == \
        ["ok", "failed", "failed", "ok"]
    assert _wait_for(lambda: _cmdline_has(marker) == [], 10), _cmdline_has(marker)
    assert list(tmp.iterdir()) == []
