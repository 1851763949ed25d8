"""The ``tnquiz`` command line: a thin layer over the pipeline stages."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click

from generator import __version__
from generator.execute.cache import Cache
from generator.model import BuiltCard

PATHS = click.argument("paths", nargs=-1, type=click.Path(path_type=Path))


def _cache(no_cache: bool = False) -> Cache:
    return Cache(enabled=not no_cache)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="tnquiz")
def main() -> None:
    """tnquiz: PyTorch flashcards whose every answer is verified by running it.

    \b
    Examples:
      tnquiz build                  # the bundled deck -> build/
      tnquiz check cards/my.yaml    # are my cards' claims still true?
      tnquiz quiz                   # review due cards in the terminal
    """


def _report_problems(problems: Any) -> None:
    for p in problems:
        click.secho(f"error: {p}", fg="red", err=True)


class _Progress:
    """A progress bar on a terminal; silent otherwise."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.done = 0

    def total(self, n: int) -> None:
        if sys.stderr.isatty() and n:
            self.bar = click.progressbar(length=n, label="running cards", file=sys.stderr,
                                         show_pos=True, item_show_func=lambda x: x)
            self.bar.__enter__()

    def step(self, outcome: Any) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1, outcome.card.id)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _run(paths: tuple[Path, ...], device: str | None, jobs: int | None, no_cache: bool,
         on_workers: Any = None) -> Any:
    from generator.pipeline import build

    progress = _Progress()
    try:
        return build(list(paths), cache=_cache(no_cache), device=device, jobs=jobs,
                     on_total=progress.total, on_done=progress.step, on_workers=on_workers)
    finally:
        progress.close()


def _summary(cards: tuple[BuiltCard, ...], ran: int) -> str:
    counts = Counter(c.status for c in cards)
    skipped = Counter((c.reason or "").split(":", 1)[0] for c in cards if c.status == "skipped")
    parts = [f"{counts['ok']} ok"]
    if counts["skipped"]:
        parts.append(f"{counts['skipped']} skipped (" + ", ".join(f"{k}: {v}" for k, v in sorted(skipped.items())) + ")")
    parts.append(f"{counts['failed']} failed")
    return f"{len(cards)} cards: " + ", ".join(parts) + f"; {ran} run, {sum(c.cached for c in cards)} from cache"


DEVICE = click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default=None,
                      help="Run every card on this device (default: each card's own `device`).")
JOBS = click.option("--jobs", "-j", type=click.IntRange(1, 256), default=None,
                    help="Worker processes (default: half the CPU cores; each keeps about two busy).")
NO_CACHE = click.option("--no-cache", is_flag=True, help="Run every card again; do not read or write the cache.")


@main.command()
@PATHS
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), default=Path("build"),
              show_default=True, help="Where to write tnquiz.apkg, quiz.html and cards.json.")
