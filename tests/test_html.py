"""The HTML quiz (generator/render/html.py, templates/html/): unit tests, then a real browser.

The browser tests build a small deck with the real CLI (one card of every kind, plus one that tries to
inject a <script>), open build/quiz.html from file:// in Debian's Chromium through playwright, and use
the page as a learner would. Every request that is not file:// is intercepted and fails the test.
Screenshots land in test-artifacts/html/ (git-ignored).

Without /usr/bin/chromium (or the playwright package) the browser tests skip, unless
TNQUIZ_REQUIRE_BROWSER=1 (CI), where they fail instead.
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
import os
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from generator.grading import grade
from generator.model import Answer, BuiltCard, Card, Deck, Option
from generator.render.html import (
    BLANK_TOKEN,
    code_tokens,
    content_security_policy,
    json_for_script,
    page_data,
    render_html,
    write_html,
)
from tests.conftest import no_browser
from tests.fixture_decks import HTML_YAML as SAMPLE_YAML

ROOT = Path(__file__).resolve().parents[1]
CASES_FILE = ROOT / "tests" / "data" / "grading_cases.json"
ARTIFACTS = ROOT / "test-artifacts" / "html"


ORDER = ["cat-shape", "arange-dtype", "mean-value", "view-error", "print-size", "stack-choice",
         "cat-cloze", "script-injection"]


def load_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(CASES_FILE.read_text(encoding="utf-8"))["cases"]
    return cases


def py_verdict(case: dict[str, Any]) -> dict[str, Any]:
    v = grade(case["kind"], case["answer"], case["typed"], case.get("options"), case.get("cloze"),
                    case.get("equivalents", ()))
    return {"correct": v.correct, "expected": v.expected}


# ---------------------------------------------------------------------------------------------------
# Unit tests (no browser)
# ---------------------------------------------------------------------------------------------------

def _card(cid: str, kind: str, answer: Answer, **kw: Any) -> BuiltCard:
    options = kw.pop("options", ())
    card = Card(id=cid, deck=kw.pop("deck", "T::Unit"), file="t.yaml", line=1, question=kw.pop("question", "Q?"),
                kind=kind, **kw)
    return BuiltCard(card=card, status="ok", answer=answer, options=options, torch_version="2.x", ran_on="cpu")


def hand_deck() -> Deck:
    shape = Answer(type="shape", text="torch.Size([2, 3])", shape=(2, 3))
    return Deck(
        cards=(
            _card("s", "shape", shape, code="y = x.t()", tags=("a",)),
            _card("nan", "value", Answer(type="python", text="nan", value=math.nan), code="z = float('nan')"),
            _card("inf", "value", Answer(type="tensor", text="tensor([inf, -inf])", shape=(2,),
                                         dtype="torch.float32", value=[math.inf, -math.inf])),
            _card("c", "choice", shape, options=(Option("torch.Size([2, 3])", True, "a.shape"),
                                                 Option("torch.Size([3, 2])", False, "b.shape"))),
            _card("z", "cloze", shape, code="y = torch.cat([a, b], dim=1)", cloze="dim=1"),
            _card("x", "output", Answer(type="output", text="</script><script>alert(1)</script>\n"),
                  question="</script><!-- <script>"),
            BuiltCard(card=Card(id="bad", deck="T::Unit", file="t.yaml", line=9, question="failed", kind="value"),
                      status="failed", reason="boom"),
        ),
        generator="tnquiz test",
        torch_version="2.x",
    )


def test_json_for_script_cannot_break_out() -> None:
    text = json_for_script({"q": "</script><script>alert(1)</script> & <!-- \u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"q": "</script><script>alert(1)</script> & <!-- \u2028"}


def test_json_for_script_non_finite_floats() -> None:
    text = json_for_script([math.nan, math.inf, -math.inf, 1.5])
    assert json.loads(text) == [{"$tnq:float": "nan"}, {"$tnq:float": "inf"}, {"$tnq:float": "-inf"}, 1.5]


def token_text(tokens: list[Any]) -> str:
    return "".join("<BLANK>" if t == BLANK_TOKEN else t if isinstance(t, str) else t[1] for t in tokens)


def test_code_tokens_highlight_and_blank() -> None:
    tokens = code_tokens("z = torch.cat([x, y], dim=1)  # cat\n", blank="dim=1")
    assert tokens.count(BLANK_TOKEN) == 1
    assert token_text(tokens) == "z = torch.cat([x, y], <BLANK>)  # cat"
    assert ["c1", "# cat"] in tokens  # a comment, with pygments' CSS class
    assert code_tokens("") == [] and code_tokens("   \n") == []


def test_code_tokens_keep_the_code() -> None:
    code = 'for i in range(3):\n    print(f"{i:>3}", "<b>")\n'
    tokens = code_tokens(code)
    assert token_text(tokens) == code.rstrip()


def test_page_data_only_ok_cards() -> None:
    data = page_data(hand_deck())
    assert [c["id"] for c in data["cards"]] == ["s", "nan", "inf", "c", "z", "x"]
    z = next(c for c in data["cards"] if c["id"] == "z")
    assert z["cloze"] == "dim=1" and BLANK_TOKEN in z["cz"]
    assert "also" not in z  # no equivalents recorded: nothing else is right


def test_page_data_carries_cloze_equivalents_for_grade_js() -> None:
    deck = hand_deck()
    cards = tuple(dataclasses.replace(c, cloze_equivalents=("dim=-1",)) if c.id == "z" else c for c in deck.cards)
    z = next(c for c in page_data(dataclasses.replace(deck, cards=cards))["cards"] if c["id"] == "z")
    assert z["also"] == ["dim=-1"]


def test_render_html_is_self_contained(tmp_path: Path) -> None:
    path = write_html(hand_deck(), tmp_path / "out")
    assert path == tmp_path / "out" / "quiz.html"
    page = path.read_text(encoding="utf-8")
    # no external resource of any kind
    assert not re.search(r"<(link|img|iframe|object|embed|source|audio|video)\b", page, re.I)
    assert not re.search(r"<script[^>]*\bsrc=", page, re.I)
    assert "http://" not in page and "https://" not in page
    # exactly three scripts: the data, the grader, the app; the data cannot close its element
    assert page.count("<script") == 3 and page.count("</script>") == 3
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert csp and html.unescape(csp.group(1)).startswith("default-src 'none'; script-src 'sha256-")


def test_csp_hashes_match_scripts() -> None:
    import base64
    import hashlib

    page = render_html(hand_deck())
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 2
    for s in scripts:
        digest = base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in html.unescape(page)
    assert content_security_policy(scripts=("a",), styles=()).startswith("default-src 'none'")


def test_template_override(tmp_path: Path) -> None:
    (tmp_path / "html").mkdir()
    (tmp_path / "html" / "quiz.css").write_text("body { color: rebeccapurple; } /* </style> */")
    page = render_html(hand_deck(), templates=tmp_path)
    assert "rebeccapurple" in page
    assert "/* <\\/style> */" in page  # cannot close the <style> element early


def test_html_module_does_not_import_torch() -> None:
    code = ("import sys; from generator.render.html import write_html; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ---------------------------------------------------------------------------------------------------
# Browser
# ---------------------------------------------------------------------------------------------------

def test_missing_browser_skips_or_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TNQUIZ_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception):
        no_browser("no chromium")
    monkeypatch.setenv("TNQUIZ_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="TNQUIZ_REQUIRE_BROWSER=1 but no chromium"):
        no_browser("no chromium")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, fixture_cache: Path) -> Path:
    """Build SAMPLE_YAML with the real CLI (its cards ran into fixture_cache); returns the output folder."""
    base = tmp_path_factory.mktemp("html-build")
    (base / "cards").mkdir()
    (base / "cards" / "sample.yaml").write_text(SAMPLE_YAML, encoding="utf-8")
    env = dict(os.environ, TNQUIZ_CACHE_DIR=str(fixture_cache))
    proc = subprocess.run([sys.executable, "-m", "generator", "build", str(base / "cards"), "--out",
                           str(base / "out")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cards = json.loads((base / "out" / "cards.json").read_text())["cards"]
    assert [c["id"] for c in cards] == ORDER and all(c["status"] == "ok" for c in cards), cards
    return base / "out"


class Page:
    """A browser context on the quiz page that fails on any request that is not file://."""

    def __init__(self, browser: Any, url: str, *, order: str | None = "deck", seed: int = 1,
                 **context: Any) -> None:
        """``order``: pick this order in the page first (``None``: the page's default, mixed);
        ``seed``: the page's random seed (``?seed=``), so that a mixed order is the same each run."""
        self.url = f"{url}?seed={seed}"
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.ctx = browser.new_context(**context)
        self.ctx.route(re.compile(r"^(?!file:).*"), self._block)
        self.ctx.on("request", self._seen)
        self.page = self.ctx.new_page()
        self.page.set_default_timeout(10_000)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("dialog", lambda d: d.accept())
        self.open()
        if order is not None and self.page.input_value("#f-order") != order:
            self.page.select_option("#f-order", order)

    def _block(self, route: Any) -> None:
        self.blocked.append(route.request.url)
        route.abort()

    def _seen(self, request: Any) -> None:
        if not request.url.startswith("file://"):
            self.blocked.append(request.url)

    def open(self) -> None:
        self.page.goto(self.url)
        self.page.wait_for_selector("html[data-ready]")

    def reload(self) -> None:
        self.page.reload()
        self.page.wait_for_selector("html[data-ready]")

    # what a learner does
    def card_id(self) -> str:
        return str(self.page.get_attribute("#card article", "data-id"))

    def go_to(self, card_id: str) -> None:
        for _ in range(len(ORDER) + 1):
            if self.page.locator(f'#card article[data-id="{card_id}"]').count():
                return
            self.page.click("#b-next" if self.page.locator("#b-next").count() else "#b-skip")
        raise AssertionError(f"card {card_id} never came up")

    def answer(self, typed: str) -> str:
        self.page.fill("#answer", typed)
        self.page.click("#b-check")
        return self.verdict()

    def verdict(self) -> str:
        return self.page.inner_text("#verdict")

    def progress(self) -> str:
        return self.page.inner_text("#p-text")

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.ctx.close()
        assert self.blocked == [], f"requests outside file://: {self.blocked}"
        assert self.errors == [], self.errors


