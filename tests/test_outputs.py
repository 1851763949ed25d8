"""Whole outputs: build/ holds the old complete files or the new complete ones, whatever happens.

Real builds in real processes: killed mid-way, run two at once into one folder, fed a hostile
highlighting memo and a card that prints what UTF-8 cannot encode.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_tnquiz

OUTPUTS = {"cards.json", "tnquiz.apkg", "quiz.html"}
KEPT = OUTPUTS | {".tnquiz-build", ".tnquiz-build.lock"}


def deck_yaml(name: str, n: int = 30) -> str:
    return f"""\
deck: {name}
cards:
  - id: {name.lower()}-{{i}}
    params: {{i: {list(range(n))}}}
    question: What shape does `torch.zeros({{i}} + 1, 2)` have?
    code: x = torch.zeros({{i}} + 1, 2)
    answer: x.shape
"""


@pytest.fixture(scope="module")
def decks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Two small decks, run once into a cache the tests of this module share (warm builds)."""
    root = tmp_path_factory.mktemp("decks")
    alpha, bravo = root / "alpha.yaml", root / "bravo.yaml"
    alpha.write_text(deck_yaml("DeckAlpha"))
    bravo.write_text(deck_yaml("DeckBravo"))
    env = {"TNQUIZ_CACHE_DIR": str(root / "cache")}
    warm = run_tnquiz("check", str(alpha), str(bravo), env=env)
    assert warm.returncode == 0, warm.stderr
    return {"alpha": alpha, "bravo": bravo, "env": env, "root": root}


def _apkg_decks(path: Path) -> set[str]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "c.anki2"
        with zipfile.ZipFile(path) as zf:
            db.write_bytes(zf.read("collection.anki2"))
        conn = sqlite3.connect(db)
        try:
            (decks,) = conn.execute("SELECT decks FROM col").fetchone()
            (notes,) = conn.execute("SELECT count(*) FROM notes").fetchone()
        finally:
            conn.close()
    names = {d["name"] for d in json.loads(decks).values()} - {"Default"}
    return names | {f"notes={notes}"}


def assert_one_whole_build(out: Path) -> str:
    """Every output is complete, and all three come from the same deck; returns its name."""
    cards = json.loads((out / "cards.json").read_text(encoding="utf-8"))
    (name,) = {c["deck"] for c in cards["cards"]}
    assert _apkg_decks(out / "tnquiz.apkg") == {name, f"notes={len(cards['cards'])}"}
    page = (out / "quiz.html").read_text(encoding="utf-8")
    assert page.rstrip().endswith("</html>") and name in page
    assert ({"DeckAlpha", "DeckBravo"} - {name}).pop() not in page
    return name


