"""The Anki deck, checked with the official Anki client (the ``anki`` package) as the oracle.

The first group works on a deck built by hand (fast, no torch). The second builds real YAML cards
with the real CLI (``python -m generator build``), imports the ``.apkg`` into a fresh collection,
reviews cards with Anki's scheduler, edits the YAML, rebuilds and re-imports.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from anki.collection import Collection
from anki_helpers import (  # noqa: F401  (anki_collection: the `col` fixture)
    EDITED_ANSWER,
    EDITED_QUESTION,
    anki_collection,
    import_apkg,
    sample_deck,
    visible_text,
    write_yaml,
)
from conftest import ROOT, run_tnquiz

from generator.model import Deck
from generator.render import anki as ra

# --------------------------------------------------------------------------------------------------
# Helpers


def notes_by_id(col: Collection) -> dict[str, Any]:
    """Anki notes keyed by their ``Id`` field (the YAML id)."""
    return {col.get_note(nid)["Id"]: col.get_note(nid) for nid in col.find_notes("")}


def card_of(col: Collection, card_id: str) -> Any:
    (cid,) = col.find_cards(f'"Id:{card_id}"')
    return col.get_card(cid)


def log_ids(entries: Any) -> set[str]:
    """The YAML ids of the notes in one list of an import log (``Id`` is the first field)."""
    return {e.fields[0] for e in entries}


def strip_style(fragment: str) -> str:
    return re.sub(r"<style>.*?</style>", "", fragment, flags=re.S)


def sqlite_of(apkg: Path, tmp: Path) -> sqlite3.Connection:
    db = tmp / f"{apkg.stem}-collection.anki2"
    with zipfile.ZipFile(apkg) as zf:
        db.write_bytes(zf.read("collection.anki2"))
    return sqlite3.connect(db)


# --------------------------------------------------------------------------------------------------
# Hand-built deck: package structure, identity, mtimes, reproducibility


def test_writes_only_ok_cards_into_sub_decks_with_fixed_note_types(tmp_path: Path, col: Collection) -> None:
    (apkg,) = ra.write_apkg(sample_deck(), tmp_path / "out")
    assert apkg == tmp_path / "out" / "tnquiz.apkg"
    log = import_apkg(col, apkg)
    assert len(log.new) == 8 and not log.updated and not log.duplicate and not log.conflicting
    notes = notes_by_id(col)
    assert set(notes) == {"cat-shape", "arange-dtype", "script-q", "view-err", "print-size",
                          "stack-choice", "cat-cloze", "dict-cloze"}  # failed/skipped left out
    names = {d.name for d in col.decks.all_names_and_ids()}
    assert {"PyTorch", "PyTorch::Tensors", "PyTorch::Tensors::Shapes", "PyTorch::Tensors::Dtypes",
            "PyTorch::Misc", "Other"} <= names
    assert notes["cat-shape"].tags == ["cat_op", "shapes"]  # no spaces in Anki tags
    kinds = {i: n.note_type()["name"] for i, n in notes.items()}
    assert kinds == {
        "cat-shape": "tnquiz: shape or dtype", "arange-dtype": "tnquiz: shape or dtype",
        "script-q": "tnquiz: front/back", "view-err": "tnquiz: front/back",
        "print-size": "tnquiz: front/back", "stack-choice": "tnquiz: multiple choice",
        "cat-cloze": "tnquiz: cloze", "dict-cloze": "tnquiz: cloze",
    }
    for n in notes.values():
        nt = n.note_type()
        assert [f["name"] for f in nt["flds"]] == list(ra.FIELDS)
        kind = json.loads(html.unescape(n["Meta"]))["kind"]
        assert nt["id"] == ra.NOTE_TYPES[ra.KIND_TO_NOTE_TYPE[kind]].model_id
        assert n.guid == ra.note_guid(n["Id"])
    assert col.decks.name(card_of(col, "view-err").did) == "PyTorch::Misc"


def test_guid_and_ids_are_stable_and_content_free() -> None:
    assert ra.note_guid("cat-shape") == ra.note_guid("cat-shape") != ra.note_guid("cat-shape2")
    assert ra.deck_id("PyTorch::Tensors") == ra.deck_id("PyTorch::Tensors") != ra.deck_id("PyTorch")
    assert (1 << 30) <= ra.deck_id("x") < (1 << 52)
    a, _ = ra.build_notes(sample_deck(), now=1000)
    b, _ = ra.build_notes(sample_deck(question_suffix=" (edited)", answer="torch.Size([9])"), now=1000)
    assert [n.guid for n in a] == [n.guid for n in b]
    assert len({m for m in (ra.NOTE_TYPES[k].model_id for k in ra.NOTE_TYPES)}) == 4


def test_reproducible_byte_for_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    one = ra.write_apkg(sample_deck(), tmp_path / "one", split=True)
    two = ra.write_apkg(sample_deck(), tmp_path / "two", split=True)
    assert [p.name for p in one] == [p.name for p in two] == ["tnquiz.apkg", "Other.apkg", "PyTorch.apkg"]
    for a, b in zip(one, two, strict=True):
        assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(one[0]) as zf:
        assert sorted(zf.namelist()) == ["collection.anki2", "media"]
        assert {i.date_time for i in zf.infolist()} == {(2023, 11, 14, 22, 13, 20)}
    conn = sqlite_of(one[0], tmp_path)
    assert {r[0] for r in conn.execute("SELECT mod FROM notes UNION SELECT mod FROM cards")} == {1700000000}
    crt, mod, scm = conn.execute("SELECT crt, mod, scm FROM col").fetchone()
    assert (crt, mod, scm) == (1700000000, 1700000000000, 1700000000000)
    for m in json.loads(conn.execute("SELECT models FROM col").fetchone()[0]).values():
        assert m["mod"] == 1700000000
    for d in json.loads(conn.execute("SELECT decks FROM col").fetchone()[0]).values():
        assert d["mod"] == 1700000000
    conn.close()

    # Without SOURCE_DATE_EPOCH, rebuilding into the same folder is byte-identical too: the previous
    # build supplies every note's modification time.
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    first = ra.write_apkg(sample_deck(), tmp_path / "same")[0].read_bytes()
    assert ra.write_apkg(sample_deck(), tmp_path / "same")[0].read_bytes() == first


def test_mtime_scheme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "5000")
    ra.write_apkg(sample_deck(), out)

    def mods() -> dict[str, int]:
        conn = sqlite_of(out / "tnquiz.apkg", tmp_path)
        rows = conn.execute("SELECT flds, mod FROM notes").fetchall()
        conn.close()
        return {flds.split("\x1f")[0]: mod for flds, mod in rows}

    assert set(mods().values()) == {5000}
    # An older clock (or the same SOURCE_DATE_EPOCH) still makes an edited note newer.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "4000")
    ra.write_apkg(sample_deck(question_suffix=" (edited)"), out)
    m = mods()
    assert m.pop("cat-shape") == 5001 and set(m.values()) == {5000}
    # A later clock: edited notes take it, unchanged notes keep theirs.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "9000")
    ra.write_apkg(sample_deck(question_suffix=" (edited)", answer="torch.Size([2, 8])"), out)
    m = mods()
    assert m.pop("cat-shape") == 9000 and set(m.values()) == {5000}
    # A deck that cannot be read as the previous build counts as no previous build.
    (out / "tnquiz.apkg").write_bytes(b"not a zip")
    ra.write_apkg(sample_deck(), out)
    assert set(mods().values()) == {9000}


def test_split_names_are_sanitised_and_never_clobber_the_whole_deck(tmp_path: Path) -> None:
    base = sample_deck()
    cards = tuple(
        dataclasses.replace(c, card=dataclasses.replace(c.card, deck=deck))
        for c, deck in zip(base.cards[:3], ["tnquiz::A", "My Deck/x::B", "My Deck?x::C"], strict=True)
    )
    written = ra.write_apkg(Deck(cards=cards), tmp_path, split=True)
    assert [p.name for p in written] == ["tnquiz.apkg", "My_Deck_x.apkg", "My_Deck_x-2.apkg",
                                         "tnquiz-2.apkg"]
    assert all(p.is_file() for p in written)


def test_cloze_markers_are_balanced_and_code_braces_are_inert() -> None:
    code = ra.code_html('d = {"k": {"a": x[::2]}}\nprint(d)\n', '{"a": x[::2]}}')
    assert code.count("{{c1::") == 1 and code.count("}}") == 1
    inside = code.split("{{c1::")[1].split("}}")[0]
    assert inside.count("<span") == inside.count("</span>")  # markers sit between whole spans
    assert "::" not in inside and "{" not in inside.replace("{{c1::", "")
    # A cloze that starts inside a token cuts the token, the HTML stays balanced.
    code = ra.code_html("z = torch.cat([x, y], dim=1)\n", "at([x")
    inside = code.split("{{c1::")[1].split("}}")[0]
    assert inside.count("<span") == inside.count("</span>")
    assert visible_text(inside) == "at([x"
    # Plain code: no cloze markers, and no braces Anki could read as template or cloze syntax.
    code = ra.code_html("x = {{'c1': 1}}  # {{c1::y}}\n")
    assert "{" not in code and "}" not in code


def test_template_override(tmp_path: Path, col: Collection) -> None:
    override = tmp_path / "mytemplates"
    (override / "anki").mkdir(parents=True)
    (override / "anki" / "field_verified.html").write_text(
        "checked by [[ id ]] with torch [[ torch_version ]]\n", encoding="utf-8")
    (override / "anki" / "basic_front.html").write_text(
        '<div class="mine">{{Question}}</div>\n', encoding="utf-8")
    (apkg,) = ra.write_apkg(sample_deck(), tmp_path / "out", templates=override)
    import_apkg(col, apkg)
    card = card_of(col, "view-err")
    assert '<div class="mine">' in card.question()
    assert "checked by view-err with torch 2.5.0+cpu" in card.answer()


def test_changed_templates_update_the_note_type_in_place(tmp_path: Path, col: Collection,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    out = tmp_path / "out"
    import_apkg(col, ra.write_apkg(sample_deck(), out)[0])
    count = len(col.models.all_names_and_ids())
    override = tmp_path / "t"
    (override / "anki").mkdir(parents=True)
    (override / "anki" / "basic_front.html").write_text('<div class="v2">{{Question}}</div>\n',
                                                        encoding="utf-8")
    log = import_apkg(col, ra.write_apkg(sample_deck(), out, templates=override)[0])
    assert not log.updated and not log.new and len(log.duplicate) == 8  # notes unchanged
    assert len(col.models.all_names_and_ids()) == count
    model = col.models.by_name("tnquiz: front/back")
    assert model is not None and model["tmpls"][0]["qfmt"] == '<div class="v2">{{Question}}</div>'
    assert model["mod"] == 1700000001
    assert '<div class="v2">' in card_of(col, "view-err").question()


OLD_TYPEIN_FRONT = '<div class="tnq">{{Question}}{{Code}}</div>\n{{type:TypeAnswer}}\n'
OLD_TYPEIN_BACK = '{{FrontSide}}<hr id="answer">{{type:TypeAnswer}}{{Answer}}\n'


def test_collections_with_the_old_type_in_note_type_update_in_place(
        tmp_path: Path, col: Collection, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shape and dtype notes were once typed in ({{type:TypeAnswer}}, note type "tnquiz: type-in"):
    re-importing today's deck updates that note type and its notes in place, reviews kept."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    out = tmp_path / "out"
    old = tmp_path / "old"
    (old / "anki").mkdir(parents=True)
    (old / "anki" / "typein_front.html").write_text(OLD_TYPEIN_FRONT, encoding="utf-8")
    (old / "anki" / "typein_back.html").write_text(OLD_TYPEIN_BACK, encoding="utf-8")
    spec = ra.NOTE_TYPES[ra.TYPE_IN]
    with monkeypatch.context() as m:  # what older builds called it
        m.setitem(ra.NOTE_TYPES, ra.TYPE_IN, dataclasses.replace(spec, name="tnquiz: type-in"))
        import_apkg(col, ra.write_apkg(sample_deck(), out, templates=old)[0])
    mid = spec.model_id
    assert "[[type:TypeAnswer]]" in card_of(col, "cat-shape").question()
    assert (mid, "tnquiz: type-in") in {(n.id, n.name) for n in col.models.all_names_and_ids()}
    before = {i: n.id for i, n in notes_by_id(col).items()}
    card = card_of(col, "cat-shape")
    card.start_timer()
    col.sched.answerCard(card, 3)
    state = (col.get_card(card.id).type, col.get_card(card.id).due)
    count = len(col.models.all_names_and_ids())

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000100")
    log = import_apkg(col, ra.write_apkg(sample_deck(), out)[0])
    assert not log.new and not log.conflicting and not log.missing_notetype
    assert {i: n.id for i, n in notes_by_id(col).items()} == before
    assert len(col.models.all_names_and_ids()) == count
    # (asked of the backend: the Python side caches note types)
    assert (mid, "tnquiz: shape or dtype") in {(n.id, n.name) for n in col.models.all_names_and_ids()}
    q = card_of(col, "cat-shape").question()
    assert "[[type:" not in q and "typeans" not in q
    assert "2x7" in visible_text(card_of(col, "cat-shape").answer())
    assert (col.get_card(card.id).type, col.get_card(card.id).due) == state


def test_css_supports_night_mode_and_phones() -> None:
    _, models = ra.build_notes(sample_deck(), now=1)
    css = models[ra.NOTE_TYPES[ra.FRONT_BACK].model_id]["css"]
    assert ".nightMode .tnq-code .k" in css and ".night_mode .tnq-code .k" in css
    assert ".nightMode.card" in css and "@media (max-width: 480px)" in css
    assert "[[" not in css and "prefers-color-scheme" not in css


def test_write_apkg_does_not_import_torch(tmp_path: Path) -> None:
    script = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from generator.model import Deck\n"
        "from generator.render.anki import write_apkg\n"
        f"deck = Deck.from_dict(json.loads(Path({str(tmp_path / 'cards.json')!r}).read_text()))\n"
        f"write_apkg(deck, Path({str(tmp_path / 'out')!r}), split=True)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    (tmp_path / "cards.json").write_text(json.dumps(sample_deck().to_dict()), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "tnquiz.apkg").is_file()


# --------------------------------------------------------------------------------------------------
# The real pipeline: YAML -> `python -m generator build` -> import with Anki -> review -> edit -> update


def build(paths: list[Path], out: Path, cache: Path) -> Path:
    proc = run_tnquiz("build", *map(str, paths), "--out", str(out), env={"TNQUIZ_CACHE_DIR": str(cache)})
    assert proc.returncode == 0, proc.stderr
    apkg = out / "tnquiz.apkg"
    assert apkg.is_file(), proc.stderr
    return apkg


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, fixture_cache: Path) -> tuple[list[Path], Path]:
    root = tmp_path_factory.mktemp("anki-cli")
    cards = write_yaml(root / "cards")
    build(cards, root / "out", fixture_cache)  # the cards ran into fixture_cache
    return cards, root / "out"


@pytest.mark.slow
def test_cli_deck_imports_and_renders_every_kind(built: tuple[list[Path], Path], col: Collection) -> None:
    _, out = built
    log = import_apkg(col, out / "tnquiz.apkg")
    assert log.found_notes == 8 and len(log.new) == 8
    assert not (log.updated or log.duplicate or log.conflicting or log.missing_notetype)
    assert col.note_count() == 8 and col.card_count() == 8
    assert {d.name for d in col.decks.all_names_and_ids()} >= {
        "TnqTest", "TnqTest::Tensors", "TnqTest::Tensors::Shapes", "TnqTest::Misc"}
    notes = notes_by_id(col)
    assert notes["t-shape"].tags == ["cat", "shapes", "test"] and notes["t-value"].tags == ["misc"]
    assert {nt.name for nt in col.models.all_names_and_ids()} >= {
        "tnquiz: front/back", "tnquiz: shape or dtype", "tnquiz: multiple choice", "tnquiz: cloze"}

    def qa(card_id: str) -> tuple[str, str]:
        card = card_of(col, card_id)  # without the note type's <style>
        return strip_style(card.question()), strip_style(card.answer())

    # shape: self-graded (Anki compares typed text literally), every notation that counts is listed.
    q, a = qa("t-shape")
    assert "type:" not in q and "type:" not in a and "torch.Size([2, 7])" not in visible_text(q)
    assert notes["t-shape"]["TypeAnswer"] == ""
    assert "torch.Size([2, 7])" in visible_text(a) and "Sizes add up along dim" in visible_text(a)
    assert "2x7" in visible_text(a) and "(2, 7)" in visible_text(a)
    assert "notes/shapes.md#cat" in a and "verified with torch" in a and "on cpu" in a
    assert 'class="tnq-code"' in q and '<span class="n">torch</span>' in q  # highlighted at build time
    # dtype: self-graded too, with the aliases the other outputs accept.
    q, a = qa("t-dtype")
    assert "type:" not in q and "torch.int64" in visible_text(a)
    assert "long" in visible_text(a.split('class="tnq-also"')[1])
    # value: everything that is not our markup is escaped, Anki syntax in text stays text.
    q, a = qa("t-value")
    assert "<script>" not in q and "&lt;script&gt;alert(" in q
    assert "For a<b elementwise" in visible_text(q) and "{{Question}}" in visible_text(q)
    assert "[sound:x.mp3]" in visible_text(q) and "[sound:" not in q  # no audio tag for Anki
    assert "tensor([ True, False])" in visible_text(a)
    assert "<b>not bold</b>" in visible_text(a) and "<b>not bold" not in a
    assert 'href="https://pytorch.org/docs/stable/generated/torch.lt.html?a=1&amp;b=2"' in a
    # error and output: front/back, the live answer on the back.
    q, a = qa("t-error")
    assert "RuntimeError: view size is not compatible" in visible_text(a) and "Raises" in a
    assert "RuntimeError: view size" not in visible_text(q)
    q, a = qa("t-output")
    assert "torch.Size([2, 3])" in visible_text(a) and "Prints" in a
    # choice: every executed option on the front, labelled 1, 2, 3 as in the other outputs; the
    # right one (with its number) on the back, and which expression gave each option.
    q, a = qa("t-choice")
    for option in ("torch.Size([4, 3])", "torch.Size([2, 2, 3])", "torch.Size([2, 6])"):
        assert option in visible_text(q)
    labels = re.findall(r'class="tnq-letter">([^<]*)<', q.split('class="tnq-options"')[1])
    assert labels == ["1", "2", "3"]
    assert "tnq-pick" not in q and "tnq-pick" in a
    pick = a.split('class="tnq-pick"')[1]
    assert "torch.Size([2, 2, 3])" in visible_text(pick.split("</div>")[0])
    exprs = visible_text(a.split('class="tnq-exprs"')[1].split("</ol>")[0])
    assert "torch.stack([x, y]).shape → torch.Size([2, 2, 3])" in exprs
    assert "torch.cat([x, y]).shape → torch.Size([4, 3])" in exprs
    # cloze: the blank really hides the text on the front, the back shows it; result given on front.
    q, a = qa("t-cloze")
    code_q = visible_text(q.split('class="tnq-code"')[-1].split("</pre>")[0])
    assert "[...]" in code_q and "dim=1" not in code_q and "torch.cat([x, y], " in code_q
    given = q.split('class="tnq-setup"')[1].split("</pre>")[0]  # the setup is shown, as context
    assert "Given" in given and "x = torch.zeros(2, 3); y = torch.zeros(2, 4)" in visible_text(given)
    assert "torch.Size([2, 7])" in visible_text(q)
    assert "torch.cat([x, y], dim=1)" in visible_text(a)
    # `dim=-1` gives the same result on these 2-D tensors: the build verified it, the back (only) says
    # so, as the HTML page and the terminal quiz accept it (Anki's cloze notes are self-graded).
    assert "Also right: dim=-1" in visible_text(a) and "dim=-1" not in visible_text(q)
    assert notes["t-dict-cloze"]["Options"] == ""  # no equivalent: nothing to say
    # cloze over a nested dict literal: its "}}" does not end the cloze early.
    q, a = qa("t-dict-cloze")
    code_q = visible_text(q.split('class="tnq-code"')[-1].split("</pre>")[0])
    assert 'cfg = {"opt": [...]' in code_q and "0.5" not in code_q
    assert 'cfg = {"opt": {"lr": 0.5}}' in visible_text(a)
    assert "{{c1::braces}}" in visible_text(q)  # the question's braces are text, not a cloze
    assert card_of(col, "t-dict-cloze").ord == 0 and col.card_count() == 8  # only c1: one card


@pytest.mark.slow
def test_cli_rebuild_updates_notes_in_place_and_keeps_reviews(
    built: tuple[list[Path], Path], fixture_cache: Path, tmp_path: Path, col: Collection
) -> None:
    cards, first_out = built
    cache = tmp_path / "cache"  # the edited answer runs: into a copy of the shared cache
    shutil.copytree(fixture_cache, cache)
    # Work on a copy of the first build's output folder: the previous build drives note mtimes.
    out = tmp_path / "out"
    out.mkdir()
    (out / "tnquiz.apkg").write_bytes((first_out / "tnquiz.apkg").read_bytes())
    import_apkg(col, out / "tnquiz.apkg")
    before = {i: n.id for i, n in notes_by_id(col).items()}
    notetypes = len(col.models.all_names_and_ids())

    # Review three cards with Anki's own scheduler.
    deck_id = col.decks.id_for_name("TnqTest")
    assert deck_id is not None
    col.decks.select(deck_id)
    reviewed = []
    for _ in range(3):
        card = col.sched.getCard()
        assert card is not None
        col.sched.answerCard(card, 3)
        reviewed.append(card.id)
    assert col.db is not None
    revlog = col.db.all("SELECT id, cid, ease, ivl, type FROM revlog ORDER BY id")
    assert len(revlog) == 3
    states = {cid: (col.get_card(cid).type, col.get_card(cid).due) for cid in reviewed}

    # Edit one question and one answer, rebuild with the real CLI into the same folder.
    edited = tmp_path / "cards"
    shapes = cards[0].read_text(encoding="utf-8").replace(*EDITED_QUESTION)
    misc = cards[1].read_text(encoding="utf-8").replace(*EDITED_ANSWER)
    assert shapes != cards[0].read_text(encoding="utf-8") and misc != cards[1].read_text(encoding="utf-8")
    edited_paths = write_yaml(edited, shapes, misc)
    apkg = build(edited_paths, out, cache)

    log = import_apkg(col, apkg)
    assert log_ids(log.updated) == {"t-shape", "t-value"}
    assert not log.new and not log.conflicting
    assert log_ids(log.duplicate) == set(before) - {"t-shape", "t-value"}
    after = notes_by_id(col)
    assert {i: n.id for i, n in after.items()} == before  # same notes, no duplicates
    assert col.note_count() == 8 and col.card_count() == 8
    assert len(col.models.all_names_and_ids()) == notetypes  # no extra note type
    assert "Edited, what shape" in after["t-shape"]["Question"]
    assert "tensor([False,  True])" in visible_text(card_of(col, "t-value").answer())
    assert "tensor([ True, False])" not in card_of(col, "t-value").answer()
    assert col.db.all("SELECT id, cid, ease, ivl, type FROM revlog ORDER BY id") == revlog
    assert {cid: (col.get_card(cid).type, col.get_card(cid).due) for cid in reviewed} == states

    # Rebuilding unchanged input gives the same bytes and imports as "nothing updated".
    previous = apkg.read_bytes()
    apkg = build(edited_paths, out, cache)
    assert apkg.read_bytes() == previous
    log = import_apkg(col, apkg)
    assert not log.updated and not log.new and not log.conflicting
    assert log_ids(log.duplicate) == set(before)
    assert col.note_count() == 8


@pytest.mark.slow
def test_cli_split_and_reproducible(built: tuple[list[Path], Path], fixture_cache: Path, tmp_path: Path) -> None:
    cards, _ = built
    env = {"SOURCE_DATE_EPOCH": "1600000000", "TNQUIZ_CACHE_DIR": str(fixture_cache)}
    outs = []
    for name in ("a", "b"):
        proc = run_tnquiz("build", *map(str, cards), "--out", str(tmp_path / name), "--split", env=env)
        assert proc.returncode == 0, proc.stderr
        outs.append(tmp_path / name)
    for out in outs:
        assert (out / "tnquiz.apkg").is_file() and (out / "TnqTest.apkg").is_file()
    for fname in ("tnquiz.apkg", "TnqTest.apkg"):
        assert (outs[0] / fname).read_bytes() == (outs[1] / fname).read_bytes()
