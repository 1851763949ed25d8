"""`tnquiz import` end to end: real notes, the real worker and torch, the real CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from generator.execute.runner import cuda_present
from tests.conftest import run_tnquiz

WRONG_AND_RIGHT = """# Notes on shapes

```python
import torch
a = torch.zeros(2, 3)
print(a.shape)  # torch.Size([2, 3])
a.t().shape  # torch.Size([2, 3])
a.dtype  # => float32
```

## An error

```python
b = torch.zeros(2, 3).view(6, -1)
torch.zeros(2, 3).t().view(6)
```

```text
RuntimeError: view size is not compatible with input tensor's size and stride
```

```python
torch.ones(2) + torch.ones(3)  # 输出: tensor([2., 2.])
print(b.shape)  # torch.Size([6, 1])
```

## Random

```python
print(torch.rand(2, 2))
#> tensor([[0.1234, 0.5678],
#>         [0.9012, 0.3456]])
print(torch.rand(3))  # tensor([0.1, 0.2])
```

## Seeded

```python
torch.manual_seed(0)
torch.rand(2)  # tensor([0.4963, 0.7682])
```
"""


def _import(tmp_path: Path, name: str, text: str, *args: str):  # type: ignore[no-untyped-def]
    note = tmp_path / name
    note.write_text(text, encoding="utf-8")
    return note, run_tnquiz("import", name, *args, cwd=tmp_path)


def test_verdicts_json_and_exit_status(tmp_path: Path) -> None:
    _, r = _import(tmp_path, "shapes.md", WRONG_AND_RIGHT, "--json")
    assert r.returncode == 1, r.stderr
    assert "Error: 9 claims in the notes: 5 confirmed, 2 contradicted, 1 random, 1 error" in r.stderr
    doc = json.loads(r.stdout)
    rows = [(c["line"], c["verdict"]) for c in doc["claims"]]
    assert rows == [(6, "confirmed"), (7, "contradicted"), (8, "confirmed"), (19, "confirmed"),
                    (23, "error"), (24, "confirmed"), (31, "random"), (33, "contradicted"),
                    (40, "confirmed")]
    first = doc["claims"][1]
    assert set(first) == {"file", "line", "code", "claimed", "actual", "verdict", "reason"}
    assert first["file"] == "shapes.md" and first["code"] == "a.t().shape"
    assert first["claimed"] == "torch.Size([2, 3])" and first["actual"] == "torch.Size([3, 2])"
    assert doc["claims"][4]["actual"].startswith("RuntimeError: The size of tensor a (2) must match")
    assert "unseeded random generator" in doc["claims"][6]["reason"]
    assert "structure" in doc["claims"][7]["reason"]  # 3 random numbers are not 2
    assert doc["summary"] == {"claims": 9, "confirmed": 5, "contradicted": 2, "random": 1, "error": 1,
                              "skipped": 0, "unchecked": 0}


def test_text_report_names_the_place_the_claim_and_the_truth(tmp_path: Path) -> None:
    _, r = _import(tmp_path, "shapes.md", WRONG_AND_RIGHT)
    assert r.returncode == 1
    block = r.stdout.split("\n\n")[1]
    assert block.splitlines()[0] == "shapes.md:7: contradicted"
    assert "  claimed:\n      torch.Size([2, 3])" in block
    assert "torch.Size([3, 2])" in block
    assert "Traceback" not in r.stdout + r.stderr


GPU_AND_PACKAGES = """# GPU

```python
import torch
x = torch.ones(2)
g = x.cuda()
print(g.device)  # -> cuda:0
print(x.sum())  # tensor(2.)
```

```python
import not_a_package_tnquiz
not_a_package_tnquiz.version()  # '1.0'
```

```python
dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
torch.ones(2, device=dev).shape  # torch.Size([2])
```
"""


def test_gpu_blocks_and_missing_packages_are_skipped_with_the_reason(tmp_path: Path) -> None:
    _, r = _import(tmp_path, "gpu.md", GPU_AND_PACKAGES, "--json", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [(c["line"], c["verdict"]) for c in doc["claims"]] == [
        (7, "skipped"), (8, "confirmed"), (13, "skipped"), (18, "confirmed")]
    assert doc["claims"][0]["reason"] == "needs a GPU: no CUDA device is available"
    assert doc["claims"][2]["reason"] == "needs the package `not_a_package_tnquiz`: it is not installed"


@pytest.mark.cuda
@pytest.mark.skipif(not cuda_present(), reason="needs a CUDA GPU: CI has none")
def test_gpu_blocks_run_where_there_is_a_gpu(tmp_path: Path) -> None:
    _, r = _import(tmp_path, "gpu.md", GPU_AND_PACKAGES, "--json")
    doc = json.loads(r.stdout)
    assert [(c["line"], c["verdict"]) for c in doc["claims"]] == [
        (7, "confirmed"), (8, "confirmed"), (13, "skipped"), (18, "confirmed")]


def test_a_raising_block_does_not_stop_the_rest_of_a_plain_text_note(tmp_path: Path) -> None:
    text = """切片
