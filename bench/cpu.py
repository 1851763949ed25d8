#!/usr/bin/env python3
"""Where a cold build's CPU goes: the main process against the workers (a benchmark, not a test).

On a machine with few cores a cold build is CPU-bound, so its CPU time, not only its wall time,
says what a change saved. For the bundled deck and the generated 2,000-card deck of
``bench/build.py`` it runs cold builds (empty cache) as fresh processes with ``TNQUIZ_SANDBOX=0``
(bubblewrap hides the workers from the CPU accounting) and reports, medians of ``--repeat``: wall
seconds, the main process's CPU seconds, the CPU seconds of every worker process with its lanes and
card children, and the floor ``python -c "import torch"``'s CPU beside them.

    python bench/cpu.py [--repeat N] [--jobs N]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from build import ENV, ROOT, generate

#: Runs the CLI in this process and says, at exit, its own CPU and its children's (the workers).
DRIVER = """\
import atexit, json, resource, sys, time
t0 = time.perf_counter()
def report():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    sys.stderr.write("TNQUIZ-BENCH " + json.dumps({"wall": time.perf_counter() - t0,
        "main": s.ru_utime + s.ru_stime, "workers": c.ru_utime + c.ru_stime}) + "\\n")
atexit.register(report)
sys.argv = ["tnquiz", *sys.argv[1:]]
from generator.cli import main
main()
"""


def run(args: list[str], env: dict[str, str]) -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-c", DRIVER, *args], env=env, cwd=ROOT, capture_output=True, text=True)
    for line in proc.stderr.splitlines():
        if line.startswith("TNQUIZ-BENCH "):
            return dict(json.loads(line.split(" ", 1)[1]))
    raise SystemExit(f"tnquiz {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")


def floor(env: dict[str, str]) -> float:
    before = os.times()
    subprocess.run([sys.executable, "-c", "import torch"], env=env, check=True)
    after = os.times()
    return after.children_user + after.children_system - before.children_user - before.children_system


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=None)
    a = ap.parse_args()
    compileall.compile_dir(ROOT / "generator", quiet=1)
    from generator.paths import bundled_cards_dir

    with tempfile.TemporaryDirectory(prefix="tnquiz-cpu-") as t:
        tmp = Path(t)
        decks = {"bundled": bundled_cards_dir(), "2000 cards": generate(tmp / "gen2000")}
        rows: dict[str, list[dict[str, float]]] = {}
        floors: list[float] = []
        for r in range(a.repeat):
            floors.append(floor(dict(ENV)))
            for name, deck in decks.items():
                env = {**ENV, "TNQUIZ_SANDBOX": "0", "TNQUIZ_CACHE_DIR": str(tmp / f"cache-{name}-{r}")}
                args = ["build", str(deck), "--out", str(tmp / f"out-{name}-{r}")]
                if a.jobs:
                    args += ["--jobs", str(a.jobs)]
                rows.setdefault(name, []).append(run(args, env))
        f = statistics.median(floors)
        print(f"cold-build CPU: python {sys.version.split()[0]}, {os.cpu_count()} cores, median of {a.repeat}; "
              f"floor python -c 'import torch': {f:.2f} CPU s")
        print(f"{'deck':<12} {'wall s':>7} {'main CPU s':>11} {'workers CPU s':>14} {'total / floor':>14}")
        for name, runs in rows.items():
            m = {k: statistics.median(x[k] for x in runs) for k in ("wall", "main", "workers")}
            print(f"{name:<12} {m['wall']:>7.2f} {m['main']:>11.2f} {m['workers']:>14.2f} "
                  f"{(m['main'] + m['workers']) / f:>13.2f}x")


if __name__ == "__main__":
    main()