def test_outputs_get_the_mode_a_plain_write_would(decks: dict, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_tnquiz("build", str(decks["alpha"]), "-o", str(out), env=decks["env"]).returncode == 0
    mask = os.umask(0o022)
    os.umask(mask)
    for name in OUTPUTS:
        assert (out / name).stat().st_mode & 0o777 == 0o666 & ~mask, name


def test_a_build_never_leaves_a_temporary_folder_in_out(decks: dict, tmp_path: Path) -> None:
    """Watched from outside while it writes: only the outputs and hidden atomic temp files appear."""
    out = tmp_path / "out"
    out.mkdir()
    seen: set[str] = set()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                seen.update(os.listdir(out))

    t = threading.Thread(target=watch)
    t.start()
    try:
        built = run_tnquiz("build", str(decks["alpha"]), "-o", str(out), env=decks["env"])
    finally:
        stop.set()
        t.join()
    assert built.returncode == 0, built.stderr
    strays = {n for n in seen - KEPT if not (n.startswith(".") and n.endswith(".tmp"))}
    assert strays == set()
    assert set(os.listdir(out)) == KEPT


def test_a_killed_build_leaves_the_old_outputs_whole(decks: dict, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, **decks["env"]}
    assert run_tnquiz("build", str(decks["alpha"]), "-o", str(out), env=decks["env"]).returncode == 0
    for delay in (0.4, 0.8, 1.2, 1.6):
        proc = subprocess.Popen([sys.executable, "-m", "generator", "build", str(decks["bravo"]),
                                 "-o", str(out)], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        left = set(os.listdir(out))
        assert {n for n in left - KEPT if not (n.startswith(".") and n.endswith(".tmp"))} == set(), delay
        assert left >= OUTPUTS
        for name in OUTPUTS:  # each file is the old complete one or the new complete one
            if name == "cards.json":
                json.loads((out / name).read_text(encoding="utf-8"))
            elif name == "tnquiz.apkg":
                _apkg_decks(out / name)
            else:
                assert (out / name).read_text(encoding="utf-8").rstrip().endswith("</html>")
    (out / ".quiz.html.abc123.tmp").write_text("half a page")  # as a kill -9 mid-write leaves it,
    (out / ".tnquiz-build").unlink(missing_ok=True)  # with the stamp gone (removed before any write)
    again = run_tnquiz("build", str(decks["bravo"]), "-o", str(out), env=decks["env"])
    assert again.returncode == 0, again.stderr
    assert assert_one_whole_build(out) == "DeckBravo"
    assert set(os.listdir(out)) == KEPT  # the next build removes what killed ones left


def test_two_builds_into_one_folder_take_turns(decks: dict, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, **decks["env"]}
    for _ in range(2):
        procs = [subprocess.Popen([sys.executable, "-m", "generator", "build", str(decks[d]), "-o", str(out)],
                                  cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for d in ("alpha", "bravo")]
        for p in procs:
            _, err = p.communicate(timeout=300)
            assert p.returncode == 0, err
        assert_one_whole_build(out)
    again = run_tnquiz("build", str(decks["alpha"]), "-o", str(out), env=decks["env"])
    assert again.returncode == 0, again.stderr
    assert assert_one_whole_build(out) == "DeckAlpha"


def _pygments_version() -> str:
    import pygments

    return str(pygments.__version__)


@pytest.mark.parametrize("memo", [
    "[]", "null", "{not json", '{"result": null}', '{"pygments": "%s", "tokens": []}',
    '{"pygments": "%s", "tokens": {"k": 5, "j": [[1, 2]], "i": [["a"]]}}',
])
def test_a_wrong_shape_highlight_memo_is_rebuilt_and_cache_clear_removes_it(
        decks: dict, tmp_path: Path, memo: str) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    for src in Path(str(decks["root"]), "cache").iterdir():  # the warm results, not the memo
        if src.is_dir():
            subprocess.run(["cp", "-r", str(src), str(cache)], check=True)
    (cache / "highlight.json").write_text(memo.replace("%s", _pygments_version()))
    env = {"TNQUIZ_CACHE_DIR": str(cache)}
    built = run_tnquiz("build", str(decks["alpha"]), "-o", str(tmp_path / "out"), env=env)
    assert built.returncode == 0, built.stderr
    assert "Traceback" not in built.stderr
    data = json.loads((cache / "highlight.json").read_text())
    assert data["pygments"] == _pygments_version() and data["tokens"]  # rewritten, valid
    assert json.loads((cache / "render.json").read_text())["entries"]  # the per-card pieces
    cleared = run_tnquiz("cache", "clear", env=env)
    assert cleared.returncode == 0
    assert not (cache / "highlight.json").exists() and not (cache / "render.json").exists()


def test_a_memo_entry_is_never_trusted_over_the_code(tmp_path: Path) -> None:
    """A hostile memo cannot change the code a page shows, nor inject markup through a class."""
    code = "x = torch.zeros(2, 3)"
    cards = tmp_path / "c.yaml"
    cards.write_text(f"deck: Memo\ncards:\n  - id: m\n    question: q\n    code: {code}\n    answer: x.shape\n")
    cache = tmp_path / "cache"
    cache.mkdir()
    lexed = code + "\n"  # what the renderers lex: the shown code with the newline the Anki field adds
    key = hashlib.sha256(lexed.encode()).hexdigest()
    fake = [["n", "os.system('rm -rf ~')"]]
    evil = [['x" onclick="alert(1)', code]]
    other = hashlib.sha256(b"y = 1").hexdigest()
    (cache / "highlight.json").write_text(json.dumps(
        {"pygments": _pygments_version(), "tokens": {key: fake, other: evil}}))
    built = run_tnquiz("build", str(cards), "-o", str(tmp_path / "out"), env={"TNQUIZ_CACHE_DIR": str(cache)})
    assert built.returncode == 0, built.stderr
    page = (tmp_path / "out" / "quiz.html").read_text()
    assert "rm -rf" not in page and "onclick" not in page
    assert "zeros" in page
    tokens = json.loads((cache / "highlight.json").read_text())["tokens"]
    assert "".join(t for _, t in tokens[key]) == lexed and other not in tokens


def test_a_card_printing_a_lone_surrogate_breaks_no_writer(tmp_path: Path) -> None:
    cards = tmp_path / "s.yaml"
    cards.write_text('deck: Odd\ncards:\n  - id: surrogate\n    question: What does this print?\n'
                     '    code: print("a" + chr(0xD800) + "b")\n    output: true\n')
    env = {"TNQUIZ_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "out"
    for _ in range(2):  # fresh, then from the cache: the cached result must not break a rebuild
        built = run_tnquiz("build", str(cards), "-o", str(out), "--split", env=env)
        assert built.returncode == 0, built.stderr
        (card,) = json.loads((out / "cards.json").read_bytes().decode("utf-8"))["cards"]
        assert card["status"] == "ok" and card["answer"]["text"] == "a\\ud800b\n"
        assert "ud800b" in (out / "quiz.html").read_text(encoding="utf-8")
        assert _apkg_decks(out / "tnquiz.apkg") == {"Odd", "notes=1"}
        (out / ".tnquiz-build").unlink()  # render again from the cache


def test_a_build_waits_for_another_one_and_says_so(decks: dict, tmp_path: Path) -> None:
    from filelock import FileLock

    out = tmp_path / "out"
    out.mkdir()
    with FileLock(out / ".tnquiz-build.lock"):  # another build is writing into out
        proc = subprocess.Popen([sys.executable, "-m", "generator", "build", str(decks["alpha"]), "-o", str(out)],
                                cwd=ROOT, env={**os.environ, **decks["env"]}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        assert proc.stderr.readline() == f"waiting for another build into {out}/ to finish\n"
        time.sleep(1.0)
        assert proc.poll() is None and not (out / "cards.json").exists()
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert assert_one_whole_build(out) == "DeckAlpha"


def test_a_broken_template_is_a_located_error_and_the_outputs_stay_whole(decks: dict, tmp_path: Path) -> None:
    """A `--templates` file that does not compile is reported at its line before anything is
    written; one that fails while rendering (an unknown name) is reported at its line too."""
    out = tmp_path / "out"
    good = run_tnquiz("build", str(decks["alpha"]), "-o", str(out), env=decks["env"])
    assert good.returncode == 0, good.stderr
    before = {name: (out / name).read_bytes() for name in OUTPUTS}
    tpl = tmp_path / "tpl"
    (tpl / "anki").mkdir(parents=True)
    question = tpl / "anki" / "field_question.html"

    def build_with(template: str) -> str:
        """Build with ``template`` as the question field's; the error line (exit 2, no traceback)."""
        question.write_text(template)
        bad = run_tnquiz("build", str(decks["alpha"]), "-o", str(out), "--templates", str(tpl), env=decks["env"])
        assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr
        return bad.stderr.splitlines()[-1]

    assert build_with("<div>\n[% if %]\n</div>\n") == (
        f"Error: {question}:2: the template does not compile: Expected an expression, got 'end of statement block'")
    assert {name: (out / name).read_bytes() for name in OUTPUTS} == before
    assert (out / ".tnquiz-build").exists()  # untouched: the next plain build has nothing to do
    assert build_with("<div>\n[[ no_such_name ]]\n</div>\n") == (
        f"Error: {question}:2: the template does not render: 'no_such_name' is undefined")
    assert_one_whole_build(out)
