"""The command line, run as a user runs it: messages pinned, exit codes, no torch where none is needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import main
from tests.conftest import ROOT, run_tnquiz

CARDS = """\
deck: Demo::Basics
tags: [demo]
cards:
  - id: squeeze-one
    question: What is the shape of `torch.squeeze(a, 1)`?
    setup: a = torch.zeros(1, 1, 2, 3)
    code: b = torch.squeeze(a, 1)
    answer: b.shape
    expect: "[1, 2, 3]"
    source: test
  - id: arange-dtype
    question: dtype of `torch.arange(3)`?
    answer: torch.arange(3).dtype
    source: test
"""


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
    assert "2 cards: 2 ok, 0 failed; 2 run, 0 from cache" in cold.stderr
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
    assert "2 cards: 2 ok, 0 failed; 0 run, 2 from cache" in warm.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in warm.stderr.splitlines() if "|" in line]
    assert "generator.api" in imported  # the import log is real
    assert not [m for m in imported if m == "torch" or m.startswith("torch.")]


def test_editing_one_card_reruns_that_card_alone(tmp_path: Path) -> None:
    cards = tmp_path / "demo.yaml"
    cards.write_text(CARDS)
    env = {"TNQUIZ_CACHE_DIR": str(tmp_path / "cache")}
    assert run_tnquiz("build", str(cards), "-o", str(tmp_path / "o"), env=env).returncode == 0
    cards.write_text(CARDS.replace("torch.arange(3)", "torch.arange(3.0)").replace("What is the shape", "Shape"))
    again = run_tnquiz("build", str(cards), "-o", str(tmp_path / "o"), env=env)
    assert "2 cards: 2 ok, 0 failed; 1 run, 1 from cache" in again.stderr


def test_build_and_check_report_failures_with_locations(tmp_path: Path) -> None:
    cards = tmp_path / "bad.yaml"
    cards.write_text(CARDS + """\
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
  - id: typo
    question: q
    anser: "1"
""")
    env = {"TNQUIZ_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "out"
    built = run_tnquiz("build", str(cards), "-o", str(out), env=env)
    assert built.returncode == 1
    assert f"error: {cards}:29 [typo]: unknown field `anser` (did you mean `answer`?)" in built.stderr
    assert f"failed: {cards}:24 [broken]: RuntimeError: shape '[3]' is invalid for input of size 2" in built.stderr
    statuses = {c["id"]: c["status"] for c in json.loads((out / "cards.json").read_text())["cards"]}
    assert statuses == {"squeeze-one": "ok", "arange-dtype": "ok", "wrong-claim": "contradicted", "broken": "failed"}
    checked = run_tnquiz("check", str(cards), env=env)
    assert checked.returncode == 1
    assert f"{cards}:15 [wrong-claim]: expect contradicted by PyTorch\nExpected:\n    (2, 3)\nGot:\n    torch.Size([3, 2])" in checked.stdout
    assert f"{cards}:24 [broken]: RuntimeError: shape '[3]' is invalid for input of size 2\n  {cards}:24: y = x.view(3)" in checked.stdout
    assert checked.stderr.strip() == "Error: 4 cards checked: 2 ok, 0 skipped, 4 problems"


def test_check_passes_on_good_cards_and_list_shows_status(tmp_path: Path) -> None:
    cards = tmp_path / "demo.yaml"
    cards.write_text(CARDS)
    env = {"TNQUIZ_CACHE_DIR": str(tmp_path / "cache")}
    listed = run_tnquiz("list", str(cards), env=env)
    assert listed.stdout.split() == ["squeeze-one", "?", "Demo::Basics", "not", "run",
                                     "arange-dtype", "?", "Demo::Basics", "not", "run"]
    checked = run_tnquiz("check", str(cards), env=env)
    assert checked.returncode == 0
    assert checked.stdout.strip() == "2 cards checked: 2 ok, 0 skipped, 0 problems"
    listed = run_tnquiz("list", str(cards), "--tag", "demo", env=env)
    assert listed.stdout.split() == ["squeeze-one", "shape", "Demo::Basics", "ok",
                                     "arange-dtype", "dtype", "Demo::Basics", "ok"]
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
