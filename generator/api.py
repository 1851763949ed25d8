"""The library API: ``load``, ``check``, ``build``, ``render`` (and ``list_cards``, ``clear_cache``).

Typed functions returning frozen dataclasses; ``tnquiz`` (generator/cli.py) only calls them and
prints. Torch-free: cards run in worker processes (generator/execute/), and a fully cached build
never imports torch. Documented with examples in docs/api.md.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from generator import __version__
from generator.execute.cache import Cache, torch_version
from generator.load import LoadResult
from generator.model import BuiltCard, Card, Deck, Outcome, Problem
from generator.paths import bundled_cards_dir

if TYPE_CHECKING:
    from generator.execute.runner import EarlyWorker

#: Exit codes of the CLI (the API's results carry ``exit_code`` with the same meaning).
EXIT_OK = 0
EXIT_CARDS = 1  # a card failed or PyTorch contradicted its `expect`
EXIT_INPUT = 2  # a card file could not be loaded, a path does not exist, nothing to do
EXIT_MACHINERY = 3  # tnquiz itself failed for a card (never cached; run again)

#: The order statuses are counted in (``not run``: ``list`` only, no cached result).
STATUSES = ("ok", "contradicted", "failed", "skipped", "error", "not run")
_LABELS = {"error": ("tnquiz error", "tnquiz errors")}


class UsageError(ValueError):
    """A request that cannot be met as asked (say ``device="cuda"`` with no GPU); nothing was done."""


def plural(n: int, one: str, many: str | None = None) -> str:
    """``1 card``, ``2 cards``, ``0 cards``."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


@dataclass(frozen=True)
class Totals:
    """How many cards ended in each state, and how many could not be loaded: they add up to every
    card tnquiz was given (a file that does not parse at all counts as one card not loaded)."""

    counts: tuple[tuple[str, int], ...]  # (status, n) in STATUSES order, zeros left out
    not_loaded: int = 0

    @classmethod
    def of(cls, statuses: Iterable[str], problems: Sequence[Problem] = ()) -> Totals:
        c = Counter(statuses)
        return cls(tuple((s, c[s]) for s in STATUSES if c[s]), not_loaded=count_not_loaded(problems))

    def __getitem__(self, status: str) -> int:
        return dict(self.counts).get(status, 0)

    @property
    def loaded(self) -> int:
        return sum(n for _, n in self.counts)

    def __str__(self) -> str:
        """``12 cards: 9 ok, 1 contradicted, 1 failed, 1 skipped; 2 not loaded``."""
        parts = [f"{self['ok']} ok"]
        for status, n in self.counts:
            if status != "ok":
                one, many = _LABELS.get(status, (status, status))
                parts.append(f"{n} {one if n == 1 else many}")
        text = f"{plural(self.loaded, 'card')}: " + ", ".join(parts)
        if self.not_loaded:
            text += f"; {self.not_loaded} not loaded"
        return text


def count_not_loaded(problems: Iterable[Problem]) -> int:
    """Cards left out by load problems: one per card id (a card may have several problems), one
    per place for a problem that names no card (a file that does not parse, a missing path)."""
    return len({(p.location.file, p.card_id) if p.card_id else (p.location.file, p.location.line)
                for p in problems})


# -- load ------------------------------------------------------------------------------------------


def load(paths: Sequence[Path | str] = (), *, on_file: Callable[[list[Card]], None] | None = None,
         cache: Cache | None = None) -> LoadResult:
    """Load and validate card files (files, or folders of ``*.yaml``); no path: the bundled deck.

    Never raises for anything in the files: every problem is in ``.problems`` with its location,
    and the cards that loaded are in ``.cards``. ``on_file(cards)``: called as each file is read,
    the newest first (see ``generator.load.load``). ``cache``: files whose bytes are unchanged
    since a load with the same cache are not parsed again (``generator.loadmemo``); none when it
    is disabled.
    """
    from generator.load import load as load_files
    from generator.loadmemo import MEMO_FILE

    memo = cache.root / MEMO_FILE if cache is not None and cache.enabled else None
    if paths:
        return load_files([Path(p) for p in paths], on_file=on_file, memo=memo)
    bundled = bundled_cards_dir()
    return load_files([bundled], root=bundled.parent, on_file=on_file, memo=memo)


