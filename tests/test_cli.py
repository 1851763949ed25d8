"""The command line, run as a user runs it: messages pinned, exit codes, no torch where none is needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import Progress, main
from generator.model import Card, Outcome
from tests.conftest import DEMO_CARDS, ROOT, Built, run_tnquiz

CARDS = DEMO_CARDS  # squeeze-one (shape), arange-dtype (dtype)


@pytest.mark.parametrize("command", [[], ["build"], ["check"], ["list"], ["cache"], ["cache", "info"],
                                     ["cache", "clear"], ["quiz"], ["stats"]])
def test_every_command_has_help_with_an_example(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output or command[-1:] == ["info"] or command[-1:] == ["clear"]


def test_missing_path_is_one_clear_line(tmp_path: Path) -> None:
    result = run_tnquiz("check", str(tmp_path / "nope.yaml"))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert f"{tmp_path / 'nope.yaml'}:0: no such file or folder" in result.stdout + result.stderr


def test_build_writes_everything_then_a_warm_build_imports_no_torch(tmp_path: Path) -> None:
    cards = tmp_path / "demo.yaml"
    cards.write_text(CARDS)
    env = {"TNQUIZ_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "out"
    cold = run_tnquiz("build", str(cards), "--out", str(out), env=env)
    assert cold.returncode == 0, cold.stderr
    assert "2 cards: 2 ok; 2 run, 0 from cache" in cold.stderr
    assert {p.name for p in out.iterdir()} >= {"cards.json", "tnquiz.apkg", "quiz.html"}
    data = json.loads((out / "cards.json").read_text())
    assert data["format"] == 1
    first = data["cards"][0]
    assert first["id"] == "squeeze-one" and first["status"] == "ok" and first["kind"] == "shape"
    assert first["answer"]["text"] == "torch.Size([1, 2, 3])" and first["answer"]["shape"] == [1, 2, 3]
    assert first["ran_on"] == "cpu" and first["torch_version"].startswith("2.")
    # nothing changed: no worker, no torch, not even imported by the main process
    warm = subprocess.run([sys.executable, "-X", "importtime", "-m", "generator", "build", str(cards),
                           "--out", str(out)], env={**os.environ, **env}, cwd=ROOT,
                          capture_output=True, text=True)
    assert warm.returncode == 0, warm.stderr
    assert "2 cards: 2 ok; 0 run, 2 from cache" in warm.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in warm.stderr.splitlines() if "|" in line]
    assert "generator.api" in imported  # the import log is real
    assert not [m for m in imported if m == "torch" or m.startswith("torch.")]


def test_editing_one_card_reruns_that_card_alone(demo_deck: Built, tmp_path: Path) -> None:
    cards, env, out = demo_deck.copy_to(tmp_path)  # CARDS built: both results in the cache
    cards.write_text(CARDS.replace("torch.arange(3)", "torch.arange(3.0)").replace("What is the shape", "Shape"))
    again = run_tnquiz("build", str(cards), "-o", str(out), env=env)
    assert "2 cards: 2 ok; 1 run, 1 from cache" in again.stderr


BAD_CARDS = CARDS + """\
  - id: wrong-claim
    question: q
    answer: torch.zeros(2, 3).t().shape
    expect: "(2, 3)"
    source: test
  - id: broken
    question: q
    code: |
      x = torch.zeros(2)
      y = x.view(3)
    answer: y
    source: test
