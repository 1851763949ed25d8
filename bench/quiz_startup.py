"""Time to the first card of ``tnquiz quiz``, as a ratio to a bare ``python -c pass``.

The quiz only reads ``cards.json`` and the review database (it never runs a snippet, never imports
torch), so starting it should cost little more than starting Python. This builds a synthetic deck of
``--cards`` cards (copies of ``tests/data/quiz_cards.json``) and a review database with ``--reviewed``
cards and ten reviews each, then measures, round-robin, ``--runs`` times (medians reported; wall time
as a ratio to the same round's baseline, and user+sys CPU time, which a busy machine disturbs less):

- ``python -c pass`` (the baseline),
- ``tnquiz quiz --json`` (load the deck and the db, build the queue, print it),
- ``tnquiz quiz`` in a pseudo-terminal until the first card's answer prompt is on screen,
- ``tnquiz stats``.

Usage::

    python bench/quiz_startup.py                 # 1000 cards, 500 reviewed, 15 runs
    python bench/quiz_startup.py --cards 5000 --reviewed 3000 --runs 9
    python bench/quiz_startup.py --exe tnquiz    # the installed console script instead of python -m
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NOW = datetime(2025, 3, 1, 9, tzinfo=timezone.utc)


def make_deck(path: Path, n: int) -> list[str]:
    base = json.loads((ROOT / "tests" / "data" / "quiz_cards.json").read_text())
    ok = [c for c in base["cards"] if c["status"] == "ok"]
    cards = []
    for i in range(n):
        c = dict(ok[i % len(ok)])
        c["id"] = f"{c['id']}-{i}"
        c["deck"] = f"{c['deck']}::Part{i % 7}"
        cards.append(c)
    path.write_text(json.dumps({**base, "cards": cards}))
    return [c["id"] for c in cards]


def make_db(path: Path, ids: list[str], reviewed: int) -> None:
    from generator.quiz.scheduler import Rating, make_scheduler, new_card, outcomes
    from generator.quiz.store import Store

    s = make_scheduler(fuzz=False)
    with Store(path) as store:
        for k, cid in enumerate(ids[:reviewed]):
            t = NOW - timedelta(days=60) + timedelta(minutes=k)
            card = new_card(cid, t)
            before = None
            for _ in range(10):
                o = outcomes(s, card, t)[Rating.Good if k % 5 else Rating.Again]
                store.record(cid, before=before, after=o.card, log=o.log, deck="D", answer_hash="x")
                before, card, t = o.card, o.card, max(o.card.due, t + timedelta(minutes=1))


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_once(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run to completion, output discarded."""
    t0, c0 = time.perf_counter(), _cpu()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0, _cpu() - c0


def first_card_once(cmd: list[str], env: dict[str, str], marker: str = "Done 0") -> tuple[float, float]:
    """(wall, CPU) seconds from spawning ``cmd`` in a pseudo-terminal until a prompt follows ``marker``
    (CPU: the whole run, which ends right after with ``q``)."""
    import pexpect

    t0, c0 = time.perf_counter(), _cpu()
    p = pexpect.spawn(cmd[0], cmd[1:], env=env, encoding="utf-8", timeout=60, dimensions=(50, 120))
    p.expect(marker)
    p.expect([r"\? (\(e\.g\. 2x3\) )?$", r"\(or type it\): $"])
    wall = time.perf_counter() - t0
    p.sendline("q")
    p.expect(pexpect.EOF)
    p.close()
    return wall, _cpu() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cards", type=int, default=1000)
    ap.add_argument("--reviewed", type=int, default=500)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--exe", default=None, help="e.g. tnquiz (default: python -m generator)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        ids = make_deck(d / "cards.json", args.cards)
        make_db(d / "reviews.sqlite3", ids, args.reviewed)
        env = {**os.environ, "TNQUIZ_DB": str(d / "reviews.sqlite3"),
               "TNQUIZ_NOW": NOW.isoformat(), "TERM": "dumb", "PYTHONPATH": str(ROOT)}
        tnquiz = [args.exe] if args.exe else [sys.executable, "-m", "generator"]
        cards = ["--cards", str(d / "cards.json")]
        # warm the bytecode caches once
        subprocess.run([*tnquiz, "quiz", *cards, "--json"], env=env, stdout=subprocess.DEVNULL, check=True)
        jobs: list[tuple[str, Callable[[], tuple[float, float]]]] = [
            ("python -c pass", lambda: run_once([sys.executable, "-c", "pass"], env)),
            ("tnquiz quiz --json", lambda: run_once([*tnquiz, "quiz", *cards, "--json"], env)),
            ("python in a pty until an input() prompt", lambda: first_card_once(
                [sys.executable, "-c", "print('Done 0'); input('? ')"], env)),
            ("tnquiz quiz: first card on screen (pty)", lambda: first_card_once(
                [*tnquiz, "quiz", *cards], env)),
            ("tnquiz stats", lambda: run_once([*tnquiz, "stats", *cards], env)),
        ]
        # round-robin, so that a busy moment of the machine hits every command alike
        walls: dict[str, list[float]] = {name: [] for name, _ in jobs}
        cpus: dict[str, list[float]] = {name: [] for name, _ in jobs}
        ratios: dict[str, list[float]] = {name: [] for name, _ in jobs}
        for _ in range(args.runs):
            base_wall = 0.0
            for name, job in jobs:
                wall, cpu = job()
                if name == "python -c pass":
                    base_wall = wall
                walls[name].append(wall)
                cpus[name].append(cpu)
                ratios[name].append(wall / base_wall)
    print(f"{args.cards} cards, {args.reviewed} reviewed ({args.reviewed * 10} reviews), "
          f"median of {args.runs} runs, Python {sys.version.split()[0]}, "
          f"cli: {' '.join(Path(t).name if i == 0 else t for i, t in enumerate(tnquiz))}")
    med = statistics.median
    base_cpu = med(cpus["python -c pass"])
    print("| what | wall s | wall ratio | CPU s | CPU ratio |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, _ in jobs:
        print(f"| {name} | {med(walls[name]):.3f} | {med(ratios[name]):.1f}x | {med(cpus[name]):.3f} "
              f"| {med(cpus[name]) / base_cpu:.1f}x |")
    print("wall ratio: median over rounds of (wall time / the same round's `python -c pass`); "
          "CPU: user+sys of the process")


if __name__ == "__main__":
    main()
