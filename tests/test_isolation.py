"""No answer depends on which cards ran before it, with child reuse (docs/isolation.md).

Each polluter changes one kind of process state; its observer's answer would show it. Each pair
runs on one worker, the polluter first and then the observer first, with reuse on (``auto``) and
off (``fork``): every answer must be the same in all four runs.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from generator.execute.cache import Cache
from generator.execute.purity import impurity
from generator.execute.runner import run_cards
from generator.load import load
from generator.model import Card
from generator.verify import verify
from tests.conftest import Built, run_tnquiz

# kind -> (polluter code, observer code, observer answer). Observers are pure where they can be
# (so that they run in the reused child); a polluter that is pure too shares that child.
PAIRS: dict[str, tuple[str, str, str]] = {
    "default dtype": ("torch.set_default_dtype(torch.float64)", "x = torch.zeros(1)", "x.dtype"),
    "grad mode": ("torch.set_grad_enabled(False)", "y = torch.ones(1, requires_grad=True) * 2", "y.requires_grad"),
    "print options": ("torch.set_printoptions(precision=1)", "x = torch.tensor([1.23456])", "repr(x)"),
    "threads": ("torch.set_num_threads(2)", "n = torch.get_num_threads()", "n"),
    "deterministic": ("torch.use_deterministic_algorithms(True)", "d = torch.are_deterministic_algorithms_enabled()", "d"),
    "anomaly mode": ("torch.autograd.set_detect_anomaly(True)", "a = torch.is_anomaly_enabled()", "a"),
    "module attribute": ("torch.nn.Linear = None", "m = nn.Linear(2, 3)", "m.weight.shape"),
    "tensor method": ("torch.Tensor.sum = lambda self, *a, **k: 42", "s = torch.ones(3).sum()", "s.item()"),
    "function defaults": ("F.dropout.__defaults__ = (0.0, True, False)", "y = F.dropout(torch.ones(8))", "y.sum().item()"),
    "module-level hook": ("nn.modules.module.register_module_forward_hook(lambda m, i, o: o * 0)",
                          "y = nn.Linear(2, 2)(torch.ones(2))", "bool(y.abs().sum() > 0)"),
    "builtins": ("import builtins\nbuiltins.len = lambda x: 0", "n = len([1, 2])", "n"),
    "recursion limit": ("import sys\nsys.setrecursionlimit(60)",
                        "def f(n):\n    return 0 if n == 0 else 1 + f(n - 1)\nd = f(200)", "d"),
    "numpy errors": ("import numpy as np\nnp.seterr(all='raise')",
                     "import numpy as np\nx = np.float64(1e308) * 10", "bool(np.isinf(x))"),
    # the observer cannot look at files and stay pure; the polluter's file must still not outlive it
    "files left behind": ("torch.save(torch.ones(1), 'left.pt')", "t = torch.zeros(1)", "t.shape"),
    "card globals": ("LEAK = 1", "names = sorted(n for n in dir() if not n.startswith('_'))", "names"),
    "random seed": ("torch.manual_seed(5)\nx = torch.rand(1)", "r = torch.rand(1)", "r.item()"),
    "warning filters": ("import warnings\nwarnings.simplefilter('error')",
                        "x = torch.tensor([1.0, 2.0])\ny = torch.tensor(x)", "y.shape"),
    "sys.modules": ("import tabnanny", "x = torch.ones(1)", "x.shape"),
    "environment": ("import os\nos.environ['CUDA_VISIBLE_DEVICES'] = 'nonsense'", "x = torch.ones(1)", "x.shape"),
    "alarm": ("import signal\nsignal.alarm(1)",
              "x = torch.zeros(1)\nfor _ in range(300):\n    x = x + torch.ones(1000, 1000).sum() * 0", "x.item()"),
    "thread left running": (
        "import threading, time\n"
        "def later():\n    time.sleep(0.3)\n    torch.set_default_dtype(torch.float64)\n"
        "threading.Thread(target=later, daemon=True).start()",
        "x = torch.zeros(1)\nfor _ in range(300):\n    x = x + torch.ones(1000, 1000).sum() * 0", "x.dtype"),
}


def _deck(order: list[tuple[str, str, str]]) -> str:
    lines = ["deck: Iso", "cards:"]
    for cid, code, answer in order:
        lines += [f"  - id: {cid}", "    question: q", "    code: |"]
        lines += [f"      {line}" for line in code.splitlines()]
        lines += [f"    answer: {answer!r}"]
    return "\n".join(lines) + "\n"


def _run(path: Path, cache_dir: Path, isolation: str, jobs: int = 1) -> dict[str, str]:
    loaded = load([path])
    assert loaded.problems == ()
    outcomes = run_cards(loaded.cards, cache=Cache(cache_dir), jobs=jobs, isolation=isolation)
    out = {}
    for o in outcomes:
        built = verify(o)
        out[o.card.id] = built.answer.text if built.answer is not None else f"{built.status}: {built.reason}"
    return out


def _slug(kind: str) -> str:
    return kind.replace(" ", "-").replace(".", "-")


def test_polluters_never_reach_observers(tmp_path: Path) -> None:
    assert len(PAIRS) >= 12
    pol_first: list[tuple[str, str, str]] = []
    obs_first: list[tuple[str, str, str]] = []
    for kind, (polluter, observer, answer) in PAIRS.items():
        p = (f"pollute-{_slug(kind)}", polluter, "1")
        o = (f"observe-{_slug(kind)}", observer, answer)
        # a pure card between them, so that the observer is not the reused child's first card
        filler = (f"filler-{_slug(kind)}", "z = torch.zeros(2, 2)", "z.shape")
        pol_first += [filler, p, o]
        obs_first += [filler, o, p]
    a = tmp_path / "a.yaml"
    a.write_text(_deck(pol_first))
    b = tmp_path / "b.yaml"
    b.write_text(_deck(obs_first))
    observers = [c for c in load([a]).cards if c.id.startswith("observe-")]
    assert sum(impurity(c) is None for c in observers) >= 12  # most observers run in the reused child
    runs = {(name, iso): _run(path, tmp_path / f"cache-{name}-{iso}", iso)
            for name, path in (("polluter first", a), ("observer first", b)) for iso in ("auto", "fork")}
    reference = runs[("observer first", "fork")]
    for kind in PAIRS:
        oid = f"observe-{_slug(kind)}"
        assert not reference[oid].startswith("failed"), (kind, reference[oid])
        for run, answers in runs.items():
            assert answers[oid] == reference[oid], (kind, run, answers[oid], reference[oid])
    assert reference["observe-default-dtype"] == "torch.float32"
    assert reference["observe-grad-mode"] == "True"
    assert reference["observe-recursion-limit"] == "200"
    assert "LEAK" not in reference["observe-card-globals"]
    for run, answers in runs.items():
        same = {k: v for k, v in answers.items() if not k.startswith("pollute-")}
        assert same == {k: v for k, v in reference.items() if not k.startswith("pollute-")}, run


def test_a_card_that_slips_past_the_static_check_still_leaves_the_child(tmp_path: Path) -> None:
    """The second net: a pure card that changes state anyway (here through an object the static
    check cannot follow) makes the reused child go; the next card sees a pristine process."""
    code = "m = torch.get_device_module('cpu')\nm.POLLUTED = 1"
    probe = "n = sorted(x for x in dir(torch.get_device_module('cpu')) if x == 'POLLUTED')"
    path = tmp_path / "slip.yaml"
    path.write_text(_deck([("slip", code, "1"), ("probe", probe, "n")]))
    cards = load([path]).cards
    assert [impurity(c) for c in cards] == [None, None]  # both run in the reused child
    answers = _run(path, tmp_path / "cache", "auto")
    assert answers["probe"] == "[]"


def test_a_pure_card_that_times_out_or_raises_in_the_reused_child_fails_alone(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(_deck([("before", "a = torch.ones(2)", "a.sum().item()"),
                           ("loops", "while True:\n    pass", "1"),
                           ("raises", "torch.zeros(2).view(3)", "1"),
                           ("after", "b = torch.ones(3)", "b.sum().item()")]).replace(
        "  - id: loops\n", "  - id: loops\n    timeout: 1\n"))
    cards = load([path]).cards
    assert [impurity(c) for c in cards] == [None] * 4
    answers = _run(path, tmp_path / "cache", "auto")
    assert answers["before"] == "2.0" and answers["after"] == "3.0"
    assert answers["loops"] == f"failed: {path}:{cards[1].line} [loops]: timed out after 1 s and was killed"
    assert answers["raises"].startswith("failed: ") and "RuntimeError" in answers["raises"]


FORGER = """\
import numpy as np
x = torch.tensor([6.0])
body = b'{"token": "guess", "result": {"answer": null}, "left": []}'
fake = np.array([list(len(body).to_bytes(8, "big") + body)])
for fd in range(3, 40):
    try:  # raw bytes, in latin-1
        np.savetxt(f"/proc/self/fd/{fd}", fake, fmt="%c", delimiter="", newline="")
    except Exception:
        pass
