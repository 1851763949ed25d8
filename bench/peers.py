#!/usr/bin/env python3
"""tnquiz against its peers on the same snippets, side by side in one run (a benchmark, not a test).

150 shape snippets (``a = torch.zeros(2, 3)``, then ``a.reshape(-1).shape``-style expressions) run
four ways, each as fresh processes, round-robin, medians of ``--repeat``:

- floor: ``python -c "import torch"``;
- tnquiz, cold: ``tnquiz check`` on a deck of 150 cards with an empty cache (every card run and
  compared with its ``expect``; no outputs written), once per ``--isolation`` mode given;
- sybil under pytest: one reStructuredText file of 150 doctest examples (``>>> a.reshape(-1).shape``
  / ``torch.Size([6])``), collected and checked by sybil's doctest parser, with no isolation
  between examples;
- nbclient: a notebook of 150 code cells executed in one ipykernel (``import torch`` in the first).

Needs the ``bench`` extra (``pip install -c constraints.txt -e '.[bench]'``).

    python bench/peers.py [--repeat N] [--isolation auto,fork]
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
N = 150

OPS = [
    ("a.reshape(-1).shape", lambda s: [s[0] * s[1]]),
    ("a.t().shape", lambda s: [s[1], s[0]]),
    ("a.unsqueeze(0).shape", lambda s: [1, *s]),
    ("torch.cat([a, a], dim=1).shape", lambda s: [s[0], 2 * s[1]]),
    ("a.sum(dim=0).shape", lambda s: [s[1]]),
    ("torch.stack([a, a]).shape", lambda s: [2, *s]),
]


def snippets() -> list[tuple[str, str, list[int]]]:
    """(setup, expression, expected shape) for each of the N snippets."""
    out = []
    for k in range(N):
        shape = [1 + k % 5, 2 + k % 7]
        expr, want = OPS[k % len(OPS)]
        out.append((f"a = torch.zeros({shape[0]}, {shape[1]})", expr, want(shape)))
    return out


def write_deck(folder: Path) -> Path:
    folder.mkdir(parents=True)
    lines = ["deck: Peers", "cards:"]
    for k, (setup, expr, want) in enumerate(snippets()):
        lines += [f"  - id: peer-{k}", f"    question: What is `{expr}`?", f"    setup: \"{setup}\"",
                  f"    answer: \"{expr}\"", f"    expect: \"{want}\""]
    (folder / "peers.yaml").write_text("\n".join(lines) + "\n")
    return folder


def write_sybil(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "conftest.py").write_text(
        "import torch\n"
        "from sybil import Sybil\n"
        "from sybil.parsers.rest import DocTestParser\n\n"
        "pytest_collect_file = Sybil(parsers=[DocTestParser()], patterns=['*.rst'],\n"
        "                            setup=lambda ns: ns.update(torch=torch)).pytest()\n")
    blocks = ["Shapes", "======", ""]
    for setup, expr, want in snippets():
        blocks += [f">>> {setup}", f">>> {expr}", f"torch.Size({want})", ""]
    (folder / "shapes.rst").write_text("\n".join(blocks))
    return folder


def write_notebook(path: Path) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import torch")]
    nb.cells += [nbformat.v4.new_code_cell(f"{setup}\n{expr}") for setup, expr, _ in snippets()]
    nbformat.write(nb, path)
    return path


NB_RUN = ("import sys, nbformat, nbclient\n"
          "nb = nbformat.read(sys.argv[1], as_version=4)\n"
          "nbclient.NotebookClient(nb, kernel_name='python3', timeout=600).execute()\n"
          "outs = [c.outputs[0]['data']['text/plain'] for c in nb.cells[1:]]\n"
          "assert len(outs) == int(sys.argv[2]) and all(o.startswith('torch.Size') for o in outs), outs[:3]\n")


def timed(cmd: list[str], env: dict[str, str], cwd: Path = ROOT) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    secs = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--isolation", default="auto,fork",
                    help="tnquiz --isolation modes to time, comma-separated (default: auto,fork)")
    args = ap.parse_args()
    modes = [m for m in args.isolation.split(",") if m]
    with tempfile.TemporaryDirectory(prefix="tnquiz-peers-") as t:
        tmp = Path(t)
        deck = write_deck(tmp / "deck")
        sybil_dir = write_sybil(tmp / "sybil")
        notebook = write_notebook(tmp / "shapes.ipynb")
        # no bytecode written (each round meets the sybil folder as new), but tnquiz's own modules
        # are byte-compiled first, as an installed copy is
        compileall.compile_dir(ROOT / "generator", quiet=1)
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        rows: dict[str, list[float]] = {}

        def add(name: str, secs: float) -> None:
            rows.setdefault(name, []).append(secs)

        for r in range(args.repeat):
            add("floor: python -c 'import torch'", timed([sys.executable, "-c", "import torch"], env))
            for mode in modes:
                cache = tmp / f"cache-{mode}-{r}"
                shutil.rmtree(cache, ignore_errors=True)
                cmd = [sys.executable, "-m", "generator", "check", str(deck), "--isolation", mode]
                add(f"tnquiz check, cold, --isolation {mode}", timed(cmd, {**env, "TNQUIZ_CACHE_DIR": str(cache)}))
            add("sybil under pytest (no isolation)",
                timed([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c",
                       str(sybil_dir / "pytest.ini"), str(sybil_dir)], env, cwd=sybil_dir))
            add("nbclient, one kernel (no isolation)",
                timed([sys.executable, "-c", NB_RUN, str(notebook), str(N)], env))
        floor = statistics.median(rows["floor: python -c 'import torch'"])
        print(f"peers benchmark: {N} shape snippets, python {sys.version.split()[0]}, "
              f"{os.cpu_count()} cores, median of {args.repeat}")
        print(f"{'what':<44} {'seconds':>8}  ratio")
        for name, values in rows.items():
            secs = statistics.median(values)
            print(f"{name:<44} {secs:>8.2f}  {secs / floor:.2f}x floor")


if __name__ == "__main__":
    main()