@pytest.fixture
def quiz(browser: Any, built: Path) -> Iterator[Page]:
    p = Page(browser, (built / "quiz.html").as_uri(), viewport={"width": 1000, "height": 900})
    yield p
    p.close()




@pytest.mark.browser
def test_shape_card_notations_right_and_wrong(quiz: Page) -> None:
    page = quiz.page
    assert quiz.card_id() == "cat-shape"
    assert page.evaluate("document.activeElement.id") == "answer"  # ready to type
    assert quiz.answer("(2, 8)") == "✗ Not quite"
    fb = page.inner_text("#feedback")
    assert "You answered:" in fb and "(2, 8)" in fb  # what was typed
    assert "torch.Size([2, 7])" in fb  # the verified answer
    assert "Sizes add up along dim=1" in fb  # the explanation
    assert "notes/shapes.md#cat" in fb and "sample.yaml:4" in fb  # the source
    assert quiz.progress() == "1 of 8 answered, 0 correct (0%)"
    for typed in ("torch.Size([2, 7])", "(2, 7)", "[2,7]", "2x7", "2 × 7"):
        page.click("#b-reset")  # confirm() is accepted
        assert quiz.card_id() == "cat-shape"
        assert quiz.answer(typed) == "✓ Correct", typed
        assert "You answered" not in page.inner_text("#feedback")
        assert quiz.progress() == "1 of 8 answered, 1 correct (100%)"


