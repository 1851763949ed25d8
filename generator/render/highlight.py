"""Build-time syntax highlighting (pygments): no JavaScript and no network needed to show code."""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import re
from pathlib import Path
from typing import Any

from markupsafe import Markup

_memo: dict[str, tuple[tuple[str, str], ...]] = {}
_memo_dirty = False


def _css_class(ttype: Any) -> str:
    """The CSS class pygments' HtmlFormatter gives a token type (``""`` for plain text)."""
    from pygments.token import STANDARD_TYPES

    suffix = ""
    while ttype not in STANDARD_TYPES:
        suffix = ttype[-1] + suffix
        ttype = ttype.parent
    return STANDARD_TYPES[ttype] + suffix if STANDARD_TYPES[ttype] else ""


def lex_python(code: str) -> tuple[tuple[str, str], ...]:
    """Python source -> ``(css class, text)`` tokens that together are exactly ``code``.

    The one tokenizer behind every renderer. Memoized in memory and, between builds, on disk
    (``load_memo``/``save_memo``), so a rebuild after a one-card edit lexes one snippet.
    """
    global _memo_dirty
    key = hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()
    hit = _memo.get(key)
    if hit is not None and "".join(t for _, t in hit) != code:
        hit = None  # a memo entry that does not spell this code is never trusted
    if hit is None:
        from pygments.lexers import PythonLexer

        lexer = PythonLexer(stripnl=False, ensurenl=False)
        hit = tuple((_css_class(t), v) for _, t, v in lexer.get_tokens_unprocessed(code))
        _memo[key] = hit
        _memo_dirty = True
    return hit


_memo_loaded: set[Path] = set()


def load_memo(path: Path) -> None:
    """Add the tokens saved by earlier builds (once per path and process)."""
    if path in _memo_loaded:
        return
    _memo_loaded.add(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # missing or unreadable: lex again (and rewrite it)
    _memo.update(_valid_memo(data))


_CLASS_RE = re.compile(r"[A-Za-z0-9_-]*")


def _valid_memo(data: Any) -> dict[str, tuple[tuple[str, str], ...]]:
    """The entries of a memo file that have the right shape; nothing from a file of another shape
    or pygments version. A token's class must be a plain class name (it lands in an attribute)."""
    if not isinstance(data, dict) or data.get("pygments") != _pygments_version():
        return {}
    tokens = data.get("tokens")
    if not isinstance(tokens, dict):
        return {}
    out: dict[str, tuple[tuple[str, str], ...]] = {}
    for k, v in tokens.items():
        if not isinstance(v, list):
            continue
        pairs = [tuple(p) for p in v if isinstance(p, list) and len(p) == 2
                 and all(isinstance(x, str) for x in p) and _CLASS_RE.fullmatch(p[0])]
        if len(pairs) == len(v):
            out[k] = tuple((c, t) for c, t in pairs)
    return out


def save_memo(path: Path) -> None:
    global _memo_dirty
    if not _memo_dirty:
        return
    from generator import atomic

    with contextlib.suppress(OSError):  # only a speed-up: a build never fails for it
        atomic.write_text(path, json.dumps({"pygments": _pygments_version(), "tokens": _memo}))
        _memo_dirty = False


def _pygments_version() -> str:
    import pygments

    return str(pygments.__version__)


def highlight_python(code: str) -> Markup:
    """Python source -> ``<div class="tnq-code"><pre>...</pre></div>`` with token classes (escaped)."""
    code = code.rstrip("\n")
    if not code.strip():
        return Markup("")
    spans = "".join(f'<span class="{c}">{html.escape(t, quote=False)}</span>' if c else html.escape(t, quote=False)
                    for c, t in lex_python(code))
    return Markup(f'<div class="tnq-code"><pre>{spans}</pre></div>')


def highlight_css(
    style: str = "default",
    dark_style: str = "monokai",
    *,
    dark_selectors: tuple[str, ...] = (".nightMode",),
    media: bool = True,
) -> str:
    """CSS for the token classes: a light style, and a dark one under ``.nightMode``/dark schemes.

    ``dark_selectors`` are the ancestor classes that switch to the dark style (Anki desktop and
    AnkiMobile use ``.nightMode``, older AnkiDroid ``.night_mode``); ``media=False`` leaves out the
    ``prefers-color-scheme`` block (Anki decides night mode itself, whatever the OS says).
    """
    from pygments.formatters import HtmlFormatter

    light = HtmlFormatter(style=style, cssclass="tnq-code").get_style_defs(".tnq-code")
    dark = HtmlFormatter(style=dark_style, cssclass="tnq-code").get_style_defs(".tnq-code")
    dark_lines = [line for line in dark.splitlines() if line.startswith(".tnq-code")]
    parts = [light]
    for selector in dark_selectors:
        parts.append("\n".join(f"{selector} {line}" for line in dark_lines))
    if media:
        parts.append("@media (prefers-color-scheme: dark) {\n" + "\n".join(dark_lines) + "\n}")
    return "\n".join(parts)


_BACKTICK = re.compile(r"`([^`]+)`")


def inline_code(text: str) -> Markup:
    """Escape ``text`` and turn `backticked` spans into ``<code>`` elements."""
    escaped = html.escape(text, quote=True)
    return Markup(_BACKTICK.sub(lambda m: f"<code>{m.group(1)}</code>", escaped))
