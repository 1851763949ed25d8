"""``tnquiz import NOTE... [--out DIR] [--json] [--device ...] [--jobs N]`` (torch-free)."""

from __future__ import annotations

from pathlib import Path

import click

SUFFIXES = (".md", ".markdown", ".txt")


@click.command("import")
@click.argument("notes", nargs=-1, required=True, type=click.Path(path_type=Path))  # files or folders
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write draft card files DIR/<note-stem>.yaml (an edited draft is never overwritten).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON document.")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="auto", show_default=True,
              help="cpu: skip every step that uses CUDA; cuda/auto: run them where a GPU is present.")
@click.option("--jobs", "-j", type=click.IntRange(1, 256), default=None,
              help="Worker processes (default: half the CPU cores).")
def import_notes_command(notes: tuple[Path, ...], out: Path | None, as_json: bool, device: str,
                         jobs: int | None) -> None:
    """Check study notes (.md, .txt; a folder: the notes in it) against PyTorch, and draft cards.

    Finds every claim a note makes about what its code gives (trailing comments, `#>` lines,
    output blocks, `Output:`/`输出：` labels, doctest sessions, pasted output), runs each note's code
    in order in one isolated session, and reports for each claim: confirmed, contradicted, random,
    error, skipped or unchecked. Exits 1 when anything is contradicted.

    \b
    Examples:
      tnquiz import notes/pytorch.md
      tnquiz import notes/*.txt --out cards/drafts/
      tnquiz import notes/pytorch.md --json > report.json
    """
    from generator.execute.runner import cuda_present
    from generator.importer.check import import_notes
    from generator.importer.report import json_report, summary_line, text_report

    problems = []
    texts: dict[Path, str] = {}
    paths: list[Path] = []
    for p in notes:  # a folder stands for the notes in it
        paths += sorted(q for q in p.rglob("*") if q.suffix.lower() in SUFFIXES and q.is_file()) if p.is_dir() else [p]
    for p in paths:
        if p.suffix.lower() not in SUFFIXES:
            problems.append(f"{p}: expected a Markdown (.md) or plain-text (.txt) note, found {p.suffix or 'no suffix'}")
            continue
        try:
            texts[p] = p.read_bytes().decode("utf-8")
        except OSError as e:
            problems.append(f"{p}: cannot read the note: {e.strerror or e}")
        except UnicodeDecodeError as e:
            problems.append(f"{p}: expected UTF-8 text, found byte {e.object[e.start]:#04x} at offset {e.start}")
    if problems:
        raise click.ClickException("\n".join(problems))
    result = import_notes(list(texts), cuda=device != "cpu" and cuda_present(), jobs=jobs, texts=texts)
    click.echo(json_report(result) if as_json else text_report(result), nl=False)
    if out is not None:
        from generator.importer.draft import write_drafts

        try:
            written = write_drafts(result, out)
        except OSError as e:
            raise click.ClickException(f"{out}: cannot write the drafts: {e.strerror or e}") from e
        for w in written:
            click.echo(f"draft: {w.message()}", err=True)
    s = result.summary()
    if s["contradicted"]:
        raise click.ClickException(summary_line(s))
