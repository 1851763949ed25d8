"""The question side of a card, decided once for every output (Anki, the HTML page, the terminal quiz).

What a learner sees before answering is the same everywhere:

* the question text, the ``setup`` ("Given") and the code;
* for a cloze card, the code with its one blank (:func:`cloze_span`: the first occurrence of the
  card's ``cloze`` text in the shown code) and the verified result the blank must produce
  (:func:`given_result`: "so that `c` gets the shape shown" shows the shape);
* for a multiple-choice card, the options labelled ``1``, ``2``, ... (:func:`option_label`), which is
  also what a learner types to pick one.

Each output draws the blank its own way (Anki's ``{{c1::...}}``, a slot in the page, :data:`BLANK`
in the terminal), but always at the place :func:`cloze_span` gives.

The answer side ends with the card's source as :func:`source_line` writes it: each note file the
sources table knows as "TITLE § SECTION (FILE)", anything else as written.

Long error answers are shown as the exception type and the line that matters
(:func:`summarize_error`), with the full message available on request in every output.

This module imports nothing but the model and ``generator.sources`` (how ``source`` is split):
the terminal quiz uses it without loading the renderers.
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.model import Answer, BuiltCard, Card
from generator.sources import split_source

#: How the terminal writes a cloze blank (the page and Anki draw their own slot at the same place).
BLANK = "____"

#: A message line longer than this is cut at its first sentence end; the full text is folded away.
ERROR_SUMMARY_CHARS = 120

#: What every output's answer side calls a cloze card's ``cloze_equivalents``: other fillings of the
#: blank that the build verified to give the same result (the HTML page's quiz.js writes the same).
ALSO_RIGHT = "Also right"

#: The label above a cloze card's given result, by the kind of live answer.
RESULT_LABELS = {"error": "Raises", "output": "Prints"}
DEFAULT_RESULT_LABEL = "Result"


def source_line(card: Card) -> str:
    """The card's ``source`` as every output shows it: note files by title, section and file name."""
    titles = dict(card.source_titles)
    shown = []
    for part in split_source(card.source):
        title = titles.get(part.file)
        if title is None:
            shown.append(part.text)
        elif part.section:
            shown.append(f"{title} § {part.section} ({part.file})")
        else:
            shown.append(f"{title} ({part.file})")
    return "; ".join(shown)


def shown_code(code: str) -> str:
    """A snippet as every output shows it: trailing whitespace and blank lines dropped."""
    return code.rstrip()


def cloze_span(code: str, cloze: str | None) -> tuple[int, int] | None:
    """Where the blank is in :func:`shown_code` of ``code``: the first occurrence of ``cloze``."""
    if not cloze:
        return None
    start = shown_code(code).find(cloze)
    if start < 0:
        return None
    return start, start + len(cloze)


def blanked(code: str, cloze: str | None, blank: str = BLANK) -> str:
    """The shown code with the cloze replaced by ``blank`` (unchanged when there is no blank)."""
    text = shown_code(code)
    span = cloze_span(code, cloze)
    if span is None:
        return text
    return text[: span[0]] + blank + text[span[1] :]


def is_cloze(bc: BuiltCard) -> bool:
    """A cloze card whose blank is in its code (a card with status ``ok`` always is)."""
    return bc.card.kind == "cloze" and cloze_span(bc.card.code, bc.card.cloze) is not None


def option_label(index: int) -> str:
    """The label of the option at 0-based ``index``: ``1``, ``2``, ... (what a learner types)."""
    return str(index + 1)


@dataclass(frozen=True)
class ErrorSummary:
    """An error answer as shown: ``head`` (type and the line that matters) and the ``full`` text."""

    head: str
    full: str

    @property
    def folded(self) -> bool:
        """True when ``full`` says more than ``head`` (the outputs then offer it folded)."""
        return self.head != self.full


def summarize_error(answer: Answer) -> ErrorSummary:
    """The exception type and the line that matters: the message's first line, cut at a sentence end
    when long, and the line after it when the first one only introduces it (ends with ``:``).

    ``torch.load``'s 1,000-character ``UnpicklingError`` becomes
    ``UnpicklingError: Weights only load failed.``; a short one-line error is left as it is.
    """
    full = answer.text.strip()
    lines = [ln.strip() for ln in full.splitlines() if ln.strip()]
    if not lines:
        return ErrorSummary(full, full)
    prefix = f"{answer.exception}: " if answer.exception and lines[0].startswith(f"{answer.exception}:") else ""
    head = prefix + _first_sentence(lines[0][len(prefix) :])
    if lines[0].endswith(":") and len(lines) > 1:
        # "Error(s) in loading state_dict for Linear:" says little; the next line is the point
        head += " " + _first_sentence(lines[1].lstrip("*-• ").strip())
    if head == full:
        return ErrorSummary(full, full)
    return ErrorSummary(head, full)


