"""The Jinja2 environment shared by every renderer, with user template overrides."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

from generator.paths import templates_dir
from generator.render.highlight import highlight_python, inline_code


@lru_cache(maxsize=8)
def make_env(subdir: str, override: Path | None = None, *, autoescape: bool = True) -> jinja2.Environment:
    """Templates from ``override/subdir`` first (``tnquiz build --templates DIR``), then the bundled ones.

    One environment per process and arguments, so each template is compiled once (Jinja2 reloads
    a template whose file changed); :func:`generator.render.prepare` compiles them ahead.

    Autoescaping is on: every value that is not our own markup is HTML-escaped. Filters:
    ``highlight`` (Python code -> highlighted HTML) and ``inline_code`` (backticks -> ``<code>``).
    """
    loaders: list[jinja2.BaseLoader] = []
    if override is not None:
        loaders.append(jinja2.FileSystemLoader(str(Path(override) / subdir)))
    loaders.append(jinja2.FileSystemLoader(str(templates_dir() / subdir)))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["highlight"] = highlight_python
    env.filters["inline_code"] = inline_code
    return env