# -- run and verify --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """Every loaded card, run (or taken from the cache) and verified; what ``check`` returns."""

    deck: Deck
    problems: tuple[Problem, ...]  # load problems: those cards are left out of ``deck``
    ran: int  # cards a worker ran now (0: no worker started, torch never imported)

    @property
    def cards(self) -> tuple[BuiltCard, ...]:
        return self.deck.cards

    @property
    def totals(self) -> Totals:
        return Totals.of((c.status for c in self.cards), self.problems)

    @property
    def cached(self) -> int:
        return sum(c.cached for c in self.cards)

    @property
    def failures(self) -> tuple[str, ...]:
        """Every problem, doctest-style, in order: load problems, then each card's failure,
        contradicted claim or tnquiz error, each starting with ``FILE:LINE [ID]``."""
        out = [str(p) for p in self.problems]
        for c in self.cards:
            if c.status in ("failed", "error"):
                out.append(failure(c))
            out.extend(c.problems)
        return tuple(out)

    @property
    def exit_code(self) -> int:
        t = self.totals
        if self.problems or not self.cards:
            return EXIT_INPUT
        if t["error"]:
            return EXIT_MACHINERY
        if t["failed"] or t["contradicted"]:
            return EXIT_CARDS
        return EXIT_OK

    def skipped_hints(self) -> tuple[str, ...]:
        """How to get the skipped cards, with counts: ``3 need torchvision: pip install torchvision``."""
        need: Counter[str] = Counter()
        for c in self.cards:
            if c.status == "skipped":
                m = re.match(r"requires (\w+)", c.reason or "")
                need[m.group(1) if m else "other"] += 1
        hints = []
        for what, n in sorted(need.items()):
            if what == "cuda":
                hints.append(f"{n} need a GPU: build with `--device auto` on a machine with one")
            elif what == "other":
                hints.append(f"{n} skipped for other reasons: `tnquiz list` shows why")
            else:
                hints.append(f"{n} need {what}: `pip install {what}`")
        return tuple(hints)


def failure(card: BuiltCard) -> str:
    """Why a ``failed`` or ``error`` card has no answer, starting with ``FILE:LINE [ID]``."""
    where = f"{card.card.location} [{card.id}]"
    reason = card.reason or "no reason given"
    if card.status == "error":
        return f"{where}: tnquiz could not run this card: {reason.removeprefix(where + ': ')}"
    return reason if reason.startswith(f"{card.card.file}:") else f"{where}: {reason}"


def check_device(device: str | None) -> None:
    """Refuse ``device="cuda"`` where there is no GPU, decided without importing torch."""
    if device == "cuda":
        from generator.execute.runner import cuda_present

        if not cuda_present():
            raise UsageError("--device cuda: no CUDA GPU is available here (no NVIDIA driver, or a "
                             "CPU-only torch build); use `--device auto` to run cards on the GPU where "
                             "there is one and on the CPU elsewhere")


