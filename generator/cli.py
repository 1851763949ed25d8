"""The ``tnquiz`` command line: it calls the library API (generator/api.py) and prints."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from generator import __version__
from generator.execute.cache import Cache
from generator.model import Outcome

if TYPE_CHECKING:  # the API loads on first use: `tnquiz quiz` never imports it
    from generator import api

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


def _fmt_seconds(s: float) -> str:
    s = max(0, round(s))
    return f"{s // 60}:{s % 60:02d}" if s >= 60 else f"{s} s"


class Progress:
    """Progress on stderr while cards run: one redrawn line on a terminal; without one (CI, a log
    file), a plain line every ``every`` seconds. The ETA is the rate of the cards run so far applied
    to those left; none before ``min_cards`` have run (cached cards cost nothing and say nothing)."""

    def __init__(self, *, tty: bool | None = None, every: float = 5.0, min_cards: int = 3,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.every = every
        self.min_cards = min_cards
        self.clock = clock
        self.total = self.done = self.ran = 0
        self.started = self.last_print = 0.0
        self.first_run: float | None = None  # when the first card that runs started (its worker too)
        self.drawn = False

    def start(self, total: int) -> None:
        self.total = total
        self.started = self.last_print = self.clock()

    def eta(self) -> float | None:
        if self.ran < self.min_cards or self.first_run is None:
            return None
        rate = self.ran / max(self.clock() - self.first_run, 1e-6)
        return (self.total - self.done) / rate

    def line(self) -> str:
        text = f"running cards: {self.done}/{self.total}"
        eta = self.eta()
        if eta is not None and self.done < self.total:
            text += f", about {_fmt_seconds(eta)} left"
        return text

    def step(self, outcome: Outcome) -> None:
        now = self.clock()
        self.done += 1
        if outcome.executed:
            if self.first_run is None:
                self.first_run = self.started
            self.ran += 1
        if self.tty:
            if now - self.last_print >= 0.1 or self.done == self.total:
                width = shutil.get_terminal_size().columns - 1  # a wrapped line cannot be redrawn
                self._draw(f"\r\x1b[K{f'{self.line()} [{outcome.card.id}]'[:width]}")
                self.drawn, self.last_print = True, now
        elif now - self.last_print >= self.every and self.done < self.total:
            click.echo(self.line(), err=True)
            self.last_print = now

    def warn(self, line: str) -> None:
        """A ``warning: ...`` line, below the progress line (drawn again with the next card)."""
        self.close()
        click.secho(line, fg="yellow", err=True)

    def close(self) -> None:
        if self.drawn:
            self._draw("\r\x1b[K")
            self.drawn = False

    @staticmethod
    def _draw(text: str) -> None:
        sys.stderr.write(text)  # not click.echo: it strips the erase code where it sees no terminal
        sys.stderr.flush()


DEVICE = click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default=None,
                      help="Run every card on this device (default: each card's own `device`). "
                           "`cuda` where there is no GPU is an error.")
JOBS = click.option("--jobs", "-j", type=click.IntRange(1, 256), default=None,
                    help="Worker processes (default: one per CPU core up to 4, and one per 32 cards to run; "
                         "with --isolation fork half the cores).")
ISOLATION = click.option("--isolation", type=click.Choice(["auto", "fork"]), default="auto", show_default=True,
                         help="fork: every card in a fresh process; auto: cards that provably leave no "
                              "trace share one (same answers, faster; see docs/isolation.md).")
NO_CACHE = click.option("--no-cache", is_flag=True, help="Run every card again; do not read or write the cache.")


def _Error(message: str, code: int) -> click.ClickException:
    """``Error: MESSAGE`` on stderr, exit ``code`` (one of api.EXIT_*)."""
    error: click.ClickException = type("Error", (click.ClickException,), {"exit_code": code})(message)
    return error


def _usage(e: ValueError) -> click.ClickException:
    from generator import api

    return _Error(str(e), api.EXIT_INPUT)


def _run_summary(report: api.Report) -> str:
    if not report.cards:
        return str(report.totals)
    return f"{report.totals}; {report.ran} run, {report.cached} from cache"


@main.command()
@PATHS
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), default=Path("build"),
              show_default=True, help="Where to write tnquiz.apkg, quiz.html and cards.json.")
@DEVICE
@JOBS
@ISOLATION
@NO_CACHE
@click.option("--templates", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A folder whose anki/ and html/ templates override the bundled ones.")
@click.option("--split", is_flag=True, help="Also write one .apkg per top-level deck.")
def build(paths: tuple[Path, ...], out: Path, device: str | None, jobs: int | None, isolation: str,
          no_cache: bool, templates: Path | None, split: bool) -> None:
    """Run every card and write the Anki deck, the HTML quiz and cards.json.

    With no PATHS, builds the bundled deck. PATHS are YAML card files or folders of them.
    A card that fails, or whose `expect` PyTorch contradicts, is reported and left out (exit 1).
    A card file that cannot be loaded, or a path that does not exist, writes nothing and leaves
    --out as it was (exit 2), so a typo never drops cards from a deck.

    \b
    Examples:
      tnquiz build                          # bundled deck -> build/
      tnquiz build cards/ my-cards.yaml -o out/
      tnquiz build --device auto --jobs 4   # cards on the GPU where there is one
      tnquiz build --no-cache               # run everything again
    """
    from generator import api
    from generator.render import TemplateError

    progress = Progress()
    try:
        result = api.build(paths, out, cache=_cache(no_cache), device=device, jobs=jobs,
                           templates=templates, split=split, on_total=progress.start, isolation=isolation,
                           on_done=progress.step, on_warning=progress.warn,
                           on_wait=lambda: click.echo(f"waiting for another build into {out}/ to finish", err=True))
    except (api.UsageError, TemplateError) as e:
        raise _usage(e) from e
    except OSError as e:
        raise click.ClickException(f"{out}: cannot write the outputs: {e.strerror or e}") from e
    finally:
        progress.close()
    report = result.report
    _report_problems(report.problems)
    for c in report.cards:
        if c.status in ("failed", "error"):
            label = "failed" if c.status == "failed" else "error"
            click.secho(f"{label}: {api.failure(c)}", fg="red", err=True)
        for p in c.problems:
            click.secho(f"warning: {p}", fg="yellow", err=True)
    click.echo(_run_summary(report), err=True)
    for hint in report.skipped_hints():
        click.echo(f"  skipped: {hint}", err=True)
    if not result.withheld and (out / "cards.json").exists():
        # `tnquiz quiz` with no deck studies this one
        from generator.quiz.decks import remember_deck

        remember_deck(out / "cards.json", paths)
    if result.withheld:
        click.secho(result.withheld, fg="red", err=True)
    elif result.written:
        click.echo("wrote " + ", ".join(str(p) for p in result.written), err=True)
    else:
        click.echo(f"{out}/ is up to date", err=True)
    if result.exit_code:
        raise SystemExit(result.exit_code)


@main.command()
@PATHS
@DEVICE
@JOBS
@ISOLATION
@NO_CACHE
def check(paths: tuple[Path, ...], device: str | None, jobs: int | None, isolation: str, no_cache: bool) -> None:
    """Run the cards and report every claim PyTorch contradicts; write nothing.

    Reports, doctest-style, every `expect` that the live answer contradicts, every `raises` that
    did not raise, every unexpected exception, crash and timeout, and every format error.
    Exits 1 on any card problem, 2 when a card file cannot be loaded.

    \b
    Examples:
      tnquiz check                      # the bundled deck
      tnquiz check cards/shapes.yaml
    """
    from generator import api

    progress = Progress()
    try:
        report = api.check(paths, cache=_cache(no_cache), device=device, jobs=jobs, isolation=isolation,
                           on_total=progress.start, on_done=progress.step, on_warning=progress.warn)
    except api.UsageError as e:
        raise _usage(e) from e
    finally:
        progress.close()
    for f in report.failures:
        click.echo(f + "\n" + "-" * 70)
    failures = report.failures
    line = f"{report.totals}; {api.plural(len(failures), 'problem')}"
    if not report.cards and not failures:
        line = f"no cards to check; {line}"
    if report.exit_code:
        raise _Error(line, report.exit_code)
    click.echo(line)


@main.command("list")
@PATHS
@click.option("--deck", default=None, help="Only cards in this deck or its sub-decks (case-insensitive, as in `quiz`).")
@click.option("--tag", "tags", multiple=True, help="Only cards with this tag (repeat for any of several).")
def list_(paths: tuple[Path, ...], deck: str | None, tags: tuple[str, ...]) -> None:
    """List the cards with their kind, deck and status (from the cache; runs nothing).

    \b
    Examples:
      tnquiz list
      tnquiz list --deck pytorch::tensors --tag squeeze
    """
    from generator import api

    listing = api.list_cards(paths, deck=deck, tags=tags, cache=_cache())
    _report_problems(listing.problems)
    if listing.rows:
        rows = [("ID", "KIND", "DECK", "STATUS")] + [(r.id, r.kind, r.deck, r.status) for r in listing.rows]
        w = [max(len(r[i]) for r in rows) for i in range(3)]
        for r in rows:
            click.echo(f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]}")
    elif deck or tags:
        click.echo("no cards match", err=True)
    click.echo(str(listing.totals), err=True)
    if listing.exit_code:
        raise SystemExit(listing.exit_code)


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
    from generator import api

    c = _cache()
    click.echo(f"removed {api.clear_cache(c)} results from {c.root}")


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
