"""Helpers for the Anki tests: sample cards, a hand-built deck, and the official Anki client as oracle."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest

from generator.model import Answer, BuiltCard, Card, Deck, Option
from tests.fixture_decks import MISC_YAML, SHAPES_YAML

# What the edits in the update test change.
EDITED_QUESTION = ("What shape does `torch.cat([x, y], dim=1)` have?",
                   "Edited, what shape does `torch.cat([x, y], dim=1)` have?")
EDITED_ANSWER = ("    answer: a < b\n", "    answer: a > b\n")


def visible_text(fragment: str) -> str:
    """What a person sees: no <style>, no tags (so no attributes), entities decoded."""
    fragment = re.sub(r"<style>.*?</style>", "", fragment, flags=re.S)
    return html.unescape(re.sub(r"<[^>]*>", "", fragment))


def sample_deck(*, question_suffix: str = "", answer: str = "torch.Size([2, 7])",
                torch_version: str = "2.5.0+cpu") -> Deck:
    """A deck built by hand (no torch): one card of every kind plus a failed and a skipped one."""

    def bc(card: Card, ans: Answer | None, *, options: tuple[Option, ...] = (),
           status: Any = "ok") -> BuiltCard:
        return BuiltCard(card=card, status=status, answer=ans, options=options,
                         torch_version=torch_version if ans else "", ran_on="cpu" if ans else "")

    cards = (
        bc(Card(id="cat-shape", deck="PyTorch::Tensors::Shapes", file="s.yaml", line=3, kind="shape",
                question="What shape does `torch.cat([x, y], dim=1)` have?" + question_suffix,
                code="z = torch.cat([x, y], dim=1)\n", answer="z.shape",
                explain="Sizes add up along `dim`.", tags=("shapes", "cat op"), source="notes.md#cat"),
           Answer(type="shape", text=answer, shape=(2, 7))),
        bc(Card(id="arange-dtype", deck="PyTorch::Tensors::Dtypes", file="s.yaml", line=9, kind="dtype",
                question="What dtype does `torch.arange(5)` have?", code="t = torch.arange(5)",
                answer="t.dtype"),
           Answer(type="dtype", text="torch.int64", dtype="torch.int64")),
        bc(Card(id="script-q", deck="PyTorch::Misc", file="m.yaml", line=2, kind="value",
                question="<script>alert(1)</script> is a<b & {{Question}} {{c1::x}}?",
                code='d = {"a": {1: 2}}\nx = d["a"][1] if 1 < 2 else None  # {{c1::no}}\n',
                answer="x", explain="a<b is <b>not</b> bold.", source="https://pytorch.org/?a=1&b=2"),
           Answer(type="python", text="2", value=2)),
        bc(Card(id="view-err", deck="PyTorch::Misc", file="m.yaml", line=9, kind="error",
                question="What does `.view(-1)` raise?", code="torch.zeros(2, 3).t().view(-1)",
                raises="RuntimeError"),
           Answer(type="error", text="RuntimeError: view size is not compatible", exception="RuntimeError")),
        bc(Card(id="print-size", deck="PyTorch::Misc", file="m.yaml", line=14, kind="output",
                question="What does this print?", code="print(torch.zeros(2, 3).size())", output=True),
           Answer(type="output", text="torch.Size([2, 3])\n")),
        bc(Card(id="stack-choice", deck="PyTorch::Tensors::Shapes", file="s.yaml", line=20, kind="choice",
                question="What is `torch.stack([x, y]).shape`?", answer="torch.stack([x, y]).shape",
                choices=("torch.cat([x, y]).shape",)),
           Answer(type="shape", text="torch.Size([2, 2, 3])"),
           options=(Option("torch.Size([4, 3])", False, "torch.cat([x, y]).shape"),
                    Option("torch.Size([2, 2, 3])", True, "torch.stack([x, y]).shape"))),
        bc(Card(id="cat-cloze", deck="PyTorch::Tensors::Shapes", file="s.yaml", line=30, kind="cloze",
                question="Fill in the blank.", code="z = torch.cat([x, y], dim=1)\n", cloze="dim=1",
                answer="z.shape"),
           Answer(type="shape", text="torch.Size([2, 7])")),
        bc(Card(id="dict-cloze", deck="Other", file="o.yaml", line=1, kind="cloze",
                question="Blank in a dict", code='d = {"k": {"a": x[::2]}}\nprint(d)\n',
                cloze='{"a": x[::2]}}', output=True),
           Answer(type="output", text="{'k': ...}\n")),
        bc(Card(id="broken", deck="PyTorch::Misc", file="m.yaml", line=40, kind="value", question="f",
                code="1/0", answer="1"), None, status="failed"),
        bc(Card(id="needs-gpu", deck="PyTorch::Misc", file="m.yaml", line=44, kind="value", question="g",
                code="x = 1", answer="x", device="cuda"), None, status="skipped"),
    )
    return Deck(cards=cards, generator="tnquiz 0.1.0", torch_version=torch_version)


def write_yaml(folder: Path, shapes: str = SHAPES_YAML, misc: str = MISC_YAML) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    a, b = folder / "shapes.yaml", folder / "misc.yaml"
    a.write_text(shapes, encoding="utf-8")
    b.write_text(misc, encoding="utf-8")
    return [a, b]


@pytest.fixture(name="col")
def anki_collection(tmp_path: Path) -> Iterator[Collection]:
    """A fresh, empty Anki collection (the official client)."""
    (tmp_path / "collection").mkdir()
    c = Collection(str(tmp_path / "collection" / "collection.anki2"))
    try:
        yield c
    finally:
        c.close()


def import_apkg(col: Collection, path: Path) -> Any:
    """Import like Anki's File > Import with its defaults; returns the import log."""
    request = ImportAnkiPackageRequest(package_path=str(path), options=ImportAnkiPackageOptions())
    return col.import_anki_package(request).log
