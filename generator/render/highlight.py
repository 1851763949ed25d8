"""Build-time syntax highlighting (pygments): no JavaScript and no network needed to show code."""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from markupsafe import Markup

#: pygments styles for code: light, and dark (Anki's night mode, the page's dark scheme).
LIGHT_STYLE = "default"
DARK_STYLE = "github-dark"
#: Every token colour is at least this far from its background (WCAG AA is 4.5:1 for text).
MIN_CONTRAST = 4.6

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


def _luminance(rgb: tuple[float, float, float]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg: str, bg: str) -> float:
    """The WCAG contrast ratio of two ``#rrggbb`` colours."""
    a, b = (_luminance(_rgb(c)) for c in (fg, bg))
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


def _rgb(color: str) -> tuple[float, float, float]:
    c = color.lstrip("#")
    if len(c) == 3:
        c = "".join(ch * 2 for ch in c)
    return (int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16))


def readable(color: str, bg: str, minimum: float = MIN_CONTRAST) -> str:
    """``color``, moved toward black (on a light ``bg``) or white (on a dark one) until it reaches
    ``minimum`` contrast against ``bg``; its hue is kept."""
    target = (0.0, 0.0, 0.0) if _luminance(_rgb(bg)) > 0.18 else (255.0, 255.0, 255.0)
    rgb = _rgb(color)
    for step in range(101):
        t = step / 100
        mixed = tuple(round(c + (e - c) * t) for c, e in zip(rgb, target, strict=True))
        out = "#{:02x}{:02x}{:02x}".format(*mixed)
        if contrast(out, bg) >= minimum:
            return out
    return "#000000" if target[0] == 0 else "#ffffff"


def _token_rules(style_name: str, bg: str) -> list[str]:
    from pygments.styles import get_style_by_name
    from pygments.token import STANDARD_TYPES, Token

    style = get_style_by_name(style_name)
    base = style.style_for_token(Token)
    rules = []
    for ttype, cls in sorted(STANDARD_TYPES.items(), key=lambda kv: kv[1]):
        if not cls:
            continue
        st = style.style_for_token(ttype)
        if st == base:
            continue
        # every property spelled out: the dark rules fully replace the light ones
        color = st["color"] or base["color"]
        decl = [f"color: {readable('#' + color, bg) if color else 'inherit'}",
                f"font-weight: {'bold' if st['bold'] else 'normal'}",
                f"font-style: {'italic' if st['italic'] else 'normal'}"]
        rules.append(f".tnq-code .{cls} {{ {'; '.join(decl)} }}")
    return rules


@lru_cache(maxsize=8)
def highlight_css(light_bg: str, dark_bg: str, *, dark_selectors: tuple[str, ...] = (),
                  media: bool = True) -> str:
    """CSS for the token classes: :data:`LIGHT_STYLE` on ``light_bg`` and :data:`DARK_STYLE` on
    ``dark_bg`` (the background the code sits on: no separate code palette), each colour moved until
    it meets :data:`MIN_CONTRAST` against it.

    The dark rules apply under each of ``dark_selectors`` (Anki desktop and AnkiMobile use
    ``.nightMode``, older AnkiDroid ``.night_mode``) and, with ``media``, under
    ``prefers-color-scheme: dark`` (the HTML page; Anki decides night mode itself).
    """
    light = _token_rules(LIGHT_STYLE, light_bg)
    dark = _token_rules(DARK_STYLE, dark_bg)
    styled = {r.split(" {", 1)[0] for r in light + dark}
    # a class only one style colours is reset in the other, so no light colour leaks into dark
    light += [f"{sel} {{ color: inherit; font-weight: normal; font-style: normal }}"
              for sel in sorted(styled - {r.split(" {", 1)[0] for r in light})]
    dark += [f"{sel} {{ color: inherit; font-weight: normal; font-style: normal }}"
             for sel in sorted(styled - {r.split(" {", 1)[0] for r in dark})]
    parts = list(light)
    for selector in dark_selectors:
        parts += [f"{selector} {rule}" for rule in dark]
    if media:
        parts += ["@media (prefers-color-scheme: dark) {", *dark, "}"]
    return "\n".join(parts)



_BACKTICK = re.compile(r"`([^`]+)`")


def inline_code(text: str) -> Markup:
    """Escape ``text`` and turn `backticked` spans into ``<code>`` elements."""
    escaped = html.escape(text, quote=True)
    return Markup(_BACKTICK.sub(lambda m: f"<code>{m.group(1)}</code>", escaped))
