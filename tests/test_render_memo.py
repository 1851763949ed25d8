"""Incremental rendering (generator/render/memo.py) and the render fingerprint.

A rebuild takes each unchanged card's rendered pieces from the memo and renders only what changed;
its outputs must be exactly a full render's, whatever the memo file holds. The build stamp and the
memo keys cover the renderer's own code.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from anki.collection import Collection
from anki_helpers import anki_collection, import_apkg, sample_deck  # noqa: F401  (the `col` fixture)

from generator.model import Answer, BuiltCard, Card, Deck
from generator.render import (
    RENDER_DEPENDENCIES,
    STAMP,
    memo,
    pieces_path,
    render_all,
)
from generator.render.anki import build_notes
from generator.render.cardsjson import card_entry, cards_json_text, dump_indented
from generator.render.html import json_for_script, page_data, page_json
from generator.render.memo import Pieces
from tests.conftest import ROOT

OUTPUTS = ("cards.json", "quiz.html", "tnquiz.apkg")


def edited(deck: Deck, index: int = 0) -> Deck:
    """``deck`` with one card's code and question changed."""
    cards = list(deck.cards)
    c = cards[index]
    cards[index] = dataclasses.replace(c, card=dataclasses.replace(
        c.card, question=c.card.question + " (edited)", code=c.card.code + "w = 1\n"))
    return dataclasses.replace(deck, cards=tuple(cards))


def note_rows(apkg: Path, tmp: Path) -> list[tuple[Any, ...]]:
    db = tmp / f"{apkg.parent.name}.anki2"
    with zipfile.ZipFile(apkg) as zf:
        db.write_bytes(zf.read("collection.anki2"))
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT id, guid, mid, mod, tags, flds, sfld, csum FROM notes ORDER BY id").fetchall()
    finally:
        conn.close()


def fresh_memo(path: Path) -> None:
    """Forget what this process read from the memo file at ``path`` (as a new build process would)."""
    memo._files.pop(path, None)


@pytest.fixture
def memo_file() -> Path:
    path = pieces_path()
    path.unlink(missing_ok=True)
    fresh_memo(path)
    return path


