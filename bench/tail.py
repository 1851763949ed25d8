#!/usr/bin/env python3
"""The end of a cold build, measured (a benchmark, not a test).

A cold build ends with work that runs on one core after the last card's result is back: the
workers' teardown, the verification of every outcome, then the render (every card's pieces, the
.apkg, the page, cards.json). On 2 cores the other core is then idle, so this part counts in full
in a cold build's wall time. For the bundled deck and a generated 2,000-card deck (the one of
``bench/build.py``) it runs ``generator.api.build`` in this process with an empty cache, ``--repeat``
times, and prints the medians of:

- the whole build (wall);
- from the last card's result to ``api.run`` returning (the workers' teardown, the verification);
- the render: wall and CPU seconds;
- the render alone again, on the same verified deck with no memo of pieces (every card's pieces
  made again; the code's highlighting, already in this process, is not redone), CPU.

    python bench/tail.py [--repeat N] [--deck bundled|2000]
"""

from __future__ import annotations

import argparse
import compileall
import importlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from build import generate  # bench/build.py's 2,000-card deck

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def once(deck: Path) -> dict[str, float]:
    from generator import api
    from generator.execute.cache import Cache

    render_mod = importlib.import_module("generator.render")
    marks: dict[str, float] = {}
    cache_dir, out = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp())
    os.environ["TNQUIZ_CACHE_DIR"] = str(cache_dir)  # the render's memos live beside the cache
    real_render, real_run = render_mod.render_all, api.run

    def render_all(*a: Any, **k: Any) -> Any:
        marks["render start"], cpu = time.perf_counter(), time.process_time()
        try:
            return real_render(*a, **k)
        finally:
            marks["render end"], marks["render cpu"] = time.perf_counter(), time.process_time() - cpu

    def run(*a: Any, **k: Any) -> Any:
        try:
            return real_run(*a, **k)
        finally:
            marks["run end"] = time.perf_counter()

    def done(oc: Any) -> None:
        marks["last result"] = time.perf_counter()

    render_mod.render_all, api.run = render_all, run
    try:
        t0 = time.perf_counter()
        result = api.build([deck], out, cache=Cache(cache_dir), on_done=done)
        total = time.perf_counter() - t0
        if result.exit_code not in (0, 1):
            raise SystemExit(f"the build failed: {result.withheld}")
        verified = result.report.deck
    finally:
        render_mod.render_all, api.run = real_render, real_run
    again = Path(tempfile.mkdtemp())
    cpu = time.process_time()
    real_render(verified, again, memo=False)
    alone = time.process_time() - cpu
    for d in (cache_dir, out, again):
        shutil.rmtree(d, ignore_errors=True)
    return {
        "build": total,
        "last result -> run returns": marks["run end"] - marks["last result"],
        "render (wall)": marks["render end"] - marks["render start"],
        "render (CPU)": marks["render cpu"],
        "render alone, no piece memo (CPU)": alone,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--deck", choices=("bundled", "2000"), action="append",
                    help="only this deck (may be given twice; default: both)")
    args = ap.parse_args()
    from generator.paths import bundled_cards_dir

    compileall.compile_dir(ROOT / "generator", quiet=1)
    with tempfile.TemporaryDirectory(prefix="tnquiz-tail-") as t:
        decks = {"bundled": bundled_cards_dir(), "2000": generate(Path(t) / "gen2000")}
        print(f"{'deck':<8} {'what':<34} {'seconds (median of ' + str(args.repeat) + ')':>24}")
        for name in args.deck or ["bundled", "2000"]:
            runs = [once(decks[name]) for _ in range(args.repeat)]
            for what in runs[0]:
                print(f"{name:<8} {what:<34} {statistics.median(r[what] for r in runs):>24.2f}")


if __name__ == "__main__":
    main()
