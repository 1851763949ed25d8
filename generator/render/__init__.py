"""Stage 4: render verified cards (``model.Deck``) into files. Never imports torch.

Two things keep a rebuild from rendering what it already has:

* the build stamp (``.tnquiz-build`` in the output folder) holds the fingerprint of everything the
  outputs are made from: the verified deck, the templates, the options, tnquiz's version and the
  renderer's own code (:func:`code_fingerprint`); when it matches, nothing is rendered;
* otherwise each card's pieces (its Anki fields, its JSON in the page, its ``cards.json`` entry) come
  from the per-card memo (:mod:`generator.render.memo`) where the card, the renderer's code and
  libraries and the templates are unchanged, and every output is assembled from its pieces: a
  one-card edit renders one card.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path

from generator import __version__, atomic
from generator.model import Card, Deck
from generator.paths import templates_dir
from generator.render.cardsjson import write_cards_json

STAMP = ".tnquiz-build"

#: The modules outside this package whose code decides what the renderers write (with every module
#: of this package, they make :func:`code_fingerprint`).
RENDER_DEPENDENCIES = ("model.py", "grading.py", "sources.py")

#: The libraries whose versions decide what the renderers write (part of each piece's key, read
#: only when rendering; the build stamp leaves them out to keep warm builds from scanning packages).
RENDER_LIBRARIES = ("jinja2", "markupsafe", "pygments", "genanki")


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A hash of the renderer's source: every ``.py`` of ``generator/render/`` and
    :data:`RENDER_DEPENDENCIES` (about 1 ms, once per process). A changed renderer renders again."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for f in [*sorted(here.rglob("*.py")), *(here.parent / name for name in RENDER_DEPENDENCIES)]:
        h.update(f"{f.relative_to(here.parent).as_posix()}\x00{f.stat().st_size}\x00".encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _inputs(templates: Path | None) -> str:
    """What every output is made from besides the deck: tnquiz's version, the renderer's code, the
    bundled templates and those of ``--templates``."""
    h = hashlib.sha256(f"{__version__}|{code_fingerprint()}".encode())
    for root in [templates_dir(), *([templates] if templates else [])]:
        for f in sorted(root.rglob("*")):
            if f.is_file():
                h.update(str(f.relative_to(root)).encode())
                h.update(f.read_bytes())
    return h.hexdigest()


def card_texts(deck: Deck) -> list[str]:
    """Each card's ``to_dict`` as compact JSON (sorted keys, text unescaped): what the build stamp
    and each card's memo key hash, made once per render.

    Compact on purpose: `indent=` would switch json to its pure-Python encoder, and this runs on
    every warm build.
    """
    return [json.dumps(bc.to_dict(), sort_keys=True, ensure_ascii=False) for bc in deck.cards]


def _fingerprint(deck: Deck, texts: list[str], inputs: str, split: bool) -> str:
    """Everything the outputs are made from: the verified deck (its own fields and ``texts``,
    :func:`card_texts`), :func:`_inputs`, the options."""
    h = hashlib.sha256(json.dumps(dataclasses.replace(deck, cards=()).to_dict(), sort_keys=True).encode())
    for text in texts:
        b = text.encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(8, "big"))
        h.update(b)
    h.update(f"{inputs}|{split}|{os.environ.get('SOURCE_DATE_EPOCH', '')}".encode())
    return h.hexdigest()


@lru_cache(maxsize=1)
def _library_versions() -> tuple[str, ...]:
    from importlib import metadata  # scans the installed distributions: only when rendering

    versions = []
    for name in RENDER_LIBRARIES:
        try:
            versions.append(f"{name}={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name}=?")
    return tuple(versions)


def piece_salt(deck: Deck, inputs: str) -> str:
    """Everything a card's pieces depend on besides the card: :func:`_inputs`, the renderer's
    libraries and the deck's torch version (shown where a card has none of its own)."""
    parts = [inputs, *_library_versions(), deck.torch_version]
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


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


def pieces_path(cache_root: Path | None = None) -> Path:
    """The per-card memo of rendered pieces, beside the highlighting memo."""
    return memo_path(cache_root).with_name("render.json")


def prepare(memo: bool = True, templates: Path | None = None) -> None:
    """Import what rendering needs, compile the templates and load the memos; called while
    workers import torch."""
    import filelock  # noqa: F401
    import genanki.apkg_col  # the .apkg writer's schema
    import genanki.apkg_schema  # noqa: F401
    import pygments.lexers.python  # noqa: F401  (an edited card's code is lexed)

    import generator.render.html  # noqa: F401
    from generator.render import memo as piece_memo
    from generator.render.highlight import load_memo

    _library_versions()
    code_fingerprint()
    # only a head start: a template that does not compile is reported by the render
    with contextlib.suppress(TemplateError, OSError):
        _check_templates(templates)
    if memo:
        load_memo(memo_path())
        piece_memo.load(pieces_path())