def test_a_one_card_edit_renders_one_card_and_the_same_bytes_as_a_full_render(
        tmp_path: Path, memo_file: Path, monkeypatch: pytest.MonkeyPatch, col: Collection) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    deck, after = sample_deck(), edited(sample_deck())
    inc, full = tmp_path / "inc", tmp_path / "full"
    assert render_all(deck, inc)  # fills the memo
    assert memo_file.is_file()

    # the edited deck through the writers, counting what the memo gives: one card is rendered
    fresh_memo(memo_file)
    pieces = Pieces(render_salt(after), memo_file)
    text = cards_json_text(after, pieces)
    page, count = page_json(after, pieces)
    build_notes(after, pieces=pieces)
    on_page = len(page_data(after)["cards"])
    assert count == on_page == 8
    # each kind of piece (cards.json entry, page JSON, Anki fields) once for the edited card; the
    # note types (one piece of no card) and every other card's pieces from the memo
    assert (pieces.misses, pieces.hits) == (3, (len(after.cards) - 1) + (on_page - 1) * 2 + 1)
    assert text == json.dumps(after.to_dict(), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    assert page == json_for_script(page_data(after))

    shutil.copytree(inc, full)  # the same previous build for both (it decides each note's mod)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000500")
    fresh_memo(memo_file)
    assert render_all(after, inc)  # from the memo, one card rendered
    assert render_all(after, full, memo=False)  # every piece rendered
    for name in OUTPUTS:
        assert (inc / name).read_bytes() == (full / name).read_bytes(), name
    # the edited note is newer, the others kept theirs: a re-import updates exactly that one
    rows = {r[1]: r[3] for r in note_rows(inc / "tnquiz.apkg", tmp_path)}
    assert sorted(rows.values()).count(1700000500) == 1
    import_apkg(col, full / "tnquiz.apkg")
    imported = {col.get_note(n)["Id"]: col.get_note(n)["Question"] for n in col.find_notes("")}
    assert imported["cat-shape"].endswith("(edited)")


def render_salt(deck: Deck) -> str:
    """The salt render_all gives the pieces of ``deck`` (no --templates)."""
    from generator.render import _inputs, piece_salt

    return piece_salt(deck, _inputs(None))


def hostile_memos(good: dict[str, Any]) -> list[tuple[str, str]]:
    """Memo files that must all be misses: not JSON, other shapes, altered entries."""
    entries = good["entries"]

    def with_entries(change: Any) -> str:
        return json.dumps({"format": memo.MEMO_FORMAT, "entries": {k: change(v) for k, v in entries.items()}})

    def altered(v: list[str]) -> list[str]:  # content changed, checksum kept
        return [v[0], *(p.replace("torch", "TORCH").replace("1", "2") + "<b>x</b>" for p in v[1:])]

    return [
        ("truncated", json.dumps(good)[: len(json.dumps(good)) // 2]),
        ("not utf-8", "\udcff"),
        ("another format", json.dumps({**good, "format": memo.MEMO_FORMAT + 1})),
        ("entries not a mapping", json.dumps({"format": memo.MEMO_FORMAT, "entries": [1, 2]})),
        ("content altered", with_entries(altered)),
        ("a part missing", with_entries(lambda v: v[:-1])),
        ("a part too many", with_entries(lambda v: [*v, "x"])),
        ("not strings", with_entries(lambda v: [v[0], *(len(p) for p in v[1:])])),
        ("checksum of another entry", json.dumps({"format": memo.MEMO_FORMAT, "entries": {
            k: [v[0], *w[1:]] for (k, v), w in zip(entries.items(), [*list(entries.values())[1:],
                                                                      next(iter(entries.values()))],
                                                       strict=True)}})),
        ("deeply nested", "[" * 100_000 + "]" * 100_000),
    ]


def test_a_bad_or_foreign_memo_is_a_miss_never_a_wrong_output(tmp_path: Path, memo_file: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    deck = sample_deck()
    reference = tmp_path / "reference"
    render_all(deck, reference, memo=False)
    render_all(deck, tmp_path / "first")
    good = json.loads(memo_file.read_text(encoding="utf-8"))
    assert good["entries"]
    for name, text in hostile_memos(good):
        memo_file.write_text(text, encoding="utf-8", errors="surrogateescape")
        fresh_memo(memo_file)
        pieces = Pieces(render_salt(deck), memo_file)
        assert cards_json_text(deck, pieces) == (reference / "cards.json").read_text(encoding="utf-8"), name
        assert pieces.hits == 0, name
        out = tmp_path / name.replace(" ", "-")
        render_all(deck, out)
        for output in ("cards.json", "quiz.html"):
            assert (out / output).read_bytes() == (reference / output).read_bytes(), (name, output)
        assert note_rows(out / "tnquiz.apkg", tmp_path) == note_rows(reference / "tnquiz.apkg", tmp_path), name

    # a memo written for other templates (or another torch version, renderer, library) is never read
    memo_file.unlink()
    fresh_memo(memo_file)
    override = tmp_path / "templates" / "anki"
    override.mkdir(parents=True)
    (override / "field_question.html").write_text("<div class=\"tnq-q\">OTHER [[ question ]]</div>\n")
    render_all(deck, tmp_path / "other", templates=tmp_path / "templates")
    fresh_memo(memo_file)
    pieces = Pieces(render_salt(deck), memo_file)
    cards_json_text(deck, pieces)
    assert pieces.hits == 0
    render_all(deck, tmp_path / "after-other")
    assert note_rows(tmp_path / "after-other" / "tnquiz.apkg", tmp_path) == note_rows(
        reference / "tnquiz.apkg", tmp_path)


def test_assembled_outputs_equal_the_whole_documents() -> None:
    """cards.json and the page's JSON put together from pieces are the documents dumped whole,
    for decks whose own fields look like the assembly's seams."""
    base = sample_deck()
    odd = Card(id="odd", deck="D", file="o.yaml", line=1, kind="value", question='q\n "cards": []',
               code='x = "\\n "cards": [] </script>"\n', answer="x")
    odd_card = BuiltCard(card=odd, status="ok", answer=Answer(type="python", text='"cards":[]}', value=float("nan")))
    for deck in (Deck(cards=()), Deck(cards=(), generator='x\n "cards": []', torch_version='"cards":[]}'),
                 dataclasses.replace(base, generator='g\n "cards": []'),
                 dataclasses.replace(base, cards=(*base.cards, odd_card))):
        pieces = Pieces("salt")
        assert cards_json_text(deck, pieces) == json.dumps(deck.to_dict(), indent=1, sort_keys=True,
                                                           ensure_ascii=False) + "\n"
        assert page_json(deck, pieces) == (json_for_script(page_data(deck)), len(page_data(deck)["cards"]))


def _generator_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            found |= {n for n in names if n.startswith("generator")}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("generator")}
    return found


def test_the_code_fingerprint_covers_every_module_the_renderers_use() -> None:
    """Each generator module a renderer imports is in the fingerprint, or only says where files go."""
    render_dir = ROOT / "generator" / "render"
    covered = {"generator." + name.removesuffix(".py") for name in RENDER_DEPENDENCIES}
    # these decide where and how files are written, never what they hold (templates are hashed whole)
    where_only = {"generator", "generator.__version__", "generator.atomic", "generator.paths",
                  "generator.execute.cache"}
    known = covered | where_only
    imported = set().union(*(_generator_imports(f) for f in render_dir.rglob("*.py")))
    assert "generator.model.Deck" in imported  # the scan sees `from generator.X import Y`
    uncovered = {m for m in imported if not m.startswith("generator.render")
                 and m not in known and m.rsplit(".", 1)[0] not in known}
    assert not uncovered, f"add to RENDER_DEPENDENCIES (or explain): {sorted(uncovered)}"


def test_a_changed_renderer_renders_again(tmp_path: Path) -> None:
    """A copy of the package: a build, a build with nothing changed (skipped), then one after an
    edit of a renderer's source (rendered again, the memo not used)."""
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "generator", tree / "generator", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "templates", tree / "templates")
    (tree / "deck.json").write_text(json.dumps(sample_deck().to_dict()), encoding="utf-8")
    script = (
        "import json, sys; from pathlib import Path\n"
        "import generator; assert Path(generator.__file__).resolve().is_relative_to(Path.cwd().resolve())\n"
        "from generator.model import Deck; from generator.render import render_all\n"
        "written = render_all(Deck.from_dict(json.loads(Path('deck.json').read_text())), Path('out'))\n"
        "print(len(written))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}

    def build() -> int:
        r = subprocess.run([sys.executable, "-c", script], cwd=tree, env=env, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stderr
        return int(r.stdout)

    assert build() == 3
    stamp = (tree / "out" / STAMP).read_text()
    assert build() == 0
    html = tree / "generator" / "render" / "html.py"
    html.write_text(html.read_text(encoding="utf-8").replace(
        '"tnquiz: " + (', '"tnquiz quiz: " + ('), encoding="utf-8")
    assert build() == 3
    assert (tree / "out" / STAMP).read_text() != stamp
    assert "<title>tnquiz quiz: " in (tree / "out" / "quiz.html").read_text(encoding="utf-8")


def test_code_highlighted_ahead_is_all_the_render_lexes(tmp_path: Path) -> None:
    """``prelex`` (run while workers import torch) lexes exactly what the renders will show: after it,
    a full render of every output lexes nothing new."""
    from generator.render import highlight, prelex

    deck = sample_deck()
    exercise = BuiltCard(
        card=Card(id="ex", deck="D", file="e.yaml", line=1, kind="exercise", question="q",
                  setup="  x = torch.ones(2, 3)\n", solution="y = x.t()", answer="y.shape",
                  variants=("x = torch.ones(4, 1)",)),
        status="ok", answer=Answer(type="shape", text="torch.Size([3, 2])", shape=(3, 2)),
        variant_answers=(Answer(type="shape", text="torch.Size([1, 4])", shape=(1, 4)),),
        torch_version="2.5.0+cpu", ran_on="cpu")
    deck = dataclasses.replace(deck, cards=(*deck.cards, exercise))
    from generator.render.anki.fields import code_html
    from generator.render.html import _code_tokens

    def forget() -> None:  # what earlier tests of this process highlighted
        highlight._memo.clear()
        code_html.cache_clear()
        _code_tokens.cache_clear()

    forget()
    prelex(c.card for c in deck.cards)
    ahead = set(highlight._memo)
    assert len(ahead) > len(deck.cards)
    render_all(deck, tmp_path / "out", memo=False)
    assert set(highlight._memo) == ahead

    forget()
    prelex((c.card for c in deck.cards), stop=lambda: True)  # stopped at once: nothing done
    assert not highlight._memo


def _json_value(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value, with what json's encoder treats specially: escapes, surrogates, line
    separators, big ints, -0.0, NaN and infinities, empty containers, tuples, non-ASCII keys."""
    kinds = 10 if depth < 5 else 6
    k = rng.randrange(kinds)
    if k == 0:
        return rng.choice(["", "a", 'é\n"\\\x00\x1f\u2028\ud800', "</script>", "x" * rng.randrange(5)])
    if k == 1:
        return rng.randrange(-10**20, 10**20)
    if k == 2:
        return rng.choice([0.1, -0.0, 1e300, 5e-324, float("nan"), float("inf"), -float("inf"), 3.0, 1e16])
    if k == 3:
        return rng.choice([None, True, False])
    if k == 4:
        return rng.randrange(3)
    if k == 5:
        return {}
    if k == 6:
        return [_json_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if k == 7:
        return tuple(_json_value(rng, depth + 1) for _ in range(rng.randrange(3)))
    return {rng.choice(["a", "b", "é", "", '"k', "\n"]) + str(rng.randrange(3)): _json_value(rng, depth + 1)
            for _ in range(rng.randrange(4))}


def test_the_fast_indented_encoder_writes_what_json_dumps_writes() -> None:
    """cards.json entries are written by ``dump_indented`` (json's ``indent=`` encoder is pure
    Python): the same text as ``json.dumps(indent=1, sort_keys=True, ensure_ascii=False)``,
    indented, for any value; what it does not handle itself (a key that is not text) goes to
    ``json.dumps``, errors included."""
    rng = random.Random(20261202)
    for _ in range(3000):
        value = _json_value(rng)
        for pad in ("", "  "):
            expected = json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False).replace("\n", "\n" + pad)
            assert dump_indented(value, pad) == expected, value
    assert dump_indented({"a": {3: [1]}}, "  ") == '{\n   "a": {\n    "3": [\n     1\n    ]\n   }\n  }'
    with pytest.raises(TypeError, match="not JSON serializable"):
        dump_indented({"a": object()})
    with pytest.raises(TypeError):
        dump_indented({1: 1, "a": 2})  # json cannot sort mixed keys either
    for bc in sample_deck().cards:
        assert card_entry(bc) == json.dumps(bc.to_dict(), indent=1, sort_keys=True,
                                            ensure_ascii=False).replace("\n", "\n  ")


def test_a_changed_card_has_the_answer_hash_of_its_own_answer() -> None:
    """``answer_hash`` is made once per card (the render asks for it four times): a card made from
    another (``dataclasses.replace``) never keeps the hash of the one it was made from."""
    bc = next(c for c in sample_deck().cards if c.answer is not None)
    first = bc.answer_hash
    assert bc.answer_hash == first
    other = dataclasses.replace(bc, answer=Answer(type="python", text="something else"))
    assert other.answer_hash != first
    assert dataclasses.replace(other, answer=bc.answer).answer_hash == first
    assert other == dataclasses.replace(bc, answer=Answer(type="python", text="something else"))