"""


def test_build_and_check_report_failures_with_locations(tmp_path: Path) -> None:
    cards = tmp_path / "bad.yaml"
    cards.write_text(BAD_CARDS)
    env = {"TNQUIZ_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "out"
    built = run_tnquiz("build", str(cards), "-o", str(out), env=env)
    assert built.returncode == 1, built.stderr
    assert f"failed: {cards}:24 [broken]: RuntimeError: shape '[3]' is invalid for input of size 2" in built.stderr
    assert f"warning: {cards}:18 [wrong-claim]: expect contradicted by PyTorch" in built.stderr
    assert "4 cards: 2 ok, 1 contradicted, 1 failed; 4 run, 0 from cache" in built.stderr
    statuses = {c["id"]: c["status"] for c in json.loads((out / "cards.json").read_text())["cards"]}
    assert statuses == {"squeeze-one": "ok", "arange-dtype": "ok", "wrong-claim": "contradicted", "broken": "failed"}
    checked = run_tnquiz("check", str(cards), env=env)
    assert checked.returncode == 1
    assert f"{cards}:18 [wrong-claim]: expect contradicted by PyTorch\nExpected:\n    (2, 3)\nGot:\n    torch.Size([3, 2])" in checked.stdout
    assert f"{cards}:24 [broken]: RuntimeError: shape '[3]' is invalid for input of size 2\n  {cards}:24: y = x.view(3)" in checked.stdout
    assert checked.stderr.strip().splitlines()[-1] == "Error: 4 cards: 2 ok, 1 contradicted, 1 failed; 2 problems"
    listed = run_tnquiz("list", str(cards), env=env)
    assert listed.returncode == 0
    assert [line.split() for line in listed.stdout.splitlines()] == [
        ["ID", "KIND", "DECK", "STATUS"],
        ["squeeze-one", "shape", "Demo::Basics", "ok"],
        ["arange-dtype", "dtype", "Demo::Basics", "ok"],
        ["wrong-claim", "shape", "Demo::Basics", "contradicted"],
        ["broken", "?", "Demo::Basics", "failed"],  # never a blank kind
    ]
    assert listed.stderr.strip() == "4 cards: 2 ok, 1 contradicted, 1 failed"


def _built_deck(demo_deck: Built, tmp_path: Path) -> tuple[Path, dict[str, str], Path, dict[str, bytes]]:
    """A copy of CARDS as built (card file, cache, out) in tmp_path: (card file, env, out, every file
    of out with its bytes)."""
    cards, env, out = demo_deck.copy_to(tmp_path)
    return cards, env, out, {p.name: p.read_bytes() for p in out.iterdir()}


def test_a_card_file_that_does_not_load_writes_nothing_and_exits_2(demo_deck: Built, tmp_path: Path) -> None:
    """A typo must never silently drop cards from a deck: report every problem, write nothing."""
    cards, env, out, before = _built_deck(demo_deck, tmp_path)
    cards.write_text(BAD_CARDS + """\
  - id: typo
    question: q
    anser: "1"
  - id: typo-two
    question: q
    answer: "1"
    timeout: soon
