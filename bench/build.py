#!/usr/bin/env python3
"""Build speed, measured side by side in one run (a benchmark, not a test).

For the bundled deck and a generated 2,000-card deck it times: the floor `python -c "import torch"`,
a cold build (empty cache), a warm build (nothing changed) and a one-card-edit rebuild, each as a
fresh `python -m generator build` process, and reports each as a ratio to the floor (timed again in
every round, beside the builds; the edit is compared in each round with the floors timed just before
and after it, as this machine's speed drifts from minute to minute). Targets: cold bundled <= 1.5x floor; 2,000 cards cold <= 2x floor;
warm <= 0.2x floor and no torch import; one-card edit <= floor + 0.4 s. Builds run with the defaults
(``--isolation auto``: pure cards share a reused child; ``--jobs``: see ``runner.default_jobs``); each
cold build is also timed with ``--isolation fork`` (a fresh child per card) and with ``--jobs 1``
beside it. For the bundled deck, which has cards that use ``torch.optim``, a bound is timed beside
the floor: ``import torch`` and one optimizer made, the least the worker that runs those cards does.
Peak memory: the largest process of each tree; the workers run in their sandbox, out of
reach of ``wait4``, so one more cold build of each deck runs with ``TNQUIZ_SANDBOX=0`` to see them.

Every process runs with the bytecode a user has: ``generator`` is byte-compiled first and
``PYTHONDONTWRITEBYTECODE`` is dropped from the environment (with it set, an editable install
compiles tnquiz's modules from source in every process, about 0.25 s, which no installed copy pays).

    python bench/build.py [--repeat N] [--jobs N] [--deck bundled|2000]
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the environment every timed process gets: as installed, with its bytecode (see the docstring)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in MiB of the largest process in the tree, stderr."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    secs = time.perf_counter() - t0
    err = proc.stderr.read() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err}")
    return secs, usage.ru_maxrss // 1024, err


def generate(folder: Path, n: int = 2000) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    ops = [
        ("torch.zeros({a}, {b}).reshape(-1).shape", "shape"),
        ("torch.ones({a}, {b}).sum(dim=0)", "value"),
        ("torch.arange({a} * {b}).view({a}, {b}).t().shape", "shape"),
        ("torch.cat([torch.zeros({a}, {b})] * 2, dim=1).shape", "shape"),
        ("(torch.arange({a}) * {b}).dtype", "dtype"),
    ]
    per_file = 200
    for f in range(n // per_file):
        lines = [f"deck: Bench::File{f}", "cards:"]
        for i in range(per_file):
            k = f * per_file + i
            expr, _ = ops[k % len(ops)]
            expr = expr.format(a=1 + k % 7, b=1 + k % 5)
            lines += [f"  - id: gen-{k}", f"    question: What is `{expr}`?", f"    answer: \"{expr}\""]
        (folder / f"gen{f:02d}.yaml").write_text("\n".join(lines) + "\n")
    return folder


def edit_one(folder: Path) -> None:
    """Change one card's answer expression (`x` -> `(x)`): exactly one card must run again."""
    for f in sorted(folder.glob("*.yaml")):
        lines = f.read_text().splitlines(keepends=True)
        for i, line in enumerate(lines):
            head, sep, value = line.partition("answer: ")
            value = value.rstrip("\n")
            if not sep or head.strip() not in ("", "-") or not value or value[0] in "|>":
                continue
            q = value[0] if value[0] in "'\"" and value[-1] == value[0] else ""
            inner = value[1:-1] if q else value
            lines[i] = f"{head}{sep}{q}({inner}){q}\n"
            f.write_text("".join(lines))
            return
    raise SystemExit(f"no card to edit in {folder}")


#: The least any process that runs a card using ``torch.optim`` does: import torch, then make one
#: optimizer (its constructor imports ``torch._dynamo``, sympy and some 800 modules).
OPTIM = "import torch; torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)"