@DEVICE
@JOBS
@NO_CACHE
@click.option("--templates", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A folder whose anki/ and html/ templates override the bundled ones.")
@click.option("--split", is_flag=True, help="Also write one .apkg per top-level deck.")
def build(paths: tuple[Path, ...], out: Path, device: str | None, jobs: int | None, no_cache: bool,
          templates: Path | None, split: bool) -> None:
    """Run every card and write the Anki deck, the HTML quiz and cards.json.

    With no PATHS, builds the bundled deck. PATHS are YAML card files or folders of them.

    \b
    Examples:
      tnquiz build                          # bundled deck -> build/
      tnquiz build cards/ my-cards.yaml -o out/
      tnquiz build --device cuda --jobs 4   # run on the GPU
      tnquiz build --no-cache               # run everything again
    """
    from generator.render import prepare, render_all

    result = _run(paths, device, jobs, no_cache, on_workers=prepare)  # renderers load meanwhile
    _report_problems(result.problems)

    try:
        written = render_all(result.deck, out, templates=templates, split=split)
    except OSError as e:
        raise click.ClickException(f"{out}: cannot write the outputs: {e.strerror or e}") from e
    for c in result.failed:
        click.secho(f"failed: {c.reason}", fg="red", err=True)
    for c in result.cards:
        for p in c.problems:
            click.secho(f"warning: {p}", fg="yellow", err=True)
    click.echo(_summary(result.cards, result.ran), err=True)
    if written:
        click.echo("wrote " + ", ".join(str(p) for p in written), err=True)
    else:
        click.echo(f"{out}/ is up to date", err=True)
    if result.failed or result.problems:
        raise SystemExit(1)


@main.command()
@PATHS
@DEVICE
@JOBS
@NO_CACHE
def check(paths: tuple[Path, ...], device: str | None, jobs: int | None, no_cache: bool) -> None:
    """Run the cards and report every claim PyTorch contradicts; write nothing.

    Reports, doctest-style, every `expect` that the live answer contradicts, every `raises` that
    did not raise, every unexpected exception, crash and timeout, and every format error.
    Exits 1 on any.

    \b
    Examples:
      tnquiz check                      # the bundled deck
      tnquiz check cards/shapes.yaml
    """
    result = _run(paths, device, jobs, no_cache)
    failures = [str(p) for p in result.problems]
    for c in result.cards:
        if c.status == "failed":
            failures.append(c.reason or f"{c.card.location} [{c.id}]: failed")
        failures.extend(c.problems)
    for f in failures:
        click.echo(f + "\n" + "-" * 70)
    counts = Counter(c.status for c in result.cards)
    line = (f"{len(result.cards)} cards checked: {counts['ok']} ok, {counts['skipped']} skipped, "
            f"{len(failures)} problems")
    if failures:
        raise click.ClickException(line)
    click.echo(line)


@main.command("list")
@PATHS
@click.option("--deck", default=None, help="Only cards in this deck (or its sub-decks).")
@click.option("--tag", default=None, help="Only cards with this tag.")
def list_(paths: tuple[Path, ...], deck: str | None, tag: str | None) -> None:
    """List the cards with their kind, deck and status (from the cache; runs nothing).

    \b
    Examples:
      tnquiz list
      tnquiz list --deck PyTorch::Tensors --tag squeeze
    """
    from generator.execute.runner import lookup
    from generator.pipeline import load_paths
    from generator.verify import verify

    loaded = load_paths(list(paths))
    _report_problems(loaded.problems)
    cache = _cache()
    rows = []
    for card in loaded.cards:
        if deck and not (card.deck == deck or card.deck.startswith(deck + "::")):
            continue
        if tag and tag not in card.tags:
            continue
        known = lookup(card, cache)
        if known is None:
            status, kind = "not run", card.kind or "?"
        else:
            built = verify(known)
            status, kind = built.status, built.card.kind
        rows.append((card.id, kind, card.deck, status))
    if not rows:
        click.echo("no cards match", err=True)
        return
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        click.echo(f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]}")


@main.group()
def cache() -> None:
    """Inspect or clear the result cache (TNQUIZ_CACHE_DIR moves it).

    \b
    Examples:
      tnquiz cache info
      tnquiz cache clear
    """


@cache.command("info")
def cache_info() -> None:
    """Where the cache is, and how many results it holds."""
    c = _cache()
    n, size = c.stats() if c.root.exists() else (0, 0)
    click.echo(f"{c.root}: {n} results, {size / 1024:.0f} KiB")


@cache.command("clear")
def cache_clear() -> None:
    """Delete every cached result (the next build runs every card)."""
    c = _cache()
    click.echo(f"removed {c.clear()} results from {c.root}")


def _register_quiz() -> None:
    from generator.quiz.cli import quiz, stats  # torch-free, like everything here

    main.add_command(quiz)
    main.add_command(stats)


_register_quiz()


def _register_lint() -> None:
    from generator.lint.cli import lint_command  # torch-free: cards run in workers

    main.add_command(lint_command)


_register_lint()


def _register_import() -> None:
    from generator.importer.cli import import_notes_command  # torch-free, like everything here

    main.add_command(import_notes_command)


_register_import()