@pytest.mark.browser
def test_each_kind_score_and_progress_kept_across_reload(quiz: Page) -> None:
    page = quiz.page
    assert quiz.answer("[2, 7]") == "✓ Correct"  # shape
    page.click("#b-next")
    assert quiz.answer("long") == "✓ Correct"  # dtype, an alias
    page.click("#b-next")
    assert quiz.answer("tensor(1.5)") == "✓ Correct"  # value, with tolerance
    page.click("#b-next")
    assert quiz.card_id() == "view-error"
    assert "What does it raise?" in page.inner_text("#card")
    assert quiz.answer("ValueError") == "✗ Not quite"
    assert "RuntimeError: view size is not compatible" in page.inner_text("#feedback")
    page.click("#b-next")
    assert quiz.answer("torch.Size([2,3])") == "✓ Correct"  # output, whitespace ignored
    page.click("#b-next")
    assert quiz.card_id() == "stack-choice"
    options = page.locator(".choice pre.opt").all_inner_texts()
    assert sorted(options) == ["torch.Size([2, 2, 3])", "torch.Size([2, 6])", "torch.Size([4, 3])"]
    page.click(f"label[for=opt-{options.index('torch.Size([2, 2, 3])') + 1}]")
    page.click("#b-check")
    assert quiz.verdict() == "✓ Correct"
    assert "torch.cat([x, y]).shape → torch.Size([4, 3])" in page.inner_text("#feedback")
    page.click("#b-next")
    assert quiz.card_id() == "cat-cloze"
    assert page.locator("#card .blank").count() == 1
    assert "dim=1" not in page.inner_text("#card .tnq-code")  # the blank hides it
    assert quiz.answer("dim = 1") == "✓ Correct"
    assert page.inner_text("#card mark.filled") == "dim=1"
    assert quiz.progress() == "7 of 8 answered, 6 correct (86%)"

    quiz.reload()
    assert quiz.progress() == "7 of 8 answered, 6 correct (86%)"
    assert quiz.card_id() == "cat-cloze" and quiz.verdict() == "✓ Correct"  # where we were
    assert page.inner_text("#b-retry") == "Retry missed (1)"
    page.click("#b-next")
    page.click("#b-show")  # the last one: give up
    assert quiz.verdict() == "Answer"
    page.click("#b-next")
    assert page.inner_text("#card h2") == "Done: 6 of 8 correct"
    page.click("#b-done-first")  # retry the 2 missed
    assert quiz.progress().startswith("Retrying missed cards: 0 of 2 answered")
    assert quiz.card_id() == "view-error"
    assert quiz.answer("RuntimeError: view size is not compatible") == "✓ Correct"
    page.click("#b-next")
    assert quiz.card_id() == "script-injection"
    quiz.reload()  # the retry session is kept too
    assert quiz.progress() == "Retrying missed cards: 1 of 2 answered, 1 correct (100%)"
    page.click("#b-all")
    assert quiz.progress() == "7 of 8 answered, 7 correct (100%)"
    page.click("#b-reset")
    assert quiz.progress() == "0 of 8 answered, 0 correct"
    quiz.reload()
    assert quiz.progress() == "0 of 8 answered, 0 correct" and quiz.card_id() == "cat-shape"


