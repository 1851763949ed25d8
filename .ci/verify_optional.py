"""`make verify-optional`: run every card that `requires: torchvision`, for real, and say which torch
answered.

Run by the interpreter of the optional environment (torchvision installed; see the Makefile). Builds
every card file that holds such a card into OUT/cards.json, then prints each of those cards with its
status and the torch version its answer came from. Exits 1 when any of them did not come out `ok`
(skipped included: here every one of them must run), or when any card of those files failed or is
contradicted.

    python .ci/verify_optional.py [CARD PATHS...] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from generator import api
from generator.execute.cache import Cache, package_version
from generator.render.cardsjson import write_cards_json

REQUIREMENT = "torchvision"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", type=Path, help="card files or folders (default: the bundled deck)")
    ap.add_argument("--out", type=Path, default=Path("build/optional"), help="where cards.json goes")
    args = ap.parse_args(argv)

    if package_version(REQUIREMENT) is None:
        print(f"verify-optional: {REQUIREMENT} is not installed in {sys.executable}'s environment", file=sys.stderr)
        return 1
    loaded = api.load(args.paths)
    wanted = {c.id for c in loaded.cards if REQUIREMENT in c.requires}
    if not wanted:
        print(f"verify-optional: no card in {', '.join(map(str, args.paths)) or 'the bundled deck'} "
              f"requires {REQUIREMENT}", file=sys.stderr)
        return 1
    files = sorted({Path(c.file) for c in loaded.cards if c.id in wanted})
    result = api.check(files, cache=Cache())
    written = write_cards_json(result.deck, args.out)

    bad: list[str] = []
    print(f"{'card':<48} {'status':<12} torch")
    for c in result.cards:
        if c.id in wanted:
            print(f"{c.id:<48} {c.status:<12} {c.torch_version or '-'}")
        if (c.id in wanted and c.status != "ok") or c.status in ("failed", "contradicted", "error"):
            bad.append(f"{c.card.location} [{c.id}]: {c.status}: {c.reason or '; '.join(c.problems)}")
    versions = Counter(c.torch_version for c in result.cards if c.id in wanted and c.torch_version)
    statuses = Counter(c.status for c in result.cards if c.id in wanted)
    print(f"{len(wanted)} cards that require {REQUIREMENT} ({package_version(REQUIREMENT)}): "
          + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
          + "; answers from torch " + (", ".join(f"{v} ({n})" for v, n in sorted(versions.items())) or "none")
          + f"; {len(result.cards)} cards in {len(files)} files, {result.ran} run; wrote {written}")
    for line in [*map(str, loaded.problems), *bad]:
        print(f"error: {line}", file=sys.stderr)
    return 1 if bad or loaded.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