def _first_sentence(line: str) -> str:
    """``line`` when short, else up to its first sentence end (or a word boundary, marked ``…``)."""
    if len(line) <= ERROR_SUMMARY_CHARS:
        return line
    ends = [at + 1 for mark in (". ", "? ", "! ", "; ") if 0 < (at := line.find(mark)) < ERROR_SUMMARY_CHARS]
    if ends:
        return line[: min(ends)].rstrip(";").rstrip()
    room = line[:ERROR_SUMMARY_CHARS]
    return (room.rsplit(" ", 1)[0] if " " in room else room) + " …"


def answer_headline(answer: Answer) -> str:
    """The answer as first shown: an error summarised, anything else as its text."""
    if answer.type == "error":
        return summarize_error(answer).head
    return answer.text.rstrip("\n")


@dataclass(frozen=True)
class GivenResult:
    """What a cloze card shows with its blank: the verified result the blank must produce."""

    label: str  # "Result", "Raises" or "Prints"
    text: str  # the live answer (an error summarised)


def given_result(bc: BuiltCard) -> GivenResult | None:
    """A cloze card's given result, or what an exercise's code is checked on (None for other cards,
    or a cloze card without an answer)."""
    if bc.card.kind == "exercise":
        if bc.card.raises:
            return GivenResult("Your code must raise", bc.card.raises)
        return GivenResult("Compared with the solution's", (bc.card.answer or "").strip())
    if not is_cloze(bc) or bc.answer is None:
        return None
    label = RESULT_LABELS.get(bc.answer.type, DEFAULT_RESULT_LABEL)
    return GivenResult(label, answer_headline(bc.answer))


@dataclass(frozen=True)
class QuestionSide:
    """Everything a learner is shown before answering, as plain text."""

    question: str
    setup: str
    code: str  # with :data:`BLANK` at a cloze card's blank
    given: GivenResult | None
    options: tuple[tuple[str, str], ...]  # (label, text) of a multiple-choice card


def question_side(bc: BuiltCard) -> QuestionSide:
    c = bc.card
    options: tuple[tuple[str, str], ...] = ()
    if c.kind == "choice":
        options = tuple((option_label(i), o.text.rstrip("\n")) for i, o in enumerate(bc.options))
    return QuestionSide(
        question=c.question.strip(),
        setup=shown_code(c.setup),
        code=blanked(c.code, c.cloze) if is_cloze(bc) else shown_code(c.code),
        given=given_result(bc),
        options=options,
    )


def exercise_results(bc: BuiltCard) -> tuple[tuple[str, str], ...]:
    """An exercise's inputs and the solution's live result on each, as ``(setup, result)``: the card's
    setup first, then each variant (what Anki and the HTML page show to compare by eye)."""
    if bc.card.kind != "exercise" or bc.answer is None:
        return ()
    inputs = (bc.card.setup, *bc.card.variants)
    answers = (bc.answer, *bc.variant_answers)
    return tuple((shown_code(s), answer_headline(a)) for s, a in zip(inputs, answers, strict=False))


def accepted_forms(kind: str, answer: Answer) -> tuple[str, ...]:
    """Ways of writing a shape or dtype answer that every output counts as right (see grading.py).

    Anki cannot grade leniently, so its shape and dtype cards are self-graded and list these on the
    answer side; the HTML page and the terminal accept any of them when typed.
    """
    from generator.grading import DTYPE_ALIASES

    if kind == "shape" and answer.shape is not None:
        dims = [str(d) for d in answer.shape]
        if not dims:
            return ("()", "torch.Size([])")
        return ("x".join(dims), "(" + ", ".join(dims) + (",)" if len(dims) == 1 else ")"),
                "torch.Size([" + ", ".join(dims) + "])")
    if kind == "dtype" and answer.dtype:
        name = answer.dtype.removeprefix("torch.")
        aliases = [a for a, target in DTYPE_ALIASES.items() if target == name and a != name]
        return (name, f"torch.{name}", *aliases)
    return ()
