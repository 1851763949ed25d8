"""Stage 4: render verified cards (``model.Deck``) into files. Never imports torch."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

from generator import __version__, atomic
from generator.model import Deck
from generator.paths import templates_dir
from generator.render.cardsjson import write_cards_json

STAMP = ".tnquiz-build"


def _fingerprint(deck: Deck, templates: Path | None, split: bool) -> str:
    """Everything the outputs are made from: the verified deck, the templates, the options.

    Compact JSON on purpose: `indent=` would switch json to its pure-Python encoder, and this runs
    on every warm build (measured: +10 ms for 611 cards if cards.json's text were reused here).
    """
    h = hashlib.sha256()
    h.update(json.dumps(deck.to_dict(), sort_keys=True).encode())
    h.update(f"{__version__}|{split}|{os.environ.get('SOURCE_DATE_EPOCH', '')}".encode())
    for root in [templates_dir(), *([templates] if templates else [])]:
        for f in sorted(root.rglob("*")):
            if f.is_file():
                h.update(str(f.relative_to(root)).encode())
                h.update(f.read_bytes())
    return h.hexdigest()


_SURROGATE = re.compile("[\ud800-\udfff]")


def encodable(deck: Deck) -> Deck:
    """The deck with every lone surrogate (a card may print ``chr(0xD800)``) shown as the text
    ``\\ud800``: UTF-8 cannot encode one, and no card's output may break a writer (SQLite, files)."""
    text = json.dumps(deck.to_dict(), ensure_ascii=False)
    if not _SURROGATE.search(text):
        return deck
    return Deck.from_dict(json.loads(_SURROGATE.sub(lambda m: f"\\\\u{ord(m.group()):04x}", text)))


def memo_path(cache_root: Path | None = None) -> Path:
    """The highlighting memo, beside the result cache (``tnquiz cache clear`` removes both)."""
    from generator.execute.cache import default_dir

    return (cache_root if cache_root is not None else default_dir()) / "highlight.json"


def prepare(memo: bool = True) -> None:
    """Import the renderers and load the highlight memo; called while workers import torch."""
    import generator.render.anki
    import generator.render.html  # noqa: F401
    from generator.render.highlight import load_memo

    if memo:
        load_memo(memo_path())


#: The lock file that makes builds into one folder take turns.
LOCK = ".tnquiz-build.lock"


def render_all(deck: Deck, out_dir: Path, *, templates: Path | None = None, split: bool = False,
               memo: bool = True, on_wait: Callable[[], None] | None = None) -> list[Path]:
    """Write cards.json, the Anki deck(s) and the HTML quiz; return what was written.

    When ``out_dir`` already holds the outputs of exactly these inputs, nothing is written (and an
    empty list is returned): a rebuild with no change costs no rendering. Every file is replaced
    atomically (generator/atomic.py), and the whole render holds a lock on ``out_dir``: two builds
    into one folder take turns, so the folder always holds the outputs of one build. The stamp is
    removed first and written last, so a render that is killed half-way is redone by the next build.
    """
    fp = _fingerprint(deck, templates, split)
    if _up_to_date(out_dir, fp):  # no lock needed to see that (the stamp is written last)
        return []
    from filelock import FileLock, Timeout  # 0.1 s to import: only when there is work to do

    out_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(out_dir / LOCK)
    try:
        lock.acquire(timeout=0.5)
    except Timeout:
        if on_wait:
            on_wait()  # another build is writing into out_dir: say so, then wait our turn
        lock.acquire()
    try:
        return _render_locked(deck, out_dir, fp, templates=templates, split=split, memo=memo)
    finally:
        lock.release()


def _up_to_date(out_dir: Path, fp: str) -> bool:
    stamp = out_dir / STAMP
    expected = [out_dir / "cards.json", out_dir / "tnquiz.apkg", out_dir / "quiz.html"]
    return stamp.exists() and stamp.read_text(errors="replace").strip() == fp and all(p.exists() for p in expected)


def _render_locked(deck: Deck, out_dir: Path, fp: str, *, templates: Path | None, split: bool,
                   memo: bool) -> list[Path]:
    for left in out_dir.glob(".*.tmp"):  # what a killed build left (atomic.py's temp names)
        if left.name.startswith((".cards.json.", ".quiz.html.", f".{STAMP}.")) or ".apkg." in left.name:
            left.unlink(missing_ok=True)
    if _up_to_date(out_dir, fp):  # another build wrote exactly this while we waited
        return []
    stamp = out_dir / STAMP
    from generator.render.anki import write_apkg  # imported only when there is work to do
    from generator.render.highlight import load_memo, save_memo
    from generator.render.html import write_html

    stamp.unlink(missing_ok=True)
    deck = encodable(deck)
    if memo:
        load_memo(memo_path())
    written = [write_cards_json(deck, out_dir)]
    written += write_apkg(deck, out_dir, templates=templates, split=split)
    written.append(write_html(deck, out_dir, templates=templates))
    if memo:
        save_memo(memo_path())
    atomic.write_text(stamp, fp + "\n")
    return written