@pytest.mark.browser
def test_cloze_equivalent_verified_at_build_time_is_right(quiz: Page, built: Path) -> None:
    """`dim=-1` gives the same shape as `dim=1` on these 2-D tensors: the build recorded it, the
    page's grader accepts it and names it; a filling with another result stays wrong."""
    cards = {c["id"]: c for c in json.loads((built / "cards.json").read_text())["cards"]}
    assert cards["cat-cloze"]["cloze_equivalents"] == ["dim=-1"]
    page = quiz.page
    quiz.go_to("cat-cloze")
    assert quiz.answer("dim = -1") == "✓ Correct"
    fb = page.inner_text("#feedback")
    assert "The blank is dim=1." in fb and "Also right: dim=-1" in fb
    page.click("#b-reset")  # confirm() is accepted
    quiz.go_to("cat-cloze")
    assert quiz.answer("dim=0") == "✗ Not quite"  # joins the rows: sizes 3 and 4 do not match
    page.click("#b-reset")
    quiz.go_to("cat-cloze")
    assert quiz.answer("dim=-2") == "✗ Not quite"  # the same axis as dim=0 here


@pytest.mark.browser
def test_filters_by_deck_and_tag_and_order(quiz: Page) -> None:
    page = quiz.page
    tags = page.eval_on_selector_all("#tag-list option", "os => os.map(o => [o.value, o.label])")
    assert tags == [["cat", "1 card"], ["html-test", "8 cards"], ["xss", "1 card"]]
    # the closed deck menu names the whole path, never an indented leaf
    assert page.locator("#f-deck option").all_inner_texts()[1:] == ["Test (8)", "Test › HTML (8)"]
    page.fill("#f-tag", "ca")  # not a tag (yet): marked, the filter is unchanged
    assert page.get_attribute("#f-tag", "aria-invalid") == "true"
    assert quiz.progress() == "0 of 8 answered, 0 correct"
    page.fill("#f-tag", "cat")
    assert page.get_attribute("#f-tag", "aria-invalid") == "false"
    assert quiz.progress() == "0 of 1 answered, 0 correct" and quiz.card_id() == "cat-shape"
    page.fill("#f-tag", "")
    page.select_option("#f-deck", "Test::HTML")
    assert quiz.progress() == "0 of 8 answered, 0 correct"
    page.select_option("#f-order", "mixed")
    queue = page.evaluate(f"JSON.parse(localStorage.getItem({'tnquiz:' + key_of(page)!r})).queue")
    assert sorted(queue) == sorted(ORDER) and queue != ORDER
    assert quiz.card_id() == queue[0]
    quiz.reload()
    assert page.input_value("#f-order") == "mixed" and page.input_value("#f-deck") == "Test::HTML"
    assert quiz.card_id() == queue[0]


def first_queue(browser: Any, url: str, seed: int) -> list[str]:
    p = Page(browser, url, order=None, seed=seed)
    try:
        assert p.page.input_value("#f-order") == "mixed"  # the default
        return list(p.page.evaluate(
            f"JSON.parse(localStorage.getItem({'tnquiz:' + key_of(p.page)!r})).queue"))
    finally:
        p.close()


