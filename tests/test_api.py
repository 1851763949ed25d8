"""The library API (generator/api.py), used as a library user would: real cards, real workers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from generator import api, build, check, clear_cache, list_cards, load, render
from generator.execute.cache import Cache
from generator.model import BuiltCard, Card, Deck, Location, Problem
from generator.quiz.session import select_cards
from tests.conftest import ROOT
from tests.test_cli import CARDS as CLI_CARDS  # squeeze-one (ok), arange-dtype (ok)

CARDS = CLI_CARDS + """\
  - id: wrong-claim
    question: q
    answer: torch.zeros(2, 3).t().shape
    expect: "(2, 3)"
    tags: [t]
  - id: needs-vision
    question: q
    answer: torchvision.__version__
    requires: [torchvision]
  - id: on-gpu
    question: q
    answer: torch.zeros(1).device.type
    device: cuda
"""

OTHER = """\
deck: Demo::Other::Deep
cards:
  - id: deep-one
    question: q
    answer: torch.arange(3).dtype
"""


def test_import_generator_is_light() -> None:
    code = ("import sys, generator; from generator import build, check, load, render; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'jinja2', 'genanki')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    import generator
    import generator.load
    import generator.render.html  # the submodules do not shadow the API functions

    assert (generator.load, generator.render, load, render) == (api.load, api.render, api.load, api.render)
    from generator.load import LoadResult  # and stay importable by their full names

    assert LoadResult.__module__ == "generator.load"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        getattr(generator, "nope")  # noqa: B009


def test_load_check_build_render_list(tmp_path: Path) -> None:
    from generator.execute.runner import cuda_present

    if cuda_present():  # pragma: no cover
        pytest.skip("the skip hints need a machine without a GPU")
    (tmp_path / "demo.yaml").write_text(CARDS)
    (tmp_path / "other.yaml").write_text(OTHER)
    cache = Cache(tmp_path / "cache")

    loaded = load([tmp_path])
    assert [c.id for c in loaded.cards] == ["squeeze-one", "arange-dtype", "wrong-claim", "needs-vision", "on-gpu",
                                            "deep-one"]
    assert loaded.problems == ()

    report = check([tmp_path], cache=cache, jobs=1)
    assert [c.status for c in report.cards] == ["ok", "ok", "contradicted", "skipped", "skipped", "ok"]
    assert str(report.totals) == "6 cards: 3 ok, 1 contradicted, 2 skipped"
    assert report.exit_code == api.EXIT_CARDS
    assert len(report.failures) == 1 and "[wrong-claim]: expect contradicted by PyTorch" in report.failures[0]
    assert report.skipped_hints() == ("1 need a GPU: build with `--device auto` on a machine with one",
                                      "1 need torchvision: `pip install torchvision`")

    out = tmp_path / "out"
    result = build([tmp_path], out, cache=cache)
    assert result.withheld is None and not result.up_to_date
    assert [p.name for p in result.written] == ["cards.json", "tnquiz.apkg", "quiz.html"]
    assert result.report.ran == 0 and result.report.cached == 4  # check filled the cache
    data = json.loads((out / "cards.json").read_text())
    assert {c["id"]: c["status"] for c in data["cards"]}["wrong-claim"] == "contradicted"
    again = build([tmp_path], out, cache=cache)
    assert again.up_to_date and again.written == ()

    other = tmp_path / "out2"
    assert [p.name for p in render(report.deck, other)] == ["cards.json", "tnquiz.apkg", "quiz.html"]
    assert (other / "cards.json").read_bytes() == (out / "cards.json").read_bytes()

    listing = list_cards([tmp_path], deck="demo", cache=cache)
    assert [(r.id, r.kind, r.status) for r in listing.rows] == [
        ("squeeze-one", "shape", "ok"), ("arange-dtype", "dtype", "ok"), ("wrong-claim", "shape", "contradicted"),
        ("needs-vision", "?", "skipped"), ("on-gpu", "?", "skipped"), ("deep-one", "dtype", "ok")]
    assert str(listing.totals) == "6 cards: 3 ok, 1 contradicted, 2 skipped"
    assert [r.id for r in list_cards([tmp_path], tags=["T"], cache=cache).rows] == ["wrong-claim"]

    # one deck filter: `list --deck` and `quiz --deck` keep the same cards
    for wanted in ("demo", "Demo::Basics", "DEMO::other", "demo::other::deep", "Demo::Oth", "nope"):
        listed = {r.id for r in list_cards([tmp_path], deck=wanted, cache=cache).rows if r.status == "ok"}
        quizzed = {c.id for c in select_cards(report.cards, deck=wanted)}
        assert listed == quizzed, wanted
    assert {r.id for r in list_cards([tmp_path], deck="demo::other", cache=cache).rows} == {"deep-one"}

    assert clear_cache(cache) == 3  # arange-dtype and deep-one run the same code: one entry
    assert [r.status for r in list_cards([tmp_path], cache=cache).rows].count("not run") == 4


def test_input_problems_write_nothing(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(OTHER + "  - id: Bad Id\n    question: q\n    answer: 1\n")
    result = build([tmp_path / "bad.yaml", tmp_path / "missing.yaml"], tmp_path / "out",
                   cache=Cache(tmp_path / "cache"))
    assert result.exit_code == api.EXIT_INPUT and result.written == ()
    assert result.withheld == f"nothing written: 2 cards could not be loaded; {tmp_path / 'out'}/ is untouched"
    assert not (tmp_path / "out").exists()
    assert str(result.report.totals) == "0 cards: 0 ok; 2 not loaded"


def test_device_cuda_without_gpu_raises_before_anything_runs(tmp_path: Path) -> None:
    from generator.execute.runner import cuda_present

    if cuda_present():  # pragma: no cover
        pytest.skip("this machine has a GPU")
    (tmp_path / "demo.yaml").write_text(OTHER)
    with pytest.raises(api.UsageError, match="use `--device auto`"):
        build([tmp_path], tmp_path / "out", device="cuda")
    with pytest.raises(api.UsageError):
        check([tmp_path], device="cuda")
    assert not (tmp_path / "out").exists()


def _built(status: str, n: int = 0, reason: str | None = None) -> BuiltCard:
    card = Card(id=f"c{status}{n}", deck="D", file="cards/x.yaml", line=3 + n, question="q", kind="")
    return BuiltCard(card=card, status=status, reason=reason)  # type: ignore[arg-type]


def test_totals_add_up_with_singular_and_plural() -> None:
    statuses = ["ok"] * 9 + ["contradicted", "failed", "skipped"]
    problems = [Problem(Location("a.yaml", 4), "x", "bad"), Problem(Location("a.yaml", 5), "x", "worse"),
                Problem(Location("b.yaml", 2), None, "invalid YAML")]
    assert str(api.Totals.of(statuses, problems)) == "12 cards: 9 ok, 1 contradicted, 1 failed, 1 skipped; 2 not loaded"
    assert str(api.Totals.of(["ok"])) == "1 card: 1 ok"
    assert str(api.Totals.of(["error", "error", "ok", "not run"])) == "4 cards: 1 ok, 2 tnquiz errors, 1 not run"
    assert str(api.Totals.of([])) == "0 cards: 0 ok"
    assert api.plural(1, "problem") == "1 problem" and api.plural(0, "problem") == "0 problems"


def test_a_machinery_error_is_never_ok_and_exits_3() -> None:
    cards = (_built("ok"), _built("error", 1, "the worker stopped answering"))
    report = api.Report(deck=Deck(cards=cards), problems=(), ran=1)
    assert report.exit_code == api.EXIT_MACHINERY
    assert report.failures == ("cards/x.yaml:4 [cerror1]: tnquiz could not run this card: the worker stopped answering",)
    assert str(report.totals) == "2 cards: 1 ok, 1 tnquiz error"


def test_a_card_the_runner_loses_comes_back_as_an_error() -> None:
    from generator.load import LoadResult

    kept = _built("ok")
    lost = _built("ok", 1).card
    built = api._complete(LoadResult(cards=(kept.card, lost), problems=()), [kept])
    assert [(c.id, c.status) for c in built] == [("cok0", "ok"), ("cok1", "error")]