""")
    built = run_tnquiz("build", str(cards), "-o", str(out), env=env)
    assert built.returncode == 2
    assert "Traceback" not in built.stderr
    assert f"error: {cards}:29 [typo]: unknown field `anser` (did you mean `answer`?)" in built.stderr
    assert f"error: {cards}:33 [typo-two]: " in built.stderr
    assert "0 cards: 0 ok; 2 not loaded" in built.stderr
    assert f"nothing written: 2 cards could not be loaded; {out}/ is untouched" in built.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    checked = run_tnquiz("check", str(cards), env=env)  # check still runs what loaded, and says all
    assert checked.returncode == 2
    assert f"{cards}:29 [typo]: unknown field `anser`" in checked.stdout
    assert f"{cards}:24 [broken]: RuntimeError" in checked.stdout
    assert checked.stderr.strip().splitlines()[-1] == "Error: 4 cards: 2 ok, 1 contradicted, 1 failed; 2 not loaded; 5 problems"
    listed = run_tnquiz("list", str(cards), env=env)
    assert listed.returncode == 2
    assert listed.stderr.strip().splitlines()[-1] == "4 cards: 2 ok, 1 contradicted, 1 failed; 2 not loaded"


def test_a_missing_path_or_no_cards_leaves_the_outputs_byte_identical(demo_deck: Built, tmp_path: Path) -> None:
    _, env, out, before = _built_deck(demo_deck, tmp_path)
    missing = run_tnquiz("build", str(tmp_path / "nonexistent"), "-o", str(out), env=env)
    assert missing.returncode == 2
    assert missing.stderr.splitlines() == [
        f"error: {tmp_path / 'nonexistent'}:0: no such file or folder",
        "0 cards: 0 ok; 1 not loaded",
        f"nothing written: 1 card could not be loaded; {out}/ is untouched",
    ]
    empty = tmp_path / "empty.yaml"
    empty.write_text("deck: Demo\ncards: []\n")
    nothing = run_tnquiz("build", str(empty), "-o", str(out), env=env)
    assert nothing.returncode == 2
    assert f"nothing written: no cards were found; {out}/ is untouched" in nothing.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    checked = run_tnquiz("check", str(empty), env=env)
    assert (checked.returncode, checked.stderr.strip()) == (2, "Error: no cards to check; 0 cards: 0 ok; 0 problems")


def test_device_cuda_without_a_gpu_is_an_error_with_a_hint(tmp_path: Path) -> None:
    from generator.execute.runner import cuda_present

    if cuda_present():
        pytest.skip("this machine has a GPU: --device cuda is valid here")
    cards = tmp_path / "demo.yaml"
    cards.write_text(CARDS)
    out = tmp_path / "out"
    for command in (["build", str(cards), "-o", str(out)], ["check", str(cards)]):
        result = run_tnquiz(*command, "--device", "cuda")
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == (
            "Error: --device cuda: no CUDA GPU is available here (no NVIDIA driver, or a CPU-only "
            "torch build); use `--device auto` to run cards on the GPU where there is one and on "
            "the CPU elsewhere")
    assert not out.exists()


def test_check_passes_on_good_cards_and_list_shows_status(tmp_path: Path) -> None:
    cards = tmp_path / "demo.yaml"
    cards.write_text(CARDS)
    env = {"TNQUIZ_CACHE_DIR": str(tmp_path / "cache")}
    listed = run_tnquiz("list", str(cards), env=env)
    assert listed.stdout.split() == ["ID", "KIND", "DECK", "STATUS",
                                     "squeeze-one", "?", "Demo::Basics", "not", "run",
                                     "arange-dtype", "?", "Demo::Basics", "not", "run"]
    assert listed.stderr.strip() == "2 cards: 0 ok, 2 not run"
    checked = run_tnquiz("check", str(cards), env=env)
    assert checked.returncode == 0
    assert checked.stdout.strip() == "2 cards: 2 ok; 0 problems"
    listed = run_tnquiz("list", str(cards), "--tag", "demo", env=env)
    assert listed.stdout.split() == ["ID", "KIND", "DECK", "STATUS",
                                     "squeeze-one", "shape", "Demo::Basics", "ok",
                                     "arange-dtype", "dtype", "Demo::Basics", "ok"]
    assert listed.stderr.strip() == "2 cards: 2 ok"
    listed = run_tnquiz("list", str(cards), "--deck", "demo::BASICS", env=env)  # as `quiz --deck`
    assert len(listed.stdout.splitlines()) == 3
    listed = run_tnquiz("list", str(cards), "--deck", "Demo::Basic", env=env)  # whole parts only
    assert (listed.stdout, listed.stderr) == ("", "no cards match\n0 cards: 0 ok\n")
    info = run_tnquiz("cache", "info", env=env)
    assert info.stdout.startswith(f"{tmp_path / 'cache'}: 2 results")
    cleared = run_tnquiz("cache", "clear", env=env)
    assert cleared.stdout.strip() == f"removed 2 results from {tmp_path / 'cache'}"


def test_installed_wheel_builds_the_bundled_deck_from_any_directory(tmp_path: Path) -> None:
    """`pip install .` (not editable): templates and cards ship inside the wheel."""
    wheel_dir = tmp_path / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheel_dir), str(ROOT)], check=True, capture_output=True)
    (wheel,) = wheel_dir.glob("tnquiz-*.whl")
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("generator/_bundled/cards/") and n.endswith(".yaml") for n in names)
    assert any(n.startswith("generator/_bundled/templates/html/") for n in names)
    assert any(n.startswith("generator/_bundled/templates/anki/") for n in names)
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                    str(wheel)], check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(site), "TNQUIZ_CACHE_DIR": str(tmp_path / "cache")}
    here = tmp_path / "elsewhere"
    here.mkdir()
    listed = subprocess.run([sys.executable, "-c", "import generator.paths as p; print(p.bundled_cards_dir()); print(p.templates_dir())"],
                            cwd=here, env=env, capture_output=True, text=True, check=True)
    assert listed.stdout.splitlines() == [str(site / "generator/_bundled/cards"), str(site / "generator/_bundled/templates")]
    listing = subprocess.run([sys.executable, "-m", "generator", "list"], cwd=here, env=env,
                             capture_output=True, text=True)
    assert listing.returncode == 0, listing.stderr
    assert len(listing.stdout.splitlines()) >= 200


def _outcome(n: int, executed: bool) -> Outcome:
    return Outcome(Card(id=f"c{n}", deck="D", file="f.yaml", line=n, question="q", kind=""), "cpu",
                   executed=executed)


def test_progress_without_a_terminal_prints_a_line_every_few_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    now = [100.0]
    progress = Progress(tty=False, every=5.0, min_cards=3, clock=lambda: now[0])
    progress.start(12)
    for n in range(4):  # cached: instant, and they say nothing about how long the rest takes
        progress.step(_outcome(n, executed=False))
    assert progress.eta() is None
    for n in range(4, 12):
        now[0] += 2.0  # each card that runs takes 2 s (the first one includes the worker start)
        progress.step(_outcome(n, executed=True))
        if n == 5:
            assert progress.eta() is None  # not before 3 cards ran
    progress.close()
    assert capsys.readouterr().err.splitlines() == [
        "running cards: 7/12, about 10 s left",  # t = 6 s: 3 ran in 6 s, 5 left
        "running cards: 10/12, about 4 s left",  # t = 12 s (t = 16 s is the end: no line)
    ]


def test_progress_on_a_terminal_redraws_one_line_and_clears_it(capsys: pytest.CaptureFixture[str]) -> None:
    now = [0.0]
    progress = Progress(tty=True, clock=lambda: now[0])
    progress.start(2)
    for n in range(2):
        now[0] += 1.0
        progress.step(_outcome(n, executed=True))
    progress.close()
    err = capsys.readouterr().err
    assert err == "\r\x1b[Krunning cards: 1/2 [c0]\r\x1b[Krunning cards: 2/2 [c1]\r\x1b[K"


def test_the_build_summary_says_how_to_get_the_skipped_cards(tmp_path: Path) -> None:
    from generator.execute.cache import package_version
    from generator.execute.runner import cuda_present

    if cuda_present() or package_version("torchvision"):
        pytest.skip("needs a machine without a GPU and without torchvision")
    cards = tmp_path / "optional.yaml"
    cards.write_text("""\