@pytest.mark.browser
def test_default_order_is_mixed_across_decks_and_seeded(browser: Any, tmp_path: Path) -> None:
    """A fresh page interleaves the decks (a shuffle seeded per page load; ``?seed=`` fixes it)."""
    url = write_html(hand_deck(), tmp_path).as_uri()
    file_order = [c.id for c in hand_deck().cards if c.status == "ok"]
    first = first_queue(browser, url, 7)
    assert sorted(first) == sorted(file_order) and first != file_order
    assert first_queue(browser, url, 7) == first  # same seed, same order (a fresh browser context)
    assert {tuple(first_queue(browser, url, s)) for s in (1, 2, 3)} != {tuple(first)}


def key_of(page: Any) -> str:
    return str(page.evaluate("JSON.parse(document.getElementById('tnq-data').textContent).key"))


@pytest.mark.browser
def test_injected_script_is_text(quiz: Page) -> None:
    page = quiz.page
    page.fill("#f-tag", "xss")
    q = page.inner_text("#card h2")
    assert q == "Does <script>window.__pwned = 1</script> run? </script><b id=injected>bold</b>"
    assert page.locator("#injected").count() == 0
    assert "<script>window.__pwned = 2</script>" in page.inner_text("#card .tnq-code")
    page.click("#b-show")
    fb = page.inner_text("#feedback")
    assert "<script>window.__pwned = 2</script>" in fb
    assert "<img src=x onerror=window.__pwned=3>" in fb
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#feedback img, #card img, #card script, #feedback script").count() == 0


@pytest.mark.browser
def test_no_network_even_when_asked(quiz: Page) -> None:
    """The CSP blocks a request before it leaves the page: nothing reaches the route either."""
    result = quiz.page.evaluate("""() => fetch('https://example.com/x').then(() => 'sent', () => 'blocked')""")
    assert result == "blocked"
    quiz.errors[:] = [e for e in quiz.errors if "Content Security Policy" not in e and "Failed to fetch" not in e]


@pytest.mark.browser
def test_keyboard_alone(quiz: Page) -> None:
    page = quiz.page
    kb = page.keyboard
    page.evaluate("document.activeElement.blur()")
    kb.press("/")  # go to the answer field
    assert page.evaluate("document.activeElement.id") == "answer"
    kb.type("(2, 7)")
    kb.press("Enter")  # check
    assert quiz.verdict() == "✓ Correct"
    assert page.evaluate("document.activeElement.id") == "b-next"
    assert page.get_attribute("#feedback", "aria-live") == "polite"
    kb.press("Enter")  # next card, the answer field has the focus
    assert quiz.card_id() == "arange-dtype"
    assert page.evaluate("document.activeElement.id") == "answer"
    assert not page.locator("#feedback .note").count()  # the Enter did not also check the new card
    kb.press("Enter")  # nothing typed: a hint, not a verdict
    assert "Type an answer first" in page.inner_text("#feedback")
    kb.type("torch.int64")
    kb.press("Enter")
    assert quiz.verdict() == "✓ Correct"
    kb.press("n")  # next
    for skipped in ("mean-value", "view-error", "print-size"):
        assert quiz.card_id() == skipped
        assert page.evaluate("document.activeElement.id") == "answer"
        kb.press("Escape")  # leave the field
        kb.press("n")  # skip
    assert quiz.card_id() == "stack-choice"
    assert page.evaluate("document.activeElement.name") == "choice"  # the first option has the focus
    texts = page.locator(".choice pre.opt").all_inner_texts()
    right = texts.index("torch.Size([2, 2, 3])") + 1
    wrong = 1 if right != 1 else 2
    kb.press(str(wrong))
    assert page.is_checked(f"#opt-{wrong}")
    kb.press(str(right))  # number keys pick
    assert page.is_checked(f"#opt-{right}") and not page.is_checked(f"#opt-{wrong}")
    quiz.shot("keyboard-choice-question")
    kb.press("Enter")  # check
    assert quiz.verdict() == "✓ Correct"
    kb.press("Enter")
    assert quiz.card_id() == "cat-cloze"
    # labels for every field, a polite live region for the result
    assert page.locator("label[for=answer]").count() == 1
    assert page.get_attribute("#answer", "aria-describedby") == "q hint"