def run(
    loaded: LoadResult,
    *,
    cache: Cache | None = None,
    device: str | None = None,
    jobs: int | None = None,
    on_total: Callable[[int], None] | None = None,
    on_done: Callable[[Outcome], None] | None = None,
    on_workers: Callable[[], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    isolation: str = "auto",
    early: EarlyWorker | None = None,
) -> Report:
    """Run (or look up in the cache) every loaded card and verify it. Every card comes back.

    A cloze card's blank is also run with each plausible other filling (extra runs, cached like
    any card: ``on_total(n)`` gets every run, ``on_done`` is called for each); the fillings that
    give the card's result become its ``cloze_equivalents``, which every grader accepts.

    ``on_warning(line)``: what the user should know that fails no card (say, cards run without
    the sandbox, or a cache that cannot be written), once each. ``isolation``: ``auto`` (cards
    that provably leave no trace share a reused child) or ``fork`` (docs/isolation.md).
    ``early``: a worker started before loading (see ``_early``), adopted or killed here.
    """
    from generator.cloze import add_variants
    from generator.execute.runner import run_cards

    check_device(device)
    # one batch: the cards, then every alternative filling of each cloze blank (generator/cloze.py)
    cards = list(loaded.cards)
    batch = list(cards)
    alternatives = {i: add_variants(card, batch) for i, card in enumerate(cards) if card.cloze}
    if on_total:
        on_total(len(batch))
    outcomes = run_cards(batch, cache=cache if cache is not None else Cache(), device=device,
                         jobs=jobs, on_done=on_done, on_workers=on_workers, on_warning=on_warning,
                         isolation=isolation, early=early)
    built = _complete(loaded, [_verified(outcomes[i], [(alt, outcomes[k]) for alt, k in alternatives.get(i, ())])
                               for i in range(len(cards))])
    versions = sorted({c.torch_version for c in built if c.torch_version})
    deck = Deck(cards=built, generator=f"tnquiz {__version__}",
                torch_version=versions[0] if len(versions) == 1 else (", ".join(versions) or torch_version()))
    return Report(deck=deck, problems=loaded.problems, ran=sum(1 for o in outcomes if o.executed))


def _verified(outcome: Outcome, alternatives: Sequence[tuple[str, Outcome]]) -> BuiltCard:
    """The verified card, with the fillings of its cloze blank that give the same result recorded."""
    from generator.cloze import equivalents, machinery_failure
    from generator.verify import verify

    built = verify(outcome)
    if not alternatives or built.status not in ("ok", "contradicted"):
        return built
    failure = machinery_failure(alternatives)
    if failure is not None:  # the build would depend on a failure of tnquiz's own: never quietly
        return replace(built, status="error", reason=failure)
    return replace(built, cloze_equivalents=equivalents(outcome, alternatives))


def _complete(loaded: LoadResult, built: list[BuiltCard]) -> tuple[BuiltCard, ...]:
    """One verified card per loaded card, in load order: a card the runner lost is a tnquiz error."""
    by_id = {c.id: c for c in built}
    return tuple(by_id.get(card.id) or BuiltCard(card=card, status="error", reason="no outcome came back")
                 for card in loaded.cards)


def check(
    paths: Sequence[Path | str] = (),
    *,
    cache: Cache | None = None,
    device: str | None = None,
    jobs: int | None = None,
    on_total: Callable[[int], None] | None = None,
    on_done: Callable[[Outcome], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    isolation: str = "auto",
) -> Report:
    """Load, run and verify the cards; write nothing. ``report.failures`` lists every problem.

    Cards that loaded are run even when others did not load, so that one pass reports everything.
    """
    check_device(device)
    cache = cache if cache is not None else Cache()
    with _early(cache, device) as early:
        loaded = load(paths, on_file=early.consider, cache=cache)
        return run(loaded, cache=cache, device=device, jobs=jobs, on_total=on_total, on_done=on_done,
                   on_warning=on_warning, isolation=isolation, early=early.worker)


class _Early:
    """Starts the first worker while the cards are still being read, as soon as one of them surely
    has to run: at once when the cache is empty or off, else at the first card read that is not in
    the cache (files are read newest first, so after an edit that is the edited file, read first).
    Torch's import, the longest wait, then overlaps reading the rest. A build whose every card is
    in the cache starts nothing: it never imports torch."""

    def __init__(self, cache: Cache, device: str | None) -> None:
        from generator.execute.runner import EarlyWorker

        self.cache, self.device = cache, device
        self.worker: EarlyWorker | None = None
        self.tried = False  # one attempt at most
        if EarlyWorker.wanted(cache):
            self._start()

    def _start(self) -> None:
        from generator.execute.runner import EarlyWorker

        self.tried = True
        with contextlib.suppress(Exception):  # a worker that cannot start: the run says why, per card
            self.worker = EarlyWorker(self.cache)

    def consider(self, cards: list[Card]) -> None:
        if self.tried:
            return
        from generator.execute.runner import lookup

        try:
            needed = any(lookup(card, self.cache, self.device) is None for card in cards)
        except Exception:  # only a head start: the run reports what is wrong with the card
            return
        if needed:
            self._start()

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()


@contextlib.contextmanager
def _early(cache: Cache, device: str | None) -> Iterator[_Early]:
    """An ``_Early`` for one run; what it started and no card took is killed on the way out."""
    early = _Early(cache, device)
    try:
        yield early
    finally:
        early.close()


# -- render and build ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildResult:
    report: Report
    out: Path
    written: tuple[Path, ...] = ()  # empty: nothing written (see ``up_to_date`` / ``withheld``)
    up_to_date: bool = False  # ``out`` already held the outputs of exactly this deck
    withheld: str | None = None  # why nothing was written (existing outputs are untouched)

    @property
    def exit_code(self) -> int:
        return self.report.exit_code


def render(deck: Deck, out: Path | str, *, templates: Path | None = None, split: bool = False,
           memo: bool = True, on_wait: Callable[[], None] | None = None) -> tuple[Path, ...]:
    """Write cards.json, tnquiz.apkg (and one per top-level deck with ``split``) and quiz.html.

    Each file is replaced atomically, under a lock on ``out`` (builds into one folder take turns).
    Returns what was written: empty when ``out`` already holds the outputs of exactly this deck.
    ``memo=False``: do not read the highlighting memo of earlier builds. ``on_wait()`` is called
    when another build holds the lock on ``out`` (this one then waits its turn).
    """
    from generator.render import render_all

    return tuple(render_all(deck, Path(out), templates=templates, split=split, memo=memo, on_wait=on_wait))


def build(
    paths: Sequence[Path | str] = (),
    out: Path | str = "build",
    *,
    cache: Cache | None = None,
    device: str | None = None,
    jobs: int | None = None,
    templates: Path | None = None,
    split: bool = False,
    on_total: Callable[[int], None] | None = None,
    on_done: Callable[[Outcome], None] | None = None,
    on_wait: Callable[[], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    isolation: str = "auto",
) -> BuildResult:
    """Load, run, verify, then render into ``out``.

    Nothing is written, and what ``out`` holds stays as it was, when any card file could not be
    loaded (or a path does not exist, or no card was found): a typo never silently drops cards from
    a deck. The same when tnquiz itself failed for a card. Cards that fail or that PyTorch
    contradicts are reported and left out of the outputs; the rest is written.
    """
    from generator.render import prelex, prepare

    check_device(device)
    out = Path(out)
    use_memo = cache is None or cache.enabled
    cache = cache if cache is not None else Cache()
    with _early(cache, device) as early:
        loaded = load(paths, on_file=early.consider, cache=cache)
        if loaded.problems or not loaded.cards:
            report = Report(deck=Deck(cards=()), problems=loaded.problems, ran=0)
            why = (f"{plural(count_not_loaded(loaded.problems), 'card')} could not be loaded"
                   if loaded.problems else "no cards were found")
            return BuildResult(report, out, withheld=f"nothing written: {why}; {out}/ is untouched")
        back = threading.Event()  # the first card run is back: stop highlighting ahead

        def done(oc: Outcome) -> None:
            if oc.executed:
                back.set()
            if on_done:
                on_done(oc)

        def meanwhile() -> None:  # while workers start: load the renderers, highlight the code
            prepare(memo=use_memo, templates=templates)
            prelex(loaded.cards, back.is_set)

        report = run(loaded, cache=cache, device=device, jobs=jobs, on_total=on_total, on_done=done,
                     on_warning=on_warning, isolation=isolation, early=early.worker, on_workers=meanwhile)
    if report.totals["error"]:
        return BuildResult(report, out, withheld=f"nothing written: tnquiz could not run {plural(report.totals['error'], 'card')}; "
                                                 f"{out}/ is untouched (run the build again)")
    written = render(report.deck, out, templates=templates, split=split, memo=use_memo, on_wait=on_wait)
    return BuildResult(report, out, written=written, up_to_date=not written)


# -- list ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    id: str
    kind: str  # the declared or verified kind; ``?`` when not known yet
    deck: str
    status: str  # one of STATUSES


@dataclass(frozen=True)
class Listing:
    rows: tuple[Row, ...]
    problems: tuple[Problem, ...]
    totals: Totals = field(default_factory=lambda: Totals(()))

    @property
    def exit_code(self) -> int:
        return EXIT_INPUT if self.problems else EXIT_OK


def list_cards(paths: Sequence[Path | str] = (), *, deck: str | None = None,
               tags: Sequence[str] = (), cache: Cache | None = None) -> Listing:
    """The cards with their kind, deck and status from the cache; runs nothing, imports no torch.

    ``deck``/``tags`` filter as in ``tnquiz quiz`` (generator/select.py).
    """
    from generator.execute.runner import lookup
    from generator.select import matches
    from generator.verify import verify

    cache = cache if cache is not None else Cache()
    loaded = load(paths, cache=cache)
    rows = []
    for card in loaded.cards:
        if not matches(card.deck, card.tags, deck, tags):
            continue
        known = lookup(card, cache)
        if known is None:
            status, kind = "not run", card.kind
        else:
            built = verify(known)
            status, kind = built.status, built.card.kind or card.kind
        rows.append(Row(card.id, kind or "?", card.deck, status))
    return Listing(tuple(rows), loaded.problems, Totals.of((r.status for r in rows), loaded.problems))


# -- cache -----------------------------------------------------------------------------------------


def clear_cache(cache: Cache | None = None) -> int:
    """Delete every cached result, the loader's and the renderers' memos; return how many results there were."""
    from generator.loadmemo import MEMO_FILE
    from generator.render import memo_path, pieces_path

    cache = cache if cache is not None else Cache()
    n = cache.clear()
    (cache.root / MEMO_FILE).unlink(missing_ok=True)
    memo_path(cache.root).unlink(missing_ok=True)
    pieces_path(cache.root).unlink(missing_ok=True)
    return n
