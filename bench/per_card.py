#!/usr/bin/env python3
"""What one more card costs, by how it runs (a benchmark, not a test).

``tnquiz check`` (empty cache, one worker) on decks of SMALL and LARGE trivial cards; the difference
divided by the difference in cards is the cost of a card, with the worker's start taken out:

- pure card, ``--isolation auto``: runs in the reused child (``a = torch.zeros(2, 3)``);
- the same card, ``--isolation fork``: a fresh child per card;
- an impure card, ``--isolation auto``: ``import os`` makes it impure, so a fresh child per card.

Cards are timed round-robin, as fresh processes, medians of ``--repeat``: wall time, and CPU time
(user + system of the whole process tree, steadier on a busy machine). The runs are made with
``TNQUIZ_SANDBOX=0``: the sandbox costs once per worker, not per card, and it hides the worker from
the CPU accounting of the process that waits for it.

    python bench/per_card.py [--repeat N] [--small 50] [--large 450]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
from pathlib import Path

from build import ENV, timed  # bench/build.py: timed process trees, in the environment a user has

KINDS = {
    "pure card, reused child (auto)": ("a = torch.zeros(2, {k})", "auto"),
    "pure card, fresh child (fork)": ("a = torch.zeros(2, {k})", "fork"),
    "impure card, fresh child (auto)": ("import os\n      a = torch.zeros(2, {k})", "auto"),
}


def deck(folder: Path, code: str, n: int) -> Path:
    folder.mkdir(parents=True)
    lines = ["deck: PerCard", "cards:"]
    for k in range(n):
        lines += [f"  - id: c-{k}", "    question: q", "    code: |", f"      {code.format(k=1 + k % 7)}",
                  "    answer: a.shape"]
    (folder / "cards.yaml").write_text("\n".join(lines) + "\n")
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--small", type=int, default=50)
    ap.add_argument("--large", type=int, default=450)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tnquiz-percard-") as t:
        tmp = Path(t)
        times: dict[tuple[str, int], list[float]] = {}
        cpus: dict[tuple[str, int], list[float]] = {}
        runs = 0
        for _ in range(args.repeat):
            for name, (code, iso) in KINDS.items():
                for n in (args.small, args.large):
                    runs += 1
                    folder = deck(tmp / f"run-{runs}", code, n)
                    env = {**ENV, "TNQUIZ_CACHE_DIR": str(folder / "cache"), "TNQUIZ_SANDBOX": "0"}
                    cmd = [sys.executable, "-m", "generator", "check", str(folder), "--jobs", "1",
                           "--isolation", iso]
                    before = resource.getrusage(resource.RUSAGE_CHILDREN)
                    secs, _, _ = timed(cmd, env)
                    after = resource.getrusage(resource.RUSAGE_CHILDREN)
                    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                    times.setdefault((name, n), []).append(secs)
                    cpus.setdefault((name, n), []).append(cpu)
        print(f"per-card cost: python {sys.version.split()[0]}, {os.cpu_count()} cores, one worker, "
              f"{args.small} vs {args.large} cards, median of {args.repeat}")
        print(f"{'how the card runs':<34} {'wall ms/card':>13} {'CPU ms/card':>12}")
        for name in KINDS:
            per = [(statistics.median(d[(name, args.large)]) - statistics.median(d[(name, args.small)]))
                   / (args.large - args.small) * 1000 for d in (times, cpus)]
            print(f"{name:<34} {per[0]:>13.2f} {per[1]:>12.2f}")


if __name__ == "__main__":
    main()
