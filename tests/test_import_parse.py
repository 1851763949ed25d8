"""Finding code steps and claims in notes (torch-free): every format `tnquiz import` supports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from generator.importer.parse import Note, parse_note


def claims(text: str, name: str = "note.md") -> list[tuple[int, str, str, str]]:
    """(line, target, claimed, code of the claim's steps) for each claim of a note."""
    note = parse_note(Path(name), text)
    return [(c.line, c.target, c.claimed, "\n".join(note.steps[i].code for i in c.steps))
            for c in note.claims]


def test_trailing_comment_claims_in_every_spelling() -> None:
    text = """# Shapes

```python
import torch
w = torch.ones(4, 5)
print(w.shape)  # torch.Size([4, 5])
w.sum()  # 输出: tensor(20.)
w.t().shape  # -> (5, 4)
w.dtype  # => torch.float32
v = w[0]  # the first row, a remark and not a claim
w.numel()  # counts the elements
```
"""
    assert claims(text) == [
        (6, "stdout", "torch.Size([4, 5])", "print(w.shape)"),
        (7, "value", "tensor(20.)", "w.sum()"),
        (8, "value", "(5, 4)", "w.t().shape"),
        (9, "value", "torch.float32", "w.dtype"),
    ]


def test_pytest_examples_style_lines_and_comment_lines_after_an_expression() -> None:
    text = """```python
q = torch.arange(6).reshape(2, 3)
print(q)
#> tensor([[0, 1, 2],
#>         [3, 4, 5]])
q.shape
# torch.Size([2, 3])
# 这是一个注释
```
"""
    assert claims(text) == [
        (4, "stdout", "tensor([[0, 1, 2],\n[3, 4, 5]])", "print(q)"),
        (7, "value", "torch.Size([2, 3])", "q.shape"),
    ]


def test_output_fence_right_after_the_code_fence() -> None:
    for lang in ("", "text", "output", "console"):
        text = f"""Try it:

```python
m = torch.eye(2)
print(m.sum())
```

```{lang}
tensor(2.)
```
"""
        (got,) = claims(text)
        assert got[1:] == ("stdout", "tensor(2.)", "m = torch.eye(2)\nprint(m.sum())"), lang


def test_a_plain_fence_after_prose_is_not_output() -> None:
    text = """```python
m = torch.eye(2)
print(m)
```

Then run this in a shell:

```
pip install torch
```
"""
    assert claims(text) == []


def test_labels_in_english_and_chinese() -> None:
    for label in ("Output:", "输出：", "运行结果：", "输出结果如下：", "我们得到的结果如下，"):
        text = f"""## 拼接

```python
k = torch.cat([torch.zeros(1, 2), torch.ones(1, 2)])
print(k.shape)
```
{label}
torch.Size([2, 2])
"""
        (got,) = claims(text)
        assert got[:3] == (8, "stdout", "torch.Size([2, 2])"), label


def test_a_label_before_an_output_fence() -> None:
    text = """```python
print(torch.tensor([1, 2]) * 3)
```
Output:
```python
tensor([3, 6])
```
"""
    assert claims(text) == [(6, "stdout", "tensor([3, 6])", "print(torch.tensor([1, 2]) * 3)")]


def test_doctest_sessions() -> None:
    text = """Some doctest:

```pycon
>>> t = torch.tensor([[1, 2], [3, 4]])
>>> t.T
tensor([[1, 3],
        [2, 4]])
>>> for row in t:
...     print(row.sum().item())
3
7
```
"""
    assert claims(text) == [
        (6, "doctest", "tensor([[1, 3],\n        [2, 4]])", "t.T"),
        (10, "doctest", "3\n7", "for row in t:\n    print(row.sum().item())"),
    ]


def test_plain_text_note_where_code_prose_and_output_alternate() -> None:
    text = """reshape
reshape 可以改变形状,元素个数不变
import torch
r = torch.arange(8)
r.reshape(2, 4).shape
# torch.Size([2, 4])
下面看看转置的例子
s = r.reshape(2, 4)
print(s.t())
打印的结果如下:
tensor([[0, 4],
[1, 5],
[2, 6],
[3, 7]])
最后
s.shape
torch.Size([2, 4])
"""
    got = claims(text, "note.txt")
    assert [g[:3] for g in got] == [
        (6, "value", "torch.Size([2, 4])"),
        (11, "stdout", "tensor([[0, 4],\n[1, 5],\n[2, 6],\n[3, 7]])"),
        (17, "value", "torch.Size([2, 4])"),
    ]
    note = parse_note(Path("note.txt"), text)
    assert note.claims[0].heading == "reshape"
    # the plain-text claim after the label needs the earlier region, which defines `r`
    needs = note.needs(note.claims[1])
    assert "r = torch.arange(8)" in [note.steps[i].code for i in needs]


def test_pasted_code_that_lost_its_indentation_is_repaired() -> None:
    text = """for v in [1, 2]:
print(v * 10)
结果如下:
10
20
"""
    (got,) = claims(text, "n.txt")
    assert got == (4, "stdout", "10\n20", "for v in [1, 2]:\n    print(v * 10)")


def test_a_mixed_note_and_the_dependencies_of_each_claim() -> None:
    text = """# Mixed

```python
import torch
base = torch.zeros(3, 1)
unused = torch.ones(9)
```

## squeeze

```python
sq = base.squeeze(1)
sq.shape  # torch.Size([3])
```

```pycon
>>> sq.sum()
tensor(0.)
```
"""
    note = parse_note(Path("mixed.md"), text)
    assert [(c.line, c.target, c.heading) for c in note.claims] == [
        (13, "value", "squeeze"), (18, "doctest", "squeeze")]
    codes = [note.steps[i].code for i in note.needs(note.claims[1])]
    assert codes == ["base = torch.zeros(3, 1)", "sq = base.squeeze(1)", "sq.sum()"]
    assert "unused" not in "\n".join(codes)


def test_a_block_that_does_not_compile_is_one_failing_step_and_the_rest_still_parses() -> None:
    text = """```python
ok = 1
print(ok +)
print(ok)  # 1
```
"""
    note: Note = parse_note(Path("bad.md"), text)
    assert [s.mode for s in note.steps] == ["exec", "syntax", "exec"]
    assert note.steps[1].error.startswith("SyntaxError")
    assert [c.claimed for c in note.claims] == ["1"]


def test_output_with_no_code_before_it_is_unchecked() -> None:
    text = """Output:
```text
tensor([1.])
```
"""
    note = parse_note(Path("lonely.md"), text)
    (claim,) = note.claims
    assert claim.steps == () and "no code" in claim.reason


def test_the_importer_never_imports_torch() -> None:
    code = ("import sys, generator.cli, generator.importer.check, generator.importer.draft, "
            "generator.importer.report, generator.execute.session; "
            "from generator.importer.parse import parse_note; "
            "parse_note('n.md', '```python\\nimport torch\\ntorch.ones(2)  # tensor([1., 1.])\\n```\\n'); "
            "print('torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert r.stdout == "False\n"


def test_numpy_arrays_are_output_too() -> None:
    text = """```python
import numpy as np
np.arange(3)  # array([0, 1, 2])
```
"""
    assert claims(text) == [(3, "value", "array([0, 1, 2])", "np.arange(3)")]


def test_ipython_prompts_and_doctest_in_a_plain_text_note() -> None:
    text = """索引
In [1]: m = torch.arange(6).view(2, 3)

In [2]: m[:, 1]
Out[2]: tensor([1, 4])

In [3]: for r in m:
   ...:     print(r.sum().item())
   ...:
3
12
再看 doctest
>>> m.shape
torch.Size([2, 3])
"""
    assert claims(text, "ipy.txt") == [
        (5, "doctest", "tensor([1, 4])", "m[:, 1]"),
        (10, "doctest", "3\n12", "for r in m:\n    print(r.sum().item())"),
        (14, "doctest", "torch.Size([2, 3])", "m.shape"),
    ]