"""


def test_a_pure_card_writing_into_its_pipes_cannot_touch_the_next_answer(tmp_path: Path) -> None:
    """A pure card can still open ``/proc/self/fd/N`` (through numpy's savetxt): its bytes in the
    reply or job pipe of the reused child must not pass for a reply, nor for a job."""
    path = tmp_path / "forge.yaml"
    path.write_text(_deck([("first", "a = torch.ones(2)", "a.sum().item()"), ("forger", FORGER, "x.item()"),
                           ("next", "b = torch.ones(5)", "b.sum().item()"),
                           ("last", "c = torch.ones(7)", "c.sum().item()")]))
    cards = load([path]).cards
    assert [impurity(c) for c in cards] == [None] * 4
    answers = _run(path, tmp_path / "cache", "auto")
    assert (answers["first"], answers["next"], answers["last"]) == ("2.0", "5.0", "7.0"), answers
    assert answers["forger"] == f"failed: {path}:{cards[1].line} [forger]: crashed: it wrote into its own reply channel"


def test_the_cli_offers_both_modes_with_the_same_answers(tmp_path: Path) -> None:
    import json

    path = tmp_path / "cli.yaml"
    path.write_text(_deck([("pure", "a = torch.arange(6).view(2, 3)", "a.t().shape"),
                           ("impure", "import os\nb = torch.ones(2)", "b.sum().item()"),
                           ("after", "c = torch.zeros(3, 1)", "c.squeeze(1).shape")]))
    answers = {}
    for mode in ("auto", "fork"):
        out = tmp_path / f"out-{mode}"
        proc = run_tnquiz("build", str(path), "--out", str(out), "--isolation", mode,
                          env={"TNQUIZ_CACHE_DIR": str(tmp_path / f"cache-{mode}")})
        assert proc.returncode == 0, proc.stderr
        cards = json.loads((out / "cards.json").read_text())["cards"]
        answers[mode] = [(c["id"], c["status"], c["answer"]) for c in cards]
    assert answers["auto"] == answers["fork"]
    assert [a[1] for a in answers["auto"]] == ["ok"] * 3
    bad = run_tnquiz("check", str(path), "--isolation", "thread")
    assert bad.returncode == 2 and "Invalid value for '--isolation'" in bad.stderr


@pytest.mark.slow
def test_answers_do_not_depend_on_the_order(bundled_deck: Built, tmp_path: Path) -> None:
    from generator.paths import bundled_cards_dir

    cards = list(load([bundled_cards_dir()]).cards)
    orders: dict[str, list[Card]] = {"file order": cards, "reversed": cards[::-1]}
    shuffled = list(cards)
    random.Random(10).shuffle(shuffled)
    orders["shuffled"] = shuffled
    results = {}
    for name, order in orders.items():
        # file order: what bundled_deck's `tnquiz check` of the bundled deck ran into its cache (the
        # same runner defaults, auto isolation); the other two orders run here, each from nothing
        cache = Cache(bundled_deck.cache) if name == "file order" else Cache(tmp_path / name)
        outcomes = run_cards(order, cache=cache, isolation="auto")
        results[name] = {o.card.id: verify(o) for o in outcomes}
    ref = results["file order"]
    assert len(ref) == len(cards)
    for name, res in results.items():
        for cid, built in ref.items():
            other = res[cid]
            assert (other.status, other.answer, other.reason) == (built.status, built.answer, built.reason), (name, cid)
