"""Build-time syntax highlighting (pygments): no JavaScript and no network needed to show code."""

from __future__ import annotations

import html
import re
from functools import lru_cache

from markupsafe import Markup


@lru_cache(maxsize=4096)
def _highlight(code: str) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    return highlight(code, PythonLexer(), HtmlFormatter(cssclass="tnq-code", nowrap=False))


def highlight_python(code: str) -> Markup:
    """Python source -> ``<div class="tnq-code"><pre>...</pre></div>`` with token classes (escaped)."""
    if not code.strip():
        return Markup("")
    return Markup(_highlight(code.rstrip("\n") + "\n"))


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
