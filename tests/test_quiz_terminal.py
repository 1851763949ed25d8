"""A shared cards.json cannot drive the learner's terminal: every control character in card text,
code, answers, printed output and typed answers reaches the real pty as a visible escape, never raw.
Long error answers show the type and the key line (generator.render.question.summarize_error);
`m` shows the whole message."""

from __future__ import annotations

import io
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from generator.quiz.terminal import might_need_escaping, visible, visible_data

pexpect = pytest.importorskip("pexpect")

ROOT = Path(__file__).resolve().parent.parent
CARDS = Path(__file__).parent / "data" / "quiz_cards.json"
NOW = "2025-03-01T09:00:00+00:00"

CLEAR = "\x1b[2J\x1b[H"
CLIPBOARD = "\x1b]52;c;ZXZpbA==\x07"  # OSC 52: write "evil" to the clipboard
TITLE = "\x1b]0;pwned\x07"
C1_CSI = "\x9b31m"
BIDI = "\u202e"
PAYLOAD = f"{CLEAR}{CLIPBOARD}{TITLE}bell\x07 {C1_CSI}safe\rEVIL{BIDI}"
#: Raw sequences that must never reach the terminal, whatever the colour mode.
FORBIDDEN = [CLEAR.encode(), b"\x1b]52;", b"\x1b]0;", b"\x07", C1_CSI.encode(), BIDI.encode(), b"safe\rEVIL"]


def test_visible() -> None:
    assert visible(PAYLOAD) == ("\\x1b[2J\\x1b[H\\x1b]52;c;ZXZpbA==\\x07\\x1b]0;pwned\\x07bell\\x07 "
                                "\\x9b31msafe\\rEVIL\\u202e")
    assert visible("a\tb\nc\r\nd\x00\x7f\ud800") == "a\tb\nc\nd\\x00\\x7f\\ud800"
    assert visible("plain text, ünïcödé ✓ 2×3") == "plain text, ünïcödé ✓ 2×3"
    assert visible_data({"k\x1b": ["\x07", 1, None, {"x": "\r"}]}) == {"k\\x1b": ["\\x07", 1, None, {"x": "\\r"}]}


def test_the_json_prefilter_never_misses() -> None:
    """A deck whose JSON text has no match is used as parsed, unescaped: check every BMP character
    that :func:`visible` changes, written by json.dumps either way."""
    for code in range(0x10000):
        ch = chr(code)
        if visible(ch) != ch:
            upper = re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), json.dumps({ch: 1}))
            for text in (json.dumps({"k": ch}), json.dumps({"k": ch}, ensure_ascii=False), upper):
                assert might_need_escaping(text), hex(code)
    assert not might_need_escaping(CARDS.read_text())  # a normal deck: no walk over every string


def _hostile_deck(tmp_path: Path) -> Path:
    data = json.loads(CARDS.read_text())
    by_id = {c["id"]: c for c in data["cards"]}
    shape, error, output = by_id["squeeze-dim-1"], by_id["view-noncontiguous"], by_id["print-size"]
    shape.update(question=f"Q{PAYLOAD}?", setup=f"a = torch.rand(1, 1, 2, 3)  # {PAYLOAD}\n",
                 code=f"b = torch.squeeze(a, 1)  # {PAYLOAD}\n", explain=f"E{PAYLOAD}", source=f"S{PAYLOAD}",
                 deck=f"PyTorch::Evil{TITLE}")
    long_message = ("view size is not compatible with input tensor's size and stride " + "(detail) " * 30
                    + f"\nsecond line {PAYLOAD}\nthe last line of the full message")
    error["answer"] = {"type": "error", "exception": "RuntimeError", "message": long_message,
                       "text": f"RuntimeError: {long_message}"}
    output["answer"] = {"type": "output", "text": f"torch.Size([2, 3]){PAYLOAD}\n"}
    output["stdout"] = output["answer"]["text"]
    data["cards"] = [shape, error, output]
    out = tmp_path / "build" / "cards.json"
    out.parent.mkdir()
    out.write_text(json.dumps(data))
    return out


@pytest.mark.parametrize("term", ["dumb", "xterm-256color"])
def test_no_raw_control_sequence_reaches_the_pty(tmp_path: Path, term: str) -> None:
    cards = _hostile_deck(tmp_path)
    env = {**os.environ, "TNQUIZ_DB": str(tmp_path / "db" / "r.sqlite3"), "TNQUIZ_NOW": NOW, "TERM": term}
    env.pop("NO_COLOR", None)
    if term != "dumb":
        env["FORCE_COLOR"] = "1"
    p: Any = pexpect.spawn(sys.executable, ["-m", "generator", "quiz", str(cards)], env=env, cwd=ROOT,
                           timeout=30, dimensions=(60, 160))
    seen = io.BytesIO()
    p.logfile_read = seen
    try:
        p.expect(rb"Shape\? ")
        p.send(f"3x4{TITLE}\r")  # a typed answer carrying an escape sequence is shown escaped too
        p.expect(rb"Rating \[Enter = 1 Again\]: ")
        p.send("\r")
        p.expect(rb"Which exception\? ")
        p.send("RuntimeError\r")
        p.expect(rb"\(m at the rating prompt: the full message\)")
        p.expect(rb"Rating \[Enter = 3 Good\]: ")
        p.send("m\r")
        p.expect(rb"the last line of the full message")
        p.expect(rb"Rating \[Enter = 3 Good\]: ")
        p.send("\r")
        p.expect(rb"Think of the answer, then press Enter \(or type it\): ")  # long output: self-graded
        p.send("\r")
        p.expect(rb"Did you get it\? 1-4: ")
        p.send("q\r")
        p.expect(pexpect.EOF)
    finally:
        p.close(force=True)
    raw = seen.getvalue()
    for bad in FORBIDDEN:
        assert bad not in raw, bad
    if term == "dumb":
        assert b"\x1b" not in raw  # no colour either: any ESC would be the card's
    else:
        assert b"\x1b[" in raw  # rich's own colours still work
    text = raw.decode("utf-8")
    plain = " ".join((text if term == "dumb" else _strip_sgr(text)).split())  # undo rich's wrapping
    assert "Q\\x1b[2J\\x1b[H\\x1b]52;c;ZXZpbA==\\x07\\x1b]0;pwned\\x07bell\\x07 \\x9b31msafe\\rEVIL\\u202e?" in plain
    assert "you answered 3x4\\x1b]0;pwned\\x07" in plain
    assert "PyTorch::Evil\\x1b]0;pwned\\x07" in plain
    key = "Answer: RuntimeError: view size is not compatible with input tensor's size and stride (detail)"
    assert key in plain
    assert plain.count("the last line of the full message") == 1  # only after m
    assert "second line \\x1b[2J" in plain
    assert "torch.Size([2, 3])\\x1b[2J" in plain


def _strip_sgr(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)