@pytest.mark.browser
def test_grading_table_in_the_browser(quiz: Page) -> None:
    """Every case of tests/data/grading_cases.json through grade.js: same verdict as the table."""
    cases = load_cases()
    got = quiz.page.evaluate(
        "cases => cases.map(c => tnqGrade.grade(c.kind, c.answer, c.typed, c.options || null,"
        " c.cloze === undefined ? null : c.cloze, c.equivalents || null))", cases)
    bad = [(c["kind"], c["typed"], c["correct"], g) for c, g in zip(cases, got, strict=True)
           if g["correct"] is not c["correct"] or g["expected"] != py_verdict(c)["expected"]]
    assert not bad, bad
    assert len(got) == len(cases) >= 89


def fuzz_cases(seed: int, per_case: int) -> list[dict[str, Any]]:
    """Typed answers mutated from the table's, with awkward characters: Python's verdict for each."""
    rng = random.Random(seed)
    pieces = [
        *"0123456789 ,x×*()[]._-+:eE'\"`\t\n",
        "torch.", "Size", "size(", "tensor(", "dtype=torch.float32", "device='cpu'", "requires_grad=True",
        "grad_fn=<AddBackward0>", "inf", "-inf", "nan", "Error", "RuntimeError", "long", "float", "True",
        "false", "dim=1", "٣", "２", "𝟚", "²", "\u00a0", "\u0085", "\u001c", "\ufeff", "\u3000", "İ", "ΟΣ",
        "_", "1_0", "0" * 120, "1e3", ".5",
    ]
    out = []
    for c in load_cases():
        for _ in range(per_case):
            parts = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 5)))
            t = c["typed"]
            i = rng.randint(0, len(t))
            typed = t[:i] + parts + t[i:] if rng.random() < 0.6 else parts
            case = {**c, "typed": typed}
            out.append({**case, **py_verdict(case)})
    return out


@pytest.mark.browser
def test_grade_js_agrees_with_python_on_fuzzed_answers(quiz: Page) -> None:
    cases = fuzz_cases(seed=20240601, per_case=40)
    got = quiz.page.evaluate(
        "cases => cases.map(c => tnqGrade.grade(c.kind, c.answer, c.typed, c.options || null,"
        " c.cloze === undefined ? null : c.cloze, c.equivalents || null))", cases)
    bad = [(c["kind"], c["answer"].get("type"), c["typed"], c["correct"], g["correct"])
           for c, g in zip(cases, got, strict=True)
           if g["correct"] is not c["correct"] or g["expected"] != c["expected"]]
    assert not bad, bad[:20]
    assert sum(c["correct"] for c in cases) > 50  # the fuzz reaches right answers too


@pytest.mark.browser
def test_non_finite_values_survive_the_page(browser: Any, tmp_path: Path) -> None:
    path = write_html(hand_deck(), tmp_path)
    p = Page(browser, path.as_uri())
    try:
        p.page.click("#b-skip")  # to the NaN card
        assert p.card_id() == "nan"
        assert p.answer("nan") == "✓ Correct"
        p.page.click("#b-next")
        assert p.answer("[inf, -inf]") == "✓ Correct"
        assert p.page.evaluate("window.__pwned") is None
    finally:
        p.close()


@pytest.mark.browser
@pytest.mark.parametrize(
    ("name", "scheme", "viewport"),
    [
        ("desktop-light", "light", {"width": 1280, "height": 800}),
        ("desktop-dark", "dark", {"width": 1280, "height": 800}),
        ("phone-light", "light", {"width": 375, "height": 740}),
        ("phone-dark", "dark", {"width": 375, "height": 740}),
    ],
)
def test_screenshots(browser: Any, built: Path, name: str, scheme: str, viewport: dict[str, int]) -> None:
    """Question and answer screenshots (test-artifacts/html/); the page never scrolls sideways."""
    p = Page(browser, (built / "quiz.html").as_uri(), color_scheme=scheme, viewport=viewport,
             device_scale_factor=1, is_mobile=viewport["width"] < 500, has_touch=viewport["width"] < 500)
    try:
        page = p.page
        dark = page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
        assert dark is (scheme == "dark")
        bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert (bg == "rgb(17, 19, 24)") is (scheme == "dark"), bg
        p.shot(f"{name}-question")
        p.answer("(2, 8)")
        p.shot(f"{name}-answer-wrong")
        page.click("#b-next")
        p.go_to("stack-choice")
        p.shot(f"{name}-choice-question")
        page.click("label[for=opt-1]")
        page.click("#b-check")
        p.shot(f"{name}-choice-answer")
        p.go_to("cat-cloze")
        p.answer("dim=1")
        p.shot(f"{name}-cloze-answer")
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{name}: the page is {overflow}px wider than the screen"
    finally:
        p.close()


