"""The small card files several test files build. `fixture_cache` (tests/conftest.py) runs all of
them once, in one `tnquiz check`, so that each module's own `tnquiz build` of its file is warm."""

from __future__ import annotations

# One card of every kind, in two files (two sub-decks), with hostile text: a <script> question,
# `a<b`, braces that look like Anki's {{Field}} and {{c1::cloze}} syntax, a [sound:] tag.
SHAPES_YAML = """\
deck: TnqTest::Tensors::Shapes
tags: [shapes, test]
defaults:
  source: "notes/shapes.md#cat"
cards:
  - id: t-shape
    question: What shape does `torch.cat([x, y], dim=1)` have?
    setup: "x = torch.zeros(2, 3); y = torch.zeros(2, 4)"
    code: z = torch.cat([x, y], dim=1)
    answer: z.shape
    explain: Sizes add up along `dim`; the others must match.
    tags: [cat]

  - id: t-dtype
    question: What dtype does `torch.arange(5)` have?
    code: t = torch.arange(5)
    answer: t.dtype

  - id: t-choice
    question: What is `torch.stack([x, y]).shape`?
    setup: "x = torch.zeros(2, 3); y = torch.zeros(2, 3)"
    answer: torch.stack([x, y]).shape
    choices:
      - torch.cat([x, y]).shape
      - torch.cat([x, y], dim=1).shape

  - id: t-cloze
    question: Fill in the blank so that `z` has the shape shown.
    setup: "x = torch.zeros(2, 3); y = torch.zeros(2, 4)"
    code: z = torch.cat([x, y], dim=1)
    cloze: dim=1
    answer: z.shape
"""

MISC_YAML = """\
deck: TnqTest::Misc
tags: [misc]
cards:
  - id: t-value
    question: "<script>alert('x')</script> For a<b elementwise, what is `a < b`? {{Question}} [sound:x.mp3]"
    code: |
      a = torch.tensor([1, 5])
      b = torch.tensor([3, 2])
    answer: a < b
    explain: "Comparison is elementwise: a<b gives a bool tensor. <b>not bold</b>"
    source: "https://pytorch.org/docs/stable/generated/torch.lt.html?a=1&b=2"

  - id: t-error
    question: What does `.view(-1)` on a transposed tensor raise?
    code: torch.zeros(2, 3).t().view(-1)
    raises: RuntimeError

  - id: t-output
    question: What does this print?
    code: print(torch.zeros(2, 3).size())
    output: true

  - id: t-dict-cloze
    question: "Fill in the nested dict (note the {{c1::braces}})."
    code: |
      cfg = {"opt": {"lr": 0.5}}
      lr = cfg["opt"]["lr"] * 2
    cloze: '{"lr": 0.5}}'
    answer: lr
"""


# One card of every kind for the HTML page, and one that tries to inject a <script>.
HTML_YAML = """\
deck: Test::HTML
tags: [html-test]
cards:
  - id: cat-shape
    question: What shape does `torch.cat([x, y], dim=1)` have?
    setup: "x = torch.zeros(2, 3); y = torch.zeros(2, 4)"
    code: z = torch.cat([x, y], dim=1)
    answer: z.shape
    explain: Sizes add up along `dim=1`; the other dimensions must match.
    source: "notes/shapes.md#cat"
    tags: [cat]
  - id: arange-dtype
    question: What dtype does `torch.arange(5)` have?
    code: t = torch.arange(5)
    answer: t.dtype
  - id: mean-value
    question: What is `torch.tensor([1.0, 2.0]).mean()`?
    code: m = torch.tensor([1.0, 2.0]).mean()
    answer: m
  - id: view-error
    question: What does `.view(-1)` on a transposed tensor raise?
    code: torch.zeros(2, 3).t().view(-1)
    raises: RuntimeError
    explain: The transpose is not contiguous; `.reshape` copies when it must.
  - id: print-size
    question: What does this print?
    code: print(torch.zeros(2, 3).size())
    output: true
  - id: stack-choice
    question: What is `torch.stack([x, y]).shape`?
    setup: "x = torch.zeros(2, 3); y = torch.zeros(2, 3)"
    answer: torch.stack([x, y]).shape
    choices:
      - torch.cat([x, y]).shape
      - torch.cat([x, y], dim=1).shape
  - id: cat-cloze
    question: Fill in the blank so that `z` has the shape shown.
    setup: "x = torch.zeros(2, 3); y = torch.zeros(2, 4)"
    code: z = torch.cat([x, y], dim=1)
    cloze: dim=1
    answer: z.shape
  - id: script-injection
    question: "Does <script>window.__pwned = 1</script> run? </script><b id=injected>bold</b>"
    code: print("<script>window.__pwned = 2</script>")
    output: true
    explain: "Card text stays text: <img src=x onerror=window.__pwned=3>"
    tags: [xss]
"""


# The terminal quiz, end to end.
E2E_YAML = """\
deck: Quiz::E2E
tags: [e2e]
cards:
  - id: q-shape
    question: What is the shape of `torch.squeeze(a, 1)`?
    setup: a = torch.rand(1, 1, 2, 3)
    code: b = torch.squeeze(a, 1)
    answer: b.shape
    explain: Only a dimension of size 1 is removed.
    source: notes.md#squeeze
  - id: q-dtype
    question: What dtype does `torch.arange(5)` have?
    code: t = torch.arange(5)
    answer: t.dtype
  - id: q-error
    question: What does `.view(-1)` on a transposed tensor raise?
    code: torch.zeros(2, 3).t().view(-1)
    raises: RuntimeError
"""


# One cloze card whose blank has an equivalent filling (`dim=-1`), for the terminal quiz.
E2E_CLOZE_YAML = """\
deck: Quiz::Cloze
cards:
  - id: q-cloze
    question: Fill in the blank so that `z` has the shape shown.
    setup: x = torch.zeros(2, 3); y = torch.zeros(2, 4)
    code: z = torch.cat([x, y], dim=1)
    cloze: dim=1
    answer: z.shape
"""

# Exercises in the terminal quiz, end to end.
EXERCISE_YAML = """\
deck: Quiz::Exercises
cards:
  - id: ex-hwc
    question: Turn the image batch `x` (N, H, W, C) into `y` (N, C, H, W).
    setup: x = torch.rand(2, 4, 5, 3)
    solution: y = x.permute(0, 3, 1, 2)
    answer: y
    timeout: 2
    variants:
      - x = torch.rand(1, 2, 2, 1)
      - x = torch.rand(3, 7, 1, 4)
    hint: permute takes the new order of the old dimensions.
  - id: ex-col
    question: Make `y`, the last column of `x`, as a 1-D tensor.
    setup: x = torch.arange(6).reshape(2, 3)
    solution: y = x[:, -1]
    answer: y
    timeout: 2
    variants:
      - x = torch.arange(12).reshape(4, 3)
"""


# name -> text of every file above: all run in one `tnquiz check` (their card ids differ).
FIXTURE_DECKS = {"shapes.yaml": SHAPES_YAML, "misc.yaml": MISC_YAML, "html.yaml": HTML_YAML,
                 "e2e.yaml": E2E_YAML, "e2e-cloze.yaml": E2E_CLOZE_YAML,
                 "exercises.yaml": EXERCISE_YAML}
