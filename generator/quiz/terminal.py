"""Text that reaches the terminal never carries a raw control character.

A shared ``cards.json`` (or a card's printed output, or a review database) could otherwise clear the
screen, set the window title, write the clipboard (OSC 52), ring the bell, rewrite a line with a
carriage return or reorder text with Unicode bidi controls, without running any code. The quiz shows
such characters as visible escapes (``\\x1b``, ``\\r``, ``\\u202e``): :func:`visible` on a string,
:func:`visible_data` on parsed JSON (what :func:`generator.quiz.session.load_deck` applies to the whole
deck before anything is shown or graded).
"""

from __future__ import annotations

import re
from typing import Any

from generator.model import map_strings

#: C0 controls except newline and tab, DEL, C1 controls (0x9b is a one-byte CSI on some terminals),
#: Unicode bidi controls, and lone surrogates (which cannot even be encoded for the terminal).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\r": "\\r", "\x1b": "\\x1b", "\x07": "\\x07", "\x08": "\\x08", "\x0b": "\\x0b", "\x0c": "\\x0c"}


def _escape(m: re.Match[str]) -> str:
    ch = m.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """``text`` with every control character shown as an escape; ``\\r\\n`` becomes ``\\n``."""
    return _UNSAFE.sub(_escape, text.replace("\r\n", "\n"))


#: In JSON text, every character :func:`visible` escapes appears either as a JSON escape (a control
#: character inside a JSON string must be escaped; json.dumps escapes all non-ASCII by default) or
#: raw (C1, bidi). Without a match, nothing in the parsed data needs escaping. A false match
#: (``\\u001b`` written for a backslash) only costs the walk. The escape pattern starts with a
#: literal backslash, which the regex engine scans for quickly.
_UNSAFE_ESCAPE = re.compile(
    r"\\(?:[rbf]|u(?:00[01]|007[fF]|00[89]|061[cC]|200[eEfF]|202[a-eA-E]|206[6-9]|[dD][89a-fA-F]))")
_UNSAFE_RAW = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def might_need_escaping(json_text: str) -> bool:
    """False when the JSON text ``json_text`` cannot hold a string :func:`visible` would change."""
    if _UNSAFE_ESCAPE.search(json_text) is not None:
        return True
    if json_text.isascii():
        return "\x7f" in json_text  # DEL: the one raw ASCII character JSON allows in a string
    return _UNSAFE_RAW.search(json_text) is not None


def visible_data(data: Any) -> Any:
    """Parsed JSON with every string (keys too) passed through :func:`visible`."""
    return map_strings(data, visible)