@pytest.mark.browser
def test_changed_answer_is_asked_again_and_bad_storage_is_ignored(browser: Any, tmp_path: Path) -> None:
    deck = hand_deck()
    path = write_html(deck, tmp_path)
    p = Page(browser, path.as_uri())
    try:
        assert p.card_id() == "s" and p.answer("2x3") == "✓ Correct"
        p.page.click("#b-next")
        assert p.answer("nan") == "✓ Correct"
        assert p.progress() == "2 of 6 answered, 2 correct (100%)"
        # rebuild with a new verified answer for "s": its old result no longer counts
        changed = Answer(type="shape", text="torch.Size([3, 2])", shape=(3, 2))
        cards = tuple(dataclasses.replace(c, answer=changed) if c.id == "s" else c for c in deck.cards)
        write_html(dataclasses.replace(deck, cards=cards), tmp_path)
        p.reload()
        assert p.progress() == "1 of 6 answered, 1 correct (100%)"
        p.page.select_option("#f-deck", "T::Unit")
        assert p.card_id() == "s" and p.answer("2x3") == "✗ Not quite"
        # garbage in localStorage: a fresh session, no error
        p.page.evaluate("Object.keys(localStorage).forEach(k => localStorage.setItem(k, '{not json'))")
        p.reload()
        assert p.progress() == "0 of 6 answered, 0 correct"
        p.page.evaluate("Object.keys(localStorage).forEach(k => localStorage.setItem(k, "
                        "JSON.stringify({v: 1, results: {s: 5, nan: {ok: 'x'}}, queue: 7, cur: {}})))")
        p.reload()
        assert p.progress() == "0 of 6 answered, 0 correct"
        assert p.page.input_value("#f-order") == "mixed"  # a fresh session, with the default order
    finally:
        p.close()


@pytest.mark.browser
def test_empty_deck_page(browser: Any, tmp_path: Path) -> None:
    path = write_html(Deck(cards=(), generator="tnquiz test"), tmp_path)
    p = Page(browser, path.as_uri())
    try:
        assert p.page.inner_text("#card h2") == "This quiz has no cards."
        assert p.progress() == "0 of 0 answered, 0 correct"
    finally:
        p.close()


@pytest.mark.browser
def test_works_without_local_storage(browser: Any, tmp_path: Path) -> None:
    """Some browsers refuse localStorage to file:// pages: the quiz still runs, in memory."""
    path = write_html(hand_deck(), tmp_path)
    ctx = browser.new_context()
    ctx.add_init_script("Object.defineProperty(window, 'localStorage', {get() {"
                        " throw new DOMException('denied', 'SecurityError'); }})")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(path.as_uri())
        page.wait_for_selector("html[data-ready]")
        page.select_option("#f-order", "deck")
        page.fill("#answer", "(2, 3)")
        page.keyboard.press("Enter")
        assert page.inner_text("#verdict") == "✓ Correct"
        assert page.inner_text("#p-text") == "1 of 6 answered, 1 correct (100%)"
        assert errors == []
    finally:
        ctx.close()


