"""Which cards a `--deck` / `--tag` filter keeps: one meaning for `tnquiz list` and `tnquiz quiz`.

Torch-free and dependency-free: the quiz imports it on its startup path.
"""

from __future__ import annotations

from collections.abc import Iterable


def in_deck(card_deck: str, wanted: str) -> bool:
    """Case-insensitive, whole ``::`` parts: ``PyTorch::Tensors::Shapes`` is in ``pytorch`` and
    ``PyTorch::Tensors``, but not in ``PyTorch::Tensor``."""
    have = [p.strip().lower() for p in card_deck.split("::")]
    want = [p.strip().lower() for p in wanted.split("::")]
    return have[: len(want)] == want


def has_tag(card_tags: Iterable[str], wanted: Iterable[str]) -> bool:
    """Any of ``wanted`` (case-insensitive); an empty ``wanted`` keeps every card."""
    want = {t.lower() for t in wanted}
    return not want or bool(want & {t.lower() for t in card_tags})


def matches(card_deck: str, card_tags: Iterable[str], deck: str | None = None,
            tags: Iterable[str] = ()) -> bool:
    """The one filter: in ``deck`` (or a sub-deck) when given, carrying any of ``tags`` when given."""
    return (not deck or in_deck(card_deck, deck)) and has_tag(card_tags, tags)
