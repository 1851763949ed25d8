"""The ``tnquiz lint`` command (registered by ``generator.cli``). Torch-free: cards run in workers."""

from __future__ import annotations

import json
from pathlib import Path

import click

from generator.lint.names import CHECKS, CONFIG_NAME

_CHECK_LIST = "\n".join(f"  {name:<19} {what}" for name, what in CHECKS.items())


@click.command("lint", help=f"""Find cards that are right but teach badly; write nothing.

Runs every card (cached), a copy of it with every seed shifted by one, and each cloze card with
other plausible fillings of its blank (those the build records as equivalents are fine), then reports warnings as `FILE:LINE [id]: check: message`.
With no PATHS, lints the bundled deck. Exits 0 with warnings unless --strict; 1 on a card file
or config error.

\b
Checks:
{_CHECK_LIST}

A `{CONFIG_NAME}` (YAML) beside the card files silences a check for chosen cards on purpose:
`ignore: {{random: [card-id, ...], true-false: ["*"]}}`. --config names another file.

\b
Examples:
  tnquiz lint                       # the bundled deck
  tnquiz lint cards/ --strict       # exit 1 on any warning (CI)
  tnquiz lint cards/shapes.yaml --json
""")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="Exit 1 when there is any warning.")
@click.option("--json", "as_json", is_flag=True, help="Print the warnings as one JSON object on stdout.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help=f"The lint config to use (default: `{CONFIG_NAME}` beside the cards).")
@click.option("--jobs", "-j", type=click.IntRange(1, 256), default=None,
              help="Worker processes (default: half the CPU cores).")
def lint_command(paths: tuple[Path, ...], strict: bool, as_json: bool, config_path: Path | None,
                 jobs: int | None) -> None:
    from generator import api
    from generator.cli import Progress, _Error
    from generator.execute.cache import Cache
    from generator.lint.checks import config_for, lint, load_config

    config, config_problems = load_config(config_path) if config_path else config_for(list(paths))
    progress = Progress()
    try:
        result = lint(api.load(list(paths), cache=Cache()), cache=Cache(), config=config, jobs=jobs,
                      on_total=progress.start, on_done=progress.step)
    finally:
        progress.close()
    problems = [*config_problems, *result.problems]
    for p in problems:
        click.secho(f"error: {p}", fg="red", err=True)
    if as_json:
        click.echo(json.dumps({"cards": result.cards, "skipped": result.skipped, "warnings": [f.to_dict() for f in result.findings],
                               "errors": [str(p) for p in problems], "silenced": result.silenced},
                              indent=1, ensure_ascii=False))
    else:
        for f in result.findings:
            click.echo(str(f))
    by_check = ", ".join(f"{n} {c}" for c, n in sorted(
        {c: sum(1 for f in result.findings if f.check == c) for c in CHECKS}.items()) if n)
    line = (f"{result.cards} cards linted"
            + (f" ({result.skipped} skipped here: only their text was checked)" if result.skipped else "")
            + f": {len(result.findings)} warnings"
            + (f" ({by_check})" if by_check else "")
            + (f", {result.silenced} silenced by the config" if result.silenced else "")
            + f"; {result.runs} runs")
    if problems:
        raise _Error(line + f"; {len(problems)} errors", api.EXIT_INPUT)
    if strict and result.findings:
        raise click.ClickException(line + " (--strict)")
    click.echo(line, err=True)