def prelex(cards: Iterable[Card], stop: Callable[[], bool] = lambda: False) -> None:
    """Highlight now the code the outputs will show of ``cards`` (it does not depend on their
    results), so that the render after the run finds its tokens in the memo. Called while the
    workers import torch, when this process would otherwise wait; it ends early once ``stop()``
    (the first card is back: from then on the runner's threads should not wait for this one).
    """
    from generator.render.anki.fields import code_html
    from generator.render.html import code_tokens
    from generator.render.question import shown_code

    for c in cards:
        if stop():
            return
        for snippet in (c.code, c.setup, c.solution, *c.variants):
            if snippet.strip():
                for s in {snippet, shown_code(snippet)}:  # an exercise's inputs are shown as shown_code
                    code_html(s)
                    code_tokens(s)
        if c.cloze is not None:
            code_html(c.code, c.cloze)
            code_tokens(c.code, blank=c.cloze)


class TemplateError(ValueError):
    """A template (bundled or ``--templates``) that does not compile or render, located:
    ``FILE:LINE: MESSAGE``. Raised before anything is written when the template does not compile."""


def _located(e: Exception, what: str, name: str | None = None) -> TemplateError:
    """``e`` (a Jinja2 error) as a :class:`TemplateError` at the template line it names, or the
    innermost template line of its traceback (Jinja2 puts the template's own lines there)."""
    import traceback

    filename, lineno = getattr(e, "filename", None), getattr(e, "lineno", None)
    if not filename:
        for frame in reversed(traceback.extract_tb(e.__traceback__)):
            if not frame.filename.endswith(".py") and Path(frame.filename).is_file():
                filename, lineno = frame.filename, frame.lineno
                break
    where = f"{filename}:{lineno or 0}" if filename else f"template {name}" if name else "a template"
    message = getattr(e, "message", None) or str(e)
    return TemplateError(f"{where}: {what}: {message}")


def _check_templates(templates: Path | None) -> None:
    """Compile every template the renderers use (bundled and overridden): a syntax error is
    reported, located, before any output is touched."""
    import jinja2

    from generator.render.anki import anki_env
    from generator.render.env import make_env

    for env in (anki_env(templates), make_env("html", templates)):
        for name in env.list_templates(filter_func=lambda n: not n.endswith((".js", ".css"))):
            try:
                env.get_template(name)
            except (jinja2.TemplateError, UnicodeDecodeError) as e:
                raise _located(e, "the template does not compile", name) from e


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
    inputs = _inputs(templates)
    texts = card_texts(deck)
    fp = _fingerprint(deck, texts, inputs, split)
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
        return _render_locked(deck, texts, out_dir, fp, inputs, templates=templates, split=split, memo=memo)
    finally:
        lock.release()


def _up_to_date(out_dir: Path, fp: str) -> bool:
    stamp = out_dir / STAMP
    expected = [out_dir / "cards.json", out_dir / "tnquiz.apkg", out_dir / "quiz.html"]
    return stamp.exists() and stamp.read_text(errors="replace").strip() == fp and all(p.exists() for p in expected)


def _render_locked(deck: Deck, texts: list[str], out_dir: Path, fp: str, inputs: str, *,
                   templates: Path | None, split: bool, memo: bool) -> list[Path]:
    for left in out_dir.glob(".*.tmp"):  # what a killed build left (atomic.py's temp names)
        if left.name.startswith((".cards.json.", ".quiz.html.", f".{STAMP}.")) or ".apkg." in left.name:
            left.unlink(missing_ok=True)
    if _up_to_date(out_dir, fp):  # another build wrote exactly this while we waited
        return []
    stamp = out_dir / STAMP
    from generator.render.anki import write_apkg  # imported only when there is work to do
    from generator.render.highlight import load_memo, save_memo
    from generator.render.html import write_html
    from generator.render.memo import Pieces

    _check_templates(templates)
    stamp.unlink(missing_ok=True)
    if any(_SURROGATE.search(t) for t in [*texts, deck.generator, deck.torch_version]):
        deck = encodable(deck)
        texts = card_texts(deck)
    if memo:
        load_memo(memo_path())
    pieces = Pieces(piece_salt(deck, inputs), pieces_path() if memo else None, texts=zip(deck.cards, texts, strict=True))
    import jinja2

    try:
        written = [write_cards_json(deck, out_dir, pieces=pieces)]
        written += write_apkg(deck, out_dir, templates=templates, split=split, pieces=pieces)
        written.append(write_html(deck, out_dir, templates=templates, pieces=pieces))
    except jinja2.TemplateError as e:  # each file written is whole; the missing stamp redoes them all
        raise _located(e, "the template does not render") from e
    if memo:
        save_memo(memo_path())
        pieces.save()
    atomic.write_text(stamp, fp + "\n")
    return written
