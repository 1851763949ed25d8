"""The static purity check: which cards may share a reused child (generator/execute/purity.py)."""

from __future__ import annotations

import pytest

from generator.execute.purity import impurity, impurity_of
from generator.load import load
from generator.model import Card


def check(code: str, answer: str | None = None, setup: str = "") -> str | None:
    parts = [("setup", setup, "exec"), ("code", code, "exec")]
    if answer:
        parts.append(("answer", answer, "eval"))
    return impurity_of(parts)


PURE = [
    "a = torch.zeros(2, 3)\nb = a.t().contiguous().view(-1)",
    "x = torch.ones(2, requires_grad=True)\ny = (x * 2).sum()\ny.backward()",
    "a = torch.zeros(3)\nb = a.view(3)\nb[0] = 5",  # a view of the card's own tensor
    "a = torch.zeros(2, 2)\na[:, 0] += 1",
    "m = nn.Linear(2, 3)\nm.weight = nn.Parameter(torch.ones(3, 2))",
    "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(2, 2)\n"
    "    def forward(self, x):\n        return self.fc(x)\nnet = Net()\nout = net(torch.ones(1, 2))",
    "with torch.no_grad():\n    y = torch.ones(2) * 2",
    "with torch.set_grad_enabled(False):\n    y = torch.ones(2, requires_grad=True) * 2",
    "torch.manual_seed(3)\nx = torch.rand(2)",
    "import numpy as np\nimport math\nfrom torch.utils.data import DataLoader, TensorDataset\n"
    "dl = DataLoader(TensorDataset(torch.ones(4, 2)), batch_size=2, num_workers=0)",
    "input = torch.ones(2)\nout = F.relu(input)",  # a card's own variable named like a builtin
    "d = {}\nd['k'] = torch.ones(1)\nl = []\nl.append(3)",
    "opt = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)\nopt.zero_grad()",
    "print(torch.get_default_dtype(), type(torch.ones(1)).__name__)",
    "@torch.no_grad()\ndef f(x):\n    return x * 2\ny = f(torch.ones(1))",
    "m = nn.Linear(2, 2)\nh = m.register_forward_hook(lambda *a: None)\nh.remove()",
    "try:\n    torch.zeros(2).view(3)\nexcept RuntimeError as e:\n    msg = str(e)",
]

IMPURE = [
    ("import os", "imports `os`"),
    ("import warnings", "imports `warnings`"),
    ("from threading import Thread", "imports `threading`"),
    ("import signal\nsignal.alarm(1)", "imports `signal`"),
    ("from torch import set_default_dtype", "sets process-wide state"),
    ("from torch.backends import cudnn", "process-wide state"),
    ("from torch import _C", "does `from torch import _C`"),
    ("from torch import *", "does `from torch import *`"),
    ("global x\nx = 1", "declares `global`"),
    ("torch.set_default_dtype(torch.float64)", "calls `torch.set_default_dtype`"),
    ("torch.set_grad_enabled(False)", "calls `torch.set_grad_enabled`"),
    ("torch.set_printoptions(precision=2)", "calls `torch.set_printoptions`"),
    ("torch.set_num_threads(2)", "calls `torch.set_num_threads`"),
    ("torch.use_deterministic_algorithms(True)", "calls `torch.use_deterministic_algorithms`"),
    ("torch.autograd.set_detect_anomaly(True)", "calls `torch.autograd.set_detect_anomaly`"),
    ("nn.modules.module.register_module_forward_hook(print)", "sets process-wide state"),
    ("torch.nn.Linear = None", "assigns to `torch.nn.Linear`"),
    ("F.relu = abs", "assigns to `F.relu`"),
    ("del torch.Tensor.add", "assigns to `torch.Tensor.add`"),
    ("m = nn\nm.Linear = None", "assigns to `m.Linear`"),  # an alias of a module
    ("for mod in [torch, nn]:\n    mod.x = 1", "assigns to `mod.x`"),
    ("l = [nn]\nx = l.pop()\nx.y = 1", "assigns to `x.y`"),
    ("def f():\n    return nn\nf().x = 1", "assigns to `f().x`"),
    ("def f():\n    return nn\nm = f()\nm.x = 1", "assigns to `m.x`"),
    ("c = type(torch.ones(1))\nc.foo = 1", "assigns to `c.foo`"),
    ("m = nn.Linear(2, 2)\nm.weight.data = torch.ones(2, 2)", "assigns to `m.weight.data`"),
    ("d = F.relu.__defaults__", "uses `__defaults__`"),
    ("x = vars(torch)", "uses `vars`"),
    ("setattr(torch, 'x', 1)", "uses `setattr`"),
    ("getattr(torch, 'set_default_dtype')(torch.float64)", "uses `getattr`"),
    ("exec('import os')", "uses `exec`"),
    ("eval('1')", "uses `eval`"),
    ("__import__('os')", "uses `__import__`"),
    ("open('f', 'w').write('x')", "uses `open`"),
    ("torch.__dict__.update(x=1)", "calls `torch.__dict__.update` on an object it did not create"),
    ("torch._C._set_grad_enabled(False)", "uses the private"),
    ("torch.jit.script(lambda x: x)", "uses `torch.jit.script`"),
    ("f = torch.compile(lambda x: x)", "uses `torch.compile`"),
    ("lib = torch.library.Library('aten', 'IMPL')", "uses `torch.library.Library`"),
    ("torch.backends.cudnn.benchmark = True", "torch.backends"),
    ("torch.cuda.is_available()", "uses `torch.cuda.is_available`"),
    ("from torch.utils.data import DataLoader\nDataLoader([1, 2], num_workers=2)", "num_workers"),
    ("class A:\n    def __del__(self):\n        pass", "defines `__del__`"),
    ("class M(type):\n    pass\nclass A(metaclass=M):\n    pass", "defines class `A` with keywords"),
    ("n = torch.__all__", "uses `__all__`"),
    ("import numpy as np\nnp.seterr(all='raise')", "calls `np.seterr`"),
    ("import numpy as np\nnp.set_printoptions(precision=2)", "calls `np.set_printoptions`"),
    ("torch.serialization.os.chdir('/')", "uses `.os`"),
    ("f = torch.overrides.inspect.currentframe()", "torch.overrides"),
    ("import math\nx = math.sys", "uses `.sys`"),
    ("x = (", "does not parse"),
]


