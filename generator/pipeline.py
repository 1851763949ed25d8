"""The whole build as one typed function: load -> run (cached) -> verify. Torch-free."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from generator import __version__
from generator.execute.cache import Cache, torch_version
from generator.execute.runner import run_cards
from generator.load import LoadResult, load
from generator.model import BuiltCard, Deck, Outcome, Problem
from generator.paths import bundled_cards_dir
from generator.verify import verify


@dataclass(frozen=True)
class BuildResult:
    deck: Deck
    problems: tuple[Problem, ...]  # load/validation problems (those cards are left out)
    ran: int  # cards a worker ran now (0: no worker started, torch never imported)

    @property
    def cards(self) -> tuple[BuiltCard, ...]:
        return self.deck.cards

    @property
    def failed(self) -> list[BuiltCard]:
        return [c for c in self.cards if c.status == "failed"]


def load_paths(paths: Sequence[Path]) -> LoadResult:
    if paths:
        return load(paths)
    bundled = bundled_cards_dir()
    return load([bundled], root=bundled.parent)


def build(
    paths: Sequence[Path],
    *,
    cache: Cache,
    device: str | None = None,
    jobs: int | None = None,
    on_total: Callable[[int], None] | None = None,
    on_done: Callable[[Outcome], None] | None = None,
    on_workers: Callable[[], None] | None = None,
    isolation: str = "auto",
) -> BuildResult:
    loaded = load_paths(paths)
    if on_total:
        on_total(len(loaded.cards))
    outcomes = run_cards(loaded.cards, cache=cache, device=device, jobs=jobs,
                         on_done=on_done, on_workers=on_workers, isolation=isolation)
    built = tuple(verify(o) for o in outcomes)
    versions = sorted({c.torch_version for c in built if c.torch_version})
    deck = Deck(cards=built, generator=f"tnquiz {__version__}",
                torch_version=versions[0] if len(versions) == 1 else (", ".join(versions) or torch_version()))
    return BuildResult(deck=deck, problems=loaded.problems, ran=sum(1 for o in outcomes if o.executed))