deck: Optional
cards:
  - id: vision-{i}
    params: {i: [1, 2]}
    question: q
    answer: torchvision.__version__
    requires: [torchvision]
  - id: gpu
    question: q
    answer: torch.zeros(1).device.type
    device: cuda
""")
    built = run_tnquiz("build", str(cards), "-o", str(tmp_path / "out"))
    assert built.returncode == 0, built.stderr
    assert built.stderr.splitlines()[:3] == [
        "3 cards: 0 ok, 3 skipped; 0 run, 0 from cache",
        "  skipped: 1 need a GPU: build with `--device auto` on a machine with one",
        "  skipped: 2 need torchvision: `pip install torchvision`",
    ]


def test_build_and_check_pass_on_the_runner_warnings_once(tmp_path: Path) -> None:
    cards = tmp_path / "demo.yaml"
    cards.write_text(CARDS)
    env = {"TNQUIZ_CACHE_DIR": str(tmp_path / "cache"), "TNQUIZ_SANDBOX": "0"}
    for command in (["check", str(cards), "--no-cache"], ["build", str(cards), "-o", str(tmp_path / "out")]):
        result = run_tnquiz(*command, env=env)
        assert result.returncode == 0, result.stderr
        assert result.stderr.splitlines().count("warning: TNQUIZ_SANDBOX=0: cards run without a sandbox") == 1


def test_a_build_is_what_the_quiz_studies_next(demo_deck: Built, tmp_path: Path) -> None:
    cards, env, _ = demo_deck.copy_to(tmp_path)  # a warm cache: the build runs nothing
    env["TNQUIZ_DB"] = str(tmp_path / "data" / "reviews.sqlite3")
    out = tmp_path / "mine"
    assert run_tnquiz("build", str(cards), "-o", str(out), env=env).returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    quiz = run_tnquiz("quiz", "--json", cwd=elsewhere, env=env)
    assert quiz.returncode == 0, quiz.stderr
    d = json.loads(quiz.stdout)
    assert d["cards_file"] == str((out / "cards.json").resolve())
    assert d["cards_file_why"] == "the last deck built; `tnquiz quiz FOLDER` picks another"
