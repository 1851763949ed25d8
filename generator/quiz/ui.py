"""The terminal side of ``tnquiz quiz``: rich rendering and line-based prompts.

Everything the learner types goes through ``ask`` (a function, so tests can script it); the current time
comes from ``clock``. Keys at the answer prompt: an answer, Enter (show the answer), ``s`` skip, ``u``
undo the last rating (the card just rated is asked again), ``q`` quit, ``?`` help. At the rating
prompt: ``1``-``4``, Enter (accept the proposed rating), ``s``, ``u`` (take back the answer just
given: nothing was saved, the same card is asked again), ``q``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime

from rich.console import Console
from rich.padding import Padding
from rich.syntax import Syntax
from rich.text import Text

from generator.model import BuiltCard, Graded
from generator.quiz.scheduler import RATINGS, Rating, format_interval
from generator.quiz.session import Counts, Item, Reveal, Session, Summary, is_self_graded
from generator.quiz.store import StoreError
from generator.render.question import (
    ALSO_RIGHT,
    option_label,
    question_side,
    source_line,
    summarize_error,
)

CODE_STYLE = "bold cyan"
HELP = ("Type your answer and press Enter (Enter alone shows the answer).  "
        "s: skip  u: undo your last rating (that card is asked again)  q: quit  ?: this help")
RATING_HELP = ("1-4: rate (Enter accepts the proposed one)  s: skip  "
               "u: take back this answer (nothing saved; asked again)  m: the full error message  q: quit")

PROMPTS = {
    "shape": "Shape? (e.g. 2x3)",
    "dtype": "dtype?",
    "error": "Which exception?",
    "value": "Value?",
    "output": "What does it print?",
    "choice": "Option number?",
    "cloze": "What goes in the blank?",
}
EXERCISE_HELP = ("Type your code (several lines if you like); Enter on an empty line runs it, Enter alone "
                 "shows the solution; Esc then Enter, or Ctrl-C, cancels what you typed.")
CODE_PROMPT = "code> "
MORE_PROMPT = " ...> "

COMMANDS = ("q", "s", "u", "?", "help")

_BACKTICK = re.compile(r"`([^`]+)`")


def inline(text: str, style: str = "") -> Text:
    """Plain text (never parsed as rich markup) with `backticked` spans styled as code."""
    out = Text(style=style)
    pos = 0
    for m in _BACKTICK.finditer(text):
        out.append(text[pos : m.start()])
        out.append(m.group(1), style=CODE_STYLE)
        pos = m.end()
    out.append(text[pos:])
    return out


def code_block(code: str) -> Syntax:
    return Syntax(code.rstrip("\n"), "python", theme="ansi_dark", background_color="default",
                  word_wrap=True)


def status_line(counts: Counts) -> Text:
    """``Due 0 now, 1 in 10m · New 2 · Done 1``: a card rated Good on first sight comes back in 10
    minutes (learn-ahead), so it is counted as due later, not now."""
    t = Text()
    t.append(f"Due {counts.due_now}", style="bold red" if counts.due_now else "dim")
    if counts.due_later and counts.next_later is not None:
        t.append(" now, ", style="bold red" if counts.due_now else "dim")
        t.append(f"{counts.due_later} in {format_interval(counts.next_later)}", style="yellow")
    t.append(" · ")
    t.append(f"New {counts.new}", style="bold blue" if counts.new else "dim")
    t.append(" · ")
    t.append(f"Done {counts.done}", style="bold green")
    return t


def render_question(console: Console, item: Item, counts: Counts) -> None:
    c = item.card.card
    head = status_line(counts)
    head.append(f"   {c.deck}  [{c.id}]", style="dim")
    console.rule(style="dim")
    console.print(head)
    if item.answer_changed:
        console.print(Text("! the verified answer changed since your last review", style="bold yellow"))
    console.print()
    side = question_side(item.card)  # the same question side as Anki and the HTML page
    console.print(inline(side.question, style="bold"))
    if side.setup:  # what the question is about: shown as context, dimmed
        console.print()
        console.print(Text("  Given:", style="dim"))
        console.print(Padding(code_block(side.setup), (0, 0, 0, 2)), style="dim")
    if side.code:
        console.print()
        console.print(Padding(code_block(side.code), (0, 0, 0, 2)))
    if side.given is not None:
        console.print(Text.assemble((f"  {side.given.label}: ", "bold"), (side.given.text, CODE_STYLE)))
    if side.options:
        console.print()
        for label, text in side.options:
            console.print(Text.assemble(f"  {label}. ", (text, CODE_STYLE)))
    console.print()


def answer_prompt(item: Item) -> Text:
    if is_self_graded(item.card):
        return Text("Think of the answer, then press Enter (or type it): ", style="bold")
    return Text(PROMPTS.get(item.card.card.kind, "Answer?") + " ", style="bold")


def render_reveal(console: Console, reveal: Reveal) -> None:
    card = reveal.item.card
    c = card.card
    console.print()
    if c.kind == "exercise":
        _render_exercise(console, reveal)
        return
    v = reveal.verdict
    if v is not None:
        if v.correct:
            console.print(Text("✓ Right", style="bold green"))
        else:
            typed = reveal.typed or "(nothing)"
            console.print(Text.assemble(("✗ Wrong", "bold red"), "  you answered ", (typed, CODE_STYLE)))
    if c.kind == "choice":
        for n, opt in enumerate(card.options):
            mark = "✓" if opt.correct else " "
            style = "bold green" if opt.correct else "dim"
            console.print(Text.assemble(f"  {mark} {option_label(n)}. ", (opt.text, style)))
    elif c.kind == "cloze" and c.cloze is not None:
        console.print(Text.assemble(("Answer: ", "bold"), (c.cloze, "bold green")))
        if card.cloze_equivalents:  # verified at build time to give the same result
            parts: list[str | tuple[str, str]] = [(f"{ALSO_RIGHT}: ", "bold")]
            for n, text in enumerate(card.cloze_equivalents):
                parts += [" or "] if n else []
                parts.append((text, "green"))
            console.print(Text.assemble(*parts))
        console.print(Padding(code_block(c.code), (0, 0, 0, 2)))
        if card.answer is not None:
            console.print(Text.assemble(("Result: ", "dim"), card.answer.text))
    elif card.answer is not None and card.answer.type == "error":
        summary = summarize_error(card.answer)  # the same summary as Anki and the HTML page
        console.print(Text.assemble(("Answer: ", "bold"), (summary.head, "bold green")))
        if summary.folded:
            console.print(Text("(m at the rating prompt: the full message)", style="dim"))
    elif card.answer is not None:
        text = card.answer.text
        if "\n" in text.rstrip("\n"):
            console.print(Text("Answer:", style="bold"))
            console.print(Padding(Text(text.rstrip("\n"), style="green"), (0, 0, 0, 2)))
        else:
            console.print(Text.assemble(("Answer: ", "bold"), (text, "bold green")))
    _render_tail(console, reveal)


def _render_tail(console: Console, reveal: Reveal) -> None:
    """What every answer side ends with: a changed answer, the explanation, the source, the ratings."""
    c = reveal.item.card.card
    if reveal.item.answer_changed:
        console.print(Text("! the verified answer changed since your last review", style="bold yellow"))
    if c.explain.strip():
        console.print()
        console.print(inline(c.explain.strip()))
    if c.source.strip():
        console.print(Text(f"Source: {source_line(c)}", style="dim"))
    console.print()
    console.print(rating_line(reveal))


def _render_exercise(console: Console, reveal: Reveal) -> None:
    """The verdict like a test failure (what differed, on which input), then the solution and hint."""
    c = reveal.item.card.card
    v = reveal.verdict
    if v is not None and v.correct:
        console.print(Text.assemble(("✓ Right", "bold green"), "  ", reveal.feedback or ""))
    elif v is not None:
        console.print(Text.assemble(("✗ Wrong", "bold red"), "  ", reveal.feedback or ""))
    elif reveal.feedback:
        console.print(Text.assemble(("! Not graded", "bold yellow"), "  ", reveal.feedback))
    console.print(Text("Solution:", style="bold"))
    console.print(Padding(code_block(c.solution), (0, 0, 0, 2)))
    if c.hint.strip():
        console.print(inline(f"Hint: {c.hint.strip()}", style="dim"))
    _render_tail(console, reveal)


def rating_line(reveal: Reveal) -> Text:
    """``1: Again (1m)  2: Hard (6m)  3: Good (10m)  4: Easy (8d)`` with the proposed one bold."""
    t = Text()
    for k, r in enumerate(RATINGS):
        o = reveal.outcomes[r]
        if k:
            t.append("  ")
        style = "bold reverse" if r == reveal.proposed else ""
        t.append(f"{int(r)}: {o.name} ({format_interval(o.interval)})", style=style)
    return t


def rating_prompt(reveal: Reveal) -> Text:
    if reveal.proposed is None:
        return Text("Did you get it? 1-4: ", style="bold")
    return Text(f"Rating [Enter = {int(reveal.proposed)} {reveal.proposed.name}]: ", style="bold")


def render_summary(console: Console, summary: Summary, session: Session, now: datetime) -> None:
    c = session.counts(now)
    due, new = c.due_now + c.due_later, c.new
    console.rule(style="dim")
    parts = [f"Reviewed {summary.rated} card{'s' if summary.rated != 1 else ''}"]
    graded = []
    if summary.right or summary.wrong:
        graded.append(f"{summary.right} right, {summary.wrong} wrong")
    if summary.self_graded:
        graded.append(f"{summary.self_graded} self-graded")
    if graded:
        parts.append(": " + "; ".join(graded))
    line = "".join(parts)
    if summary.skipped:
        line += f"; skipped {summary.skipped}"
    console.print(Text(line + ".", style="bold"))
    if summary.by_rating:
        console.print("  ".join(f"{name} {n}" for name, n in summary.by_rating.items()))
    console.print(f"Left in this session: {due} due, {new} new.")


class _Quit(Exception):
    pass


def run(session: Session, console: Console, *, clock: Callable[[], datetime],
        ask: Callable[[Text], str] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        grade: Callable[[BuiltCard, str], Graded] | None = None) -> Summary:
    """Quiz until the queue is empty or the learner quits; prints and returns the summary.
    ``grade`` runs an exercise's attempt (in the worker: see ``generator.execute.runner.Grader``)."""

    def _ask(prompt: Text) -> str:
        try:
            if ask is not None:
                return ask(prompt)
            return console.input(prompt)
        except (EOFError, KeyboardInterrupt):
            console.print()
            raise _Quit() from None

    def _ask_line(prompt: Text) -> str | None:
        """One line of code; None when the learner cancels (Ctrl-C, or a line holding Esc)."""
        try:
            line = ask(prompt) if ask is not None else console.input(prompt)
        except KeyboardInterrupt:
            console.print()
            return None
        except EOFError:
            console.print()
            raise _Quit() from None
        return None if "\x1b" in line else line

    def _read(item: Item) -> str:
        """What the learner typed: a line, or for an exercise lines up to an empty one (a command
        such as `q` only alone on the first line)."""
        if item.card.card.kind != "exercise":
            return _ask(answer_prompt(item))
        while True:
            first = _ask_line(Text(CODE_PROMPT, style="bold"))
            lines: list[str] | None = [first] if first is not None else None
            while lines is not None and lines[0].strip() and lines[0].strip().lower() not in COMMANDS:
                more = _ask_line(Text(MORE_PROMPT, style="bold"))
                if more is None:
                    lines = None
                elif not more.strip():
                    break
                else:
                    lines.append(more)
            if lines is not None:
                return "\n".join(lines)
            console.print(Text("Cancelled: type your code again (Enter alone shows the solution).",
                               style="yellow"))

    def _undo() -> None:
        rated = session.undo()
        if rated is None:
            console.print(Text("Nothing to undo in this session.", style="yellow"))
        else:
            console.print(Text(f"Undid your rating {rated.rating.name} of {rated.item.id}: "
                               "it is asked again.", style="yellow"))

    try:
        while (item := session.current) is not None:
            render_question(console, item, session.counts(clock()))
            exercise = item.card.card.kind == "exercise"
            if exercise:
                console.print(Text(EXERCISE_HELP, style="dim"))
            shown = monotonic()
            typed = _read(item)
            while typed.strip().lower() in ("?", "help"):
                console.print(Text(HELP, style="dim"))
                typed = _read(item)
            cmd = typed.strip().lower()
            if cmd == "q":
                raise _Quit()
            if cmd == "s":
                session.skip()
                continue
            if cmd == "u":
                _undo()
                continue
            graded: Graded | None = None
            if exercise and typed.strip():
                console.print(Text("Running your code...", style="dim"))
                graded = grade(item.card, typed) if grade is not None else Graded(None, "no worker to run it")
            reveal = session.reveal(typed, clock(), int((monotonic() - shown) * 1000), graded=graded)
            render_reveal(console, reveal)
            while True:
                choice = _ask(rating_prompt(reveal)).strip().lower()
                rating: Rating | None = None
                if choice == "" and reveal.proposed is not None:
                    rating = reveal.proposed
                elif choice in ("1", "2", "3", "4"):
                    rating = Rating(int(choice))
                if rating is not None:
                    session.rate(reveal, rating, int((monotonic() - shown) * 1000))
                    break
                if choice == "q":
                    raise _Quit()
                if choice == "s":
                    session.skip()
                    break
                if choice == "m" and item.card.answer is not None and item.card.answer.type == "error":
                    console.print(Text("Full message:", style="bold"))
                    console.print(Padding(Text(item.card.answer.text.rstrip("\n"), style="green"),
                                          (0, 0, 0, 2)))
                    continue
                if choice == "u":  # this card is not rated yet: take back the answer, ask it again
                    console.print(Text(f"Took back your answer to {item.id} (not rated, nothing "
                                       "saved): it is asked again.", style="yellow"))
                    break
                console.print(Text(RATING_HELP, style="dim"))
        console.rule(style="dim")
        console.print(Text("Nothing more to review for now.", style="bold green"))
    except _Quit:
        pass
    except StoreError:
        render_summary(console, session.summary(), session, clock())
        raise
    summary = session.summary()
    render_summary(console, summary, session, clock())
    return summary