import torch
t = torch.arange(6)
t[10]
IndexError: index 10 is out of bounds for dimension 0 with size 6
t.view(2, 3).shape
torch.Size([2, 3])
t.view(4, 2)
tensor([[0, 1], [2, 3]])
t.sum()
tensor(15)
"""
    _, r = _import(tmp_path, "slices.txt", text, "--json")
    doc = json.loads(r.stdout)
    assert [(c["line"], c["verdict"]) for c in doc["claims"]] == [
        (5, "confirmed"), (7, "confirmed"), (9, "error"), (11, "confirmed")]
    assert doc["claims"][2]["actual"].startswith("RuntimeError: shape '[4, 2]' is invalid")


def test_drafts_build_with_check_and_every_contradiction_is_an_expect_mismatch(tmp_path: Path) -> None:
    out = tmp_path / "drafts"
    _, r = _import(tmp_path, "shapes.md", WRONG_AND_RIGHT, "--out", "drafts")
    assert "draft: drafts/shapes.yaml: new (9 cards)" in r.stderr
    c = run_tnquiz("check", "drafts", cwd=tmp_path)
    assert c.returncode == 1
    mismatches = [ln for ln in c.stdout.splitlines() if "expect contradicted by PyTorch" in ln]
    assert [m.split(" [")[1].split("]")[0] for m in mismatches] == [
        "shapes-notes-on-shapes-2", "shapes-random-2"]
    assert "9 cards: 6 ok, 2 contradicted, 1 failed; 3 problems" in c.stderr  # the `error` claim raised
    text = (out / "shapes.yaml").read_text(encoding="utf-8")
    assert "The note claims:\n    torch.Size([2, 3])\n    but PyTorch" in text


def test_reimport_never_overwrites_an_edited_draft(tmp_path: Path) -> None:
    out = Path("drafts")
    _import(tmp_path, "shapes.md", WRONG_AND_RIGHT, "--out", str(out))
    draft = tmp_path / out / "shapes.yaml"
    first = draft.read_text(encoding="utf-8")
    _, r = _import(tmp_path, "shapes.md", WRONG_AND_RIGHT, "--out", str(out))
    assert "draft: drafts/shapes.yaml: unchanged (9 cards)" in r.stderr
    edited = first.replace("question: 'Notes on shapes: what", "question: 'My own words: what", 1)
    assert edited != first
    draft.write_text(edited, encoding="utf-8")
    _, r = _import(tmp_path, "shapes.md", WRONG_AND_RIGHT.replace("a.dtype  # => float32", "a.dtype  # => float64"),
                   "--out", str(out))
    assert draft.read_text(encoding="utf-8") == edited
    beside = tmp_path / out / "shapes.new.yaml"
    assert ("draft: drafts/shapes.yaml: edited since it was drafted, left as it is; "
            "wrote the new draft beside it: drafts/shapes.new.yaml (9 cards)") in r.stderr
    assert "float64" in beside.read_text(encoding="utf-8")


@pytest.mark.parametrize("name,content,message", [
    ("notes.pdf", b"%PDF", "notes.pdf: expected a Markdown (.md) or plain-text (.txt) note, found .pdf"),
    ("bad.md", b"\xff\xfe", "bad.md: expected UTF-8 text, found byte 0xff at offset 0"),
])
def test_unreadable_notes_are_named(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    (tmp_path / name).write_bytes(content)
    r = run_tnquiz("import", name, cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr == f"Error: {message}\n"


# CI keeps the seed notes in ../shared/seeds beside the repo; TNQUIZ_SEEDS_DIR points elsewhere
SEEDS = Path(os.environ.get("TNQUIZ_SEEDS_DIR") or Path(__file__).resolve().parents[2] / "shared" / "seeds")
EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "import"


@pytest.mark.slow
@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seed notes are not checked out beside the repo")
def test_the_seed_notes_give_the_verdicts_in_the_committed_example() -> None:
    names = sorted(p.name for p in SEEDS.glob("*.txt"))
    r = run_tnquiz("import", "--json", *(f"seeds/{n}" for n in names), cwd=SEEDS.parent)
    assert r.returncode == 0, r.stderr  # nothing in them is contradicted; four claims raise
    doc = json.loads(r.stdout)
    committed = json.loads((EXAMPLE / "report.json").read_text(encoding="utf-8"))
    assert [(c["file"], c["line"], c["verdict"]) for c in doc["claims"]] == [
        (c["file"], c["line"], c["verdict"]) for c in committed["claims"]]
    assert doc["summary"] == committed["summary"] == {
        "claims": 24, "confirmed": 20, "contradicted": 0, "random": 0, "error": 4, "skipped": 0,
        "unchecked": 0}


def test_a_note_that_kills_its_session_fails_alone(tmp_path: Path) -> None:
    (tmp_path / "crash.md").write_text("""```python
import os, signal
x = torch.ones(2)
os.kill(os.getpid(), signal.SIGKILL)
x.sum()  # tensor(2.)
```
""", encoding="utf-8")
    (tmp_path / "fine.md").write_text("""```python
torch.ones(3).sum()  # tensor(3.)
```
""", encoding="utf-8")
    r = run_tnquiz("import", "--json", "crash.md", "fine.md", cwd=tmp_path)
    doc = json.loads(r.stdout)
    assert [(c["file"], c["verdict"]) for c in doc["claims"]] == [("crash.md", "error"), ("fine.md", "confirmed")]
    assert doc["claims"][0]["reason"] == "crash.md:1 [crash]: crashed: the interpreter was killed by SIGKILL (out of memory?)"


def test_a_folder_of_notes_with_the_same_stem_and_code_that_does_not_compile(tmp_path: Path) -> None:
    (tmp_path / "notes" / "a").mkdir(parents=True)
    (tmp_path / "notes" / "b").mkdir()
    (tmp_path / "notes" / "a" / "x.md").write_text("""```python
v = torch.arange(3)
print(v +)
```
Output:
```text
tensor([0, 1, 2])
```

