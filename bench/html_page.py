"""Page weight and time to interactive of quiz.html, in Debian's Chromium (headless, through playwright).

    python3 bench/html_page.py                          # build/cards.json, as is and scaled to 2,000 cards
    python3 bench/html_page.py --cards DIR/cards.json --sizes 0,2000,5000 --runs 7

Reads a build's ``cards.json`` (run ``tnquiz build`` first) and writes quiz.html with
``generator.render.html.write_html`` for the deck as it is (size 0) and for each other size, a deck
of that many cards made by repeating the deck's ``ok`` cards under new ids. For each page it prints the
file size (raw and gzip), then the median over ``--runs`` fresh browser contexts of (milliseconds;
``read``, ``dcl`` and ``tti`` counted from the start of the navigation):

- ``read``: the file is read (``responseEnd``),
- ``dcl``: DOMContentLoaded has run,
- ``tti``: time to interactive: when quiz.js has parsed the cards, rendered the first one and bound
  its handlers (``window.tnqReadyAt``, set as the script's last statement),
- ``js``: of that, the app's own work: parsing the cards' JSON (``json``), restoring the session,
  building the filters and rendering the first card,
- ``tti (saved)``: ``tti`` on a reload (same browser context) with every card answered in
  localStorage,
- ``check``, ``next``, ``filter``: one answer checked, the next card shown, a tag filter applied
  (synchronous work, measured in the page with ``performance.now()``).

No network is used: every request outside file:// is aborted.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import platform
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generator.model import BuiltCard, Deck  # noqa: E402
from generator.render.html import write_html  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]

MEASURE_JS = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const t = window.tnqTimings;
  return {read: nav.responseEnd, dcl: nav.domContentLoadedEventEnd, tti: t.ready, js: t.ready - t.script, json: t.parsed - t.script};
}"""

INTERACT_JS = """() => {
  const out = {};
  const field = document.getElementById("answer");
  let t = performance.now();
  if (field) { field.value = "(1, 2)"; document.getElementById("b-check").click(); }
  else { document.getElementById("opt-1").checked = true; document.getElementById("b-check").click(); }
  out.check = performance.now() - t;
  t = performance.now();
  document.getElementById("b-next").click();
  out.next = performance.now() - t;
  const tag = document.getElementById("f-tag");
  t = performance.now();
  tag.value = tag.options[Math.min(1, tag.options.length - 1)].value;
  tag.dispatchEvent(new Event("change"));
  out.filter = performance.now() - t;
  tag.value = "";
  tag.dispatchEvent(new Event("change"));
  return out;
}"""

ANSWER_ALL_JS = """() => {
  const data = JSON.parse(document.getElementById("tnq-data").textContent);
  const key = "tnquiz:" + data.key;
  const state = JSON.parse(localStorage.getItem(key));
  for (const c of data.cards) state.results[c.id] = {ok: c.i % 3 !== 0, typed: "(2, 3)", h: c.h};
  localStorage.setItem(key, JSON.stringify(state));
}"""


def scaled(deck: Deck, n: int) -> Deck:
    """A deck of ``n`` cards: the ok cards of ``deck`` repeated under new ids (``n == 0``: as is)."""
    ok = [c for c in deck.cards if c.status == "ok"]
    if n == 0 or not ok:
        return deck
    cards: list[BuiltCard] = []
    for i in range(n):
        bc = ok[i % len(ok)]
        k = i // len(ok)
        card = dataclasses.replace(bc.card, id=f"{bc.card.id}.copy{k}") if k else bc.card
        cards.append(dataclasses.replace(bc, card=card))
    return dataclasses.replace(deck, cards=tuple(cards))


def measure(browser: Any, url: str, runs: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {}

    def add(d: dict[str, float], suffix: str = "") -> None:
        for k, v in d.items():
            samples.setdefault(k + suffix, []).append(float(v))

    for _ in range(runs):
        ctx = browser.new_context(viewport={"width": 1000, "height": 900})
        ctx.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                  else route.abort())
        page = ctx.new_page()
        page.goto(url, wait_until="load")
        page.wait_for_selector("html[data-ready]")
        add(page.evaluate(MEASURE_JS))
        add(page.evaluate(INTERACT_JS))
        page.evaluate(ANSWER_ALL_JS)
        page.reload(wait_until="load")
        page.wait_for_selector("html[data-ready]")
        add({"tti": page.evaluate(MEASURE_JS)["tti"]}, " (saved)")
        ctx.close()
    return {k: statistics.median(v) for k, v in samples.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cards", type=Path, default=ROOT / "build" / "cards.json", help="a build's cards.json")
    ap.add_argument("--sizes", default="0,2000", help="deck sizes to try, comma-separated; 0: the deck as is")
    ap.add_argument("--runs", type=int, default=5, help="fresh browser contexts per page (median)")
    args = ap.parse_args(argv)
    if not args.cards.exists():
        print(f"{args.cards} is missing: run `tnquiz build` first (or pass --cards)", file=sys.stderr)
        return 2
    deck = Deck.from_dict(json.loads(args.cards.read_text(encoding="utf-8")))

    from playwright.sync_api import sync_playwright

    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        version = browser.version
        for size in (int(s) for s in args.sizes.split(",")):
            d = scaled(deck, size)
            n = sum(1 for c in d.cards if c.status == "ok")
            path = write_html(d, Path(tmp) / f"n{size}")
            raw = path.read_bytes()
            m = measure(browser, path.as_uri(), args.runs)
            rows.append((n, len(raw), len(gzip.compress(raw, 9)), m))
        browser.close()

    print(f"quiz.html: Chromium {version}, {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}; median of {args.runs} fresh contexts; times in ms")
    cols = ["read", "dcl", "tti", "js", "json", "tti (saved)", "check", "next", "filter"]
    print("| cards | size | gzip | " + " | ".join(cols) + " |")
    print("|---:|---:|---:|" + "---:|" * len(cols))
    for n, size, gz, m in rows:
        print(f"| {n:,} | {size / 1024:,.0f} KiB | {gz / 1024:,.0f} KiB | "
              + " | ".join(f"{m[c]:.1f}" for c in cols) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
