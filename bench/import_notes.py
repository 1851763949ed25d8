"""``tnquiz import`` of the five seed notes, as a ratio to ``python -c "import torch"`` (target <= 2x).

Importing notes must start a worker (which imports torch) and run every note's code, so the floor is
one torch import. Both commands run round-robin ``--runs`` times; reported are the medians of the wall
time (and of each round's ratio) and of user+sys CPU time, which a busy machine disturbs less.

Usage::

    python bench/import_notes.py                       # the seeds in ../shared/seeds, 7 runs
    python bench/import_notes.py --notes DIR --runs 11
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_once(cmd: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), _cpu()
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    if r.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd)} exited with {r.returncode}")
    return time.perf_counter() - t0, _cpu() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--notes", type=Path, default=ROOT.parent / "shared" / "seeds")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    notes = sorted(str(p) for p in args.notes.iterdir() if p.suffix in (".md", ".txt"))
    if not notes:
        raise SystemExit(f"{args.notes}: no .md or .txt notes")
    env = dict(os.environ)
    env.setdefault("TNQUIZ_CACHE_DIR", tempfile.mkdtemp(prefix="tnquiz-bench-cache-"))
    torch_cmd = [sys.executable, "-c", "import torch"]
    import_cmd = [sys.executable, "-m", "generator", "import", *notes]
    run_once(torch_cmd, env)  # warm the file cache
    run_once(import_cmd, env, ok=(0, 1))
    walls: dict[str, list[float]] = {"torch": [], "import": []}
    cpus: dict[str, list[float]] = {"torch": [], "import": []}
    ratios = []
    for _ in range(args.runs):
        for name, cmd in (("torch", torch_cmd), ("import", import_cmd)):
            wall, cpu = run_once(cmd, env, ok=(0, 1))  # 1: the notes hold contradicted claims
            walls[name].append(wall)
            cpus[name].append(cpu)
        ratios.append(walls["import"][-1] / walls["torch"][-1])
    med = {k: statistics.median(v) for k, v in walls.items()}
    cmed = {k: statistics.median(v) for k, v in cpus.items()}
    print(f"{len(notes)} notes, {args.runs} runs, medians")
    print(f"python -c 'import torch'   wall {med['torch']:.2f} s   cpu {cmed['torch']:.2f} s")
    print(f"tnquiz import NOTES        wall {med['import']:.2f} s   cpu {cmed['import']:.2f} s")
    print(f"ratio (median of rounds)   wall {statistics.median(ratios):.2f}x   cpu {cmed['import'] / cmed['torch']:.2f}x"
          "   (target <= 2x)")


if __name__ == "__main__":
    main()