```python
v.sum()  # tensor(3)
```
""", encoding="utf-8")
    (tmp_path / "notes" / "b" / "x.txt").write_text("import torch\ntorch.ones(2).shape\n# torch.Size([2])\n",
                                                    encoding="utf-8")
    r = run_tnquiz("import", "notes", "--out", "drafts", "--json", cwd=tmp_path)
    doc = json.loads(r.stdout)
    assert [(c["file"], c["line"], c["verdict"]) for c in doc["claims"]] == [
        ("notes/a/x.md", 7, "error"), ("notes/a/x.md", 11, "confirmed"), ("notes/b/x.txt", 3, "confirmed")]
    assert doc["claims"][0]["actual"].startswith("SyntaxError")
    assert "draft: drafts/x.yaml: new (1 card)" in r.stderr
    assert "draft: drafts/b-x.yaml: new (1 card)" in r.stderr
    (tmp_path / "notes" / "prose.md").write_text("Just words.\n", encoding="utf-8")
    r = run_tnquiz("import", "notes/prose.md", "--out", "drafts", cwd=tmp_path)
    assert r.stderr == "draft: notes/prose.md: no claim tied to code, no draft\n"
    assert r.stdout == "0 claims in the notes: 0 confirmed, 0 contradicted, 0 random, 0 error, 0 skipped, 0 unchecked\n"
    draft = (tmp_path / "drafts" / "x.yaml").read_text(encoding="utf-8")
    assert "\n# x.md:7: no card: its code does not compile (line 3: SyntaxError: invalid syntax)\n" in draft
    c = run_tnquiz("check", "drafts", cwd=tmp_path)
    assert c.returncode == 0, c.stdout + c.stderr
    assert "2 cards: 2 ok; 0 problems" in c.stdout


def test_doctest_and_ipython_sessions_are_checked(tmp_path: Path) -> None:
    text = """In [1]: m = torch.arange(6).view(2, 3)

In [2]: m[:, 1]
Out[2]: tensor([1, 4])

In [3]: m.T.shape
Out[3]: torch.Size([2, 3])

>>> for r in m:
...     print(r.sum().item())
3
12
"""
    _, r = _import(tmp_path, "ipy.txt", text, "--json")
    doc = json.loads(r.stdout)
    assert [(c["line"], c["verdict"], c["actual"]) for c in doc["claims"]] == [
        (4, "confirmed", "tensor([1, 4])"), (7, "contradicted", "torch.Size([3, 2])"),
        (11, "confirmed", "3\n12")]