# Every visible text on the page (and every form field's text) against the background it is drawn
# on: the backgrounds of its ancestors composited from the page down, colours with alpha blended.
# Returns the failures, and every ancestor dimmed by opacity (which the ratio alone would miss).
CONTRAST_JS = """(minimum) => {
  const parse = c => {
    const m = /rgba?\\(([^)]+)\\)/.exec(c);
    if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const blend = (top, bottom) => [0, 1, 2].map(i => top[i] * top[3] + bottom[i] * (1 - top[3])).concat([1]);
  const lum = c => {
    const f = v => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const visible = e => {
    const r = e.getBoundingClientRect();
    if (r.width < 2 || r.height < 2) return false;
    for (let a = e; a; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.display === 'none' || s.visibility === 'hidden') return false;
      if (a.classList.contains('vh')) return false;  // visually hidden, for screen readers
      if (a.tagName === 'DETAILS' && !a.open && a !== e && !a.querySelector('summary').contains(e)) return false;
    }
    return true;
  };
  const out = [];
  const fields = 'input[type=text], input[type=search], input:not([type]), textarea, select, button';
  for (const e of document.querySelectorAll('body *')) {
    const hasText = Array.from(e.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
    if (!(hasText || e.matches(fields)) || !visible(e)) continue;
    const chain = [];
    for (let a = e; a; a = a.parentElement) chain.unshift(a);
    let bg = [255, 255, 255, 1];
    for (const a of chain) {
      const s = getComputedStyle(a);
      if (parseFloat(s.opacity) < 1) out.push({what: 'opacity', el: a.tagName + '.' + a.className, value: s.opacity});
      const c = parse(s.backgroundColor);
      if (c && c[3] > 0) bg = blend(c, bg);
    }
    const fg = blend(parse(getComputedStyle(e).color), bg);
    const r = ratio(fg, bg);
    if (r < minimum) {
      out.push({what: 'contrast', el: e.tagName + '.' + e.className,
                text: (e.textContent || e.value || '').trim().slice(0, 40), ratio: Math.round(r * 100) / 100});
    }
  }
  return out;
}"""


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_text_meets_wcag_aa_contrast(browser: Any, built: Path, scheme: str) -> None:
    """Each text element and code token class, in each state a learner sees, light and dark."""
    p = Page(browser, (built / "quiz.html").as_uri(), color_scheme=scheme,
             viewport={"width": 1280, "height": 900})
    problems: list[tuple[str, Any]] = []
    seen_classes: set[str] = set()

    def check(state: str) -> None:
        problems.extend((state, x) for x in p.page.evaluate(CONTRAST_JS, 4.5))
        seen_classes.update(p.page.eval_on_selector_all(".tnq-code span[class]", "es => es.map(e => e.className)"))

    try:
        page = p.page
        page.click("#help summary")  # the keyboard help, open
        check("question")
        p.answer("(2, 8)")
        check("wrong answer")
        for card, typed in (("view-error", "ValueError"), ("print-size", "x"), ("cat-cloze", None),
                            ("stack-choice", None)):
            if card != p.card_id():
                page.click("#b-next")
            p.go_to(card)
            check(f"{card} question")
            if card == "stack-choice":
                page.click("label[for=opt-1]")
                page.click("#b-check")
            elif typed is None:
                page.click("#b-show")
            else:
                p.answer(typed)
            check(f"{card} answer")
    finally:
        p.close()
    assert {"mi", "nb", "o"} <= seen_classes, seen_classes  # numbers, builtins, operators were checked
    assert problems == [], problems


@pytest.mark.browser
def test_every_token_class_meets_contrast_on_the_code_background(browser: Any, tmp_path: Path) -> None:
    """Every token class the page's CSS colours, as it renders, in light and dark mode."""
    from pygments.token import STANDARD_TYPES

    classes = sorted(c for c in STANDARD_TYPES.values() if c)
    path = write_html(hand_deck(), tmp_path)
    for scheme in ("light", "dark"):
        p = Page(browser, path.as_uri(), color_scheme=scheme)
        try:
            p.page.evaluate("""classes => {
                const pre = document.querySelector('#card .tnq-code pre code');
                for (const c of classes) { const s = document.createElement('span');
                  s.className = c; s.textContent = ' ' + c; pre.appendChild(s); } }""", classes)
            bad = [x for x in p.page.evaluate(CONTRAST_JS, 4.5) if x["what"] == "contrast"]
            assert bad == [], (scheme, bad)
        finally:
            p.close()


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_toolbar_is_one_line_at_1280_px(browser: Any, tmp_path: Path, scheme: str) -> None:
    """Deck, tag, order and "Retry missed (0)" side by side, even with long deck names."""
    deck = hand_deck()
    long = tuple(dataclasses.replace(bc, card=dataclasses.replace(
        bc.card, deck="PyTorch::Tensors::Joining and splitting", tags=tuple(f"tag-{i}" for i in range(180))))
        for bc in deck.cards)
    path = write_html(dataclasses.replace(deck, cards=long), tmp_path)
    p = Page(browser, path.as_uri(), color_scheme=scheme, viewport={"width": 1280, "height": 800})
    try:
        boxes = p.page.eval_on_selector_all(
            "#controls > :not([hidden]):not(datalist)",
            "es => es.map(e => { const r = e.getBoundingClientRect();"
            " return {text: e.textContent.trim(), top: r.top, bottom: r.bottom}; })")
        assert len(boxes) == 4 and boxes[-1]["text"] == "Retry missed (0)", boxes
        assert max(b["top"] for b in boxes) - min(b["top"] for b in boxes) < 2, boxes
        retry = p.page.locator("#b-retry").bounding_box()
        assert retry is not None and retry["height"] < 50  # one line of text
        assert p.page.locator("#tag-list option").count() == 180
        p.shot(f"toolbar-1280-{scheme}")
    finally:
        p.close()