@pytest.mark.parametrize("code", PURE)
def test_pure_snippets(code: str) -> None:
    assert check(code) is None


@pytest.mark.parametrize(("code", "reason"), IMPURE)
def test_impure_snippets_say_why(code: str, reason: str) -> None:
    why = check(code)
    assert why is not None and reason in why, why


def test_frames_are_out_of_reach() -> None:
    assert "uses `.tb_frame`" in (check("try:\n    1 / 0\nexcept Exception as e:\n    f = e.__traceback__.tb_frame") or "x")
    assert "uses `.f_locals`" in (check("g = (x for x in [1])\nl = g.gi_frame.f_locals") or "")


def test_answer_and_choices_are_checked_too(write_cards) -> None:  # type: ignore[no-untyped-def]
    path = write_cards("""\
deck: D
cards:
  - id: a
    question: q
    code: x = torch.ones(2)
    answer: torch.set_default_dtype(torch.float64)
  - id: b
    question: q
    code: x = torch.ones(2)
    answer: x.shape
    choices: ["torch.set_printoptions(precision=1)"]
  - id: c
    question: q
    code: x = torch.ones(2)
    answer: x.shape
    choices: ["x.dtype"]
""")
    cards = {c.id: c for c in load([path]).cards}
    assert "its answer calls `torch.set_default_dtype`" in (impurity(cards["a"]) or "")
    assert "its choice calls `torch.set_printoptions`" in (impurity(cards["b"]) or "")
    assert impurity(cards["c"]) is None


def _card(**kw: object) -> Card:
    base: dict[str, object] = {"id": "x", "deck": "D", "file": "f.yaml", "line": 1, "question": "q",
                               "kind": "value", "code": "a = 1", "answer": "a"}
    base.update(kw)
    return Card(**base)  # type: ignore[arg-type]


def test_device_and_requirements() -> None:
    assert impurity(_card()) is None
    assert impurity(_card(device="cuda")) == "it runs on device `cuda`"
    assert impurity(_card(device="auto")) == "it runs on device `auto`"
    assert impurity(_card(requires=("numpy",))) is None  # loaded in the worker already
    assert impurity(_card(requires=("torchvision",))) == "it requires torchvision"


def test_an_exercise_is_judged_on_what_its_build_runs() -> None:
    """The solution runs after the setup and after each variant: all of them are read."""
    assert impurity(_card(kind="exercise", solution="b = a + 1", answer="b", variants=("a = torch.ones(3)",))) is None
    assert impurity(_card(kind="exercise", solution="torch.set_default_dtype(torch.float64)\nb = a",
                          answer="b")) == "its solution calls `torch.set_default_dtype` (sets process-wide state)"
    assert impurity(_card(kind="exercise", solution="b = a + 1", answer="b",
                          variants=("import os\na = torch.ones(3)",))) == "its variant imports `os`"
    assert impurity(_card(kind="exercise", solution="b = a + 1", answer="b", device="cuda")) == "it runs on device `cuda`"


def test_most_of_the_bundled_deck_is_pure() -> None:
    from generator.paths import bundled_cards_dir

    cards = load([bundled_cards_dir()]).cards
    pure = [c for c in cards if impurity(c) is None]
    assert len(pure) > 0.7 * len(cards), f"{len(pure)} of {len(cards)} pure"