def measure(name: str, deck: Path, jobs: int | None, repeat: int, tmp: Path,
            optim: bool = False) -> list[tuple[str, float, int, str]]:
    base = [sys.executable, "-m", "generator", "build", str(deck), "--out", str(tmp / f"out-{name}")]
    if jobs:
        base += ["--jobs", str(jobs)]
    times: dict[str, list[float]] = {}
    mem: dict[str, int] = {}
    torch_imported = False

    def run(what: str, cmd: list[str], env: dict[str, str]) -> str:
        s, m, err = timed(cmd, env)
        times.setdefault(what, []).append(s)
        mem[what] = max(mem.get(what, 0), m)
        return err

    def variant(cmd: list[str], r: int, tag: str, *extra: str) -> tuple[list[str], dict[str, str]]:
        c = [*cmd, *extra]
        c[c.index("--out") + 1] = str(tmp / f"out-{name}-{r}-{tag}")
        return c, {**ENV, "TNQUIZ_CACHE_DIR": str(tmp / f"cache-{name}-{r}-{tag}")}

    for r in range(repeat):
        work = tmp / f"{name}-{r}"
        shutil.copytree(deck, work)
        cmd = [*base]
        cmd[4] = str(work)
        env = {**ENV, "TNQUIZ_CACHE_DIR": str(tmp / f"cache-{name}-{r}")}
        run("floor", [sys.executable, "-c", "import torch"], dict(ENV))
        if optim:
            run("optim", [sys.executable, "-c", OPTIM], dict(ENV))
        run("fork", *variant(cmd, r, "fork", "--isolation", "fork"))
        if not jobs:
            run("jobs1", *variant(cmd, r, "jobs1", "--jobs", "1"))
        run("cold", cmd, env)
        _, _, err = timed([*cmd[:1], "-X", "importtime", *cmd[1:]], env)
        # torch in this process, or a worker started (a worker imports torch): "0 run" says none did
        torch_imported |= (any(line.rstrip().endswith("| torch") for line in err.splitlines())
                           or "; 0 run," not in err)
        run("warm", cmd, env)  # timed again without -X importtime
        edit_one(work)
        err = run("edit", cmd, env)
        if "; 1 run," not in err:
            raise SystemExit(f"one-card edit did not run exactly one card: {err}")
        # the floor again, right after: the edit is compared with the mean of the two floors beside it
        run("floor", [sys.executable, "-c", "import torch"], dict(ENV))
        times.setdefault("edit - floor", []).append(times["edit"][-1] - (times["floor"][-1] + times["floor"][-2]) / 2)
    c, e = variant(base, 0, "nosandbox")
    run("nosandbox", c, {**e, "TNQUIZ_SANDBOX": "0"})
    med = {k: statistics.median(v) for k, v in times.items()}
    floor = med["floor"]
    rows = [(f"{name}: floor, python -c 'import torch'", floor, mem["floor"], "1.00x")]
    if optim:
        rows.append((f"{name}: bound, torch + one optimizer", med["optim"], mem["optim"],
                     f"{med['optim'] / floor:.2f}x floor (no build of a deck with a torch.optim card can beat it)"))
    rows.append((f"{name}: cold build", med["cold"], mem["nosandbox"],
                 f"{med['cold'] / floor:.2f}x floor (peak MiB: the same build without the sandbox)"))
    rows.append((f"{name}: cold build, --isolation fork", med["fork"], mem["fork"], f"{med['fork'] / floor:.2f}x floor"))
    if "jobs1" in med:
        rows.append((f"{name}: cold build, --jobs 1", med["jobs1"], mem["jobs1"], f"{med['jobs1'] / floor:.2f}x floor"))
    rows.append((f"{name}: warm build", med["warm"], mem["warm"],
                 f"{med['warm'] / floor:.2f}x floor, torch imported: {'yes' if torch_imported else 'no'}"))
    rows.append((f"{name}: one-card edit", med["edit"], mem["edit"],
                 f"floor + {med['edit - floor']:+.2f} s (median over rounds of the edit minus the floors beside it)"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--deck", choices=("bundled", "2000"), action="append",
                    help="only this deck (may be given twice; default: both)")
    args = ap.parse_args()
    decks = args.deck or ["bundled", "2000"]
    from generator.paths import bundled_cards_dir

    compileall.compile_dir(ROOT / "generator", quiet=1)

    with tempfile.TemporaryDirectory(prefix="tnquiz-bench-") as t:
        tmp = Path(t)
        n_bundled = sum(1 for _ in bundled_cards_dir().glob("*.yaml"))
        rows = []
        if "bundled" in decks:
            rows += measure("bundled", bundled_cards_dir(), args.jobs, args.repeat, tmp, optim=True)
        if "2000" in decks:
            rows += measure("2000 cards", generate(tmp / "gen2000"), args.jobs, args.repeat, tmp)
        print(f"tnquiz build benchmark: python {sys.version.split()[0]}, {os.cpu_count()} cores, "
              f"median of {args.repeat}, bundled deck = {n_bundled} files")
        print(f"{'what':<42} {'seconds':>8} {'peak MiB':>9}  ratio")
        for what, secs, mib, ratio in rows:
            print(f"{what:<42} {secs:>8.2f} {mib:>9}  {ratio}")


if __name__ == "__main__":
    main()
