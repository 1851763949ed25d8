"""Study notes -> code steps and the claims made about them (torch-free).

A note is Markdown or plain text. Its code is cut into *steps* (one top-level statement each, run in
order in one session); a *claim* is what the note says a step (or a run of steps) gives. Claims hide in:

1. a trailing comment on a printing line or a bare expression: ``print(x.shape)  # torch.Size([2, 3])``,
   also ``# 输出: ...``, ``# -> ...``, ``# => ...``, ``# shape=[2, 3]``;
2. comment lines right after such a line (``#> ...`` always; ``# ...`` when the text looks like output);
3. a fence with no language / ``text`` / ``output`` / ``console`` right after a code fence, or plain lines
   (or a fence) after a label such as ``Output:``, ``输出：``, ``运行结果：``, ``输出结果如下：``;
4. doctest sessions: ``>>>``/``...`` prompts with the expected output on the next lines (IPython's
   ``In [1]:``/``...:``/``Out[1]:`` prompts too);
5. lines that look like output right after a bare expression or a print, in a fence or in a plain-text
   note with no fences at all, where code lines, prose and pasted output alternate.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

#: What a claim is compared with: the value of an expression, its ``.shape``, what a run of steps
#: printed, or a doctest example (printed text, then the repr of the value).
TARGETS = ("value", "shape", "stdout", "doctest")


@dataclass(frozen=True)
class Step:
    """One top-level statement of a note's code."""

    index: int
    line: int  # note line of its first line
    code: str
    block: int  # which code region of the note it belongs to
    heading: str
    mode: str  # "eval" (a bare expression), "exec", or "syntax" (does not compile: `error` holds why)
    defines: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class Claim:
    """What the note says some code gives. ``steps`` is empty for an ``unchecked`` claim."""

    line: int
    claimed: str
    target: str
    steps: tuple[int, ...]
    heading: str
    reason: str = ""  # for an unchecked claim: why it could not be tied to code


@dataclass(frozen=True)
class Note:
    path: str
    steps: tuple[Step, ...]
    claims: tuple[Claim, ...]

    def needs(self, claim: Claim) -> tuple[int, ...]:
        """The steps a claim depends on, in order: the claim's own steps, the earlier steps of its
        code region, and (transitively) the earlier steps defining a name that those use."""
        if not claim.steps:
            return ()
        first = min(claim.steps)
        block = self.steps[first].block
        need = set(claim.steps) | {s.index for s in self.steps[:first] if s.block == block}
        todo = sorted(need, reverse=True)
        while todo:
            i = todo.pop()
            wanted = set(self.steps[i].uses)
            for s in reversed(self.steps[:i]):
                if not wanted:
                    break
                hit = wanted & set(s.defines)
                if hit:
                    wanted -= hit
                    if s.index not in need:
                        need.add(s.index)
                        todo.append(s.index)
        return tuple(sorted(need))


# --- recognising output --------------------------------------------------------------------------

_OUTPUT_START = re.compile(
    r"""^\s*(?:tensor\(|torch\.Size\(|Size\(|array\(|Parameter\ containing|Variable\ containing|\[|\(|\{
    |[-+]?\d|[-+]?\.\d|True\b|False\b|None\b|nan\b|inf\b|Traceback\b
    |(?:[\w.]+\.)?[A-Z]\w*(?:Error|Exception|Warning)\b
    |(?:torch\.)?(?:float|int|uint|bool|complex|bfloat|half|double|long|short)\d*\s*$
    |'[^']*'\s*$|"[^"]*"\s*$)""",
    re.VERBOSE,
)
_MARKER = re.compile(r"^(?:->|=>|→|#>|(?:输出|结果|返回|运行结果|output|out|result|prints?|returns?|gives?)\s*[:：])\s*",
                     re.IGNORECASE)
_SHAPE_CLAIM = re.compile(r"^(?:shape|size)\s*[=:：]\s*(.+)$", re.IGNORECASE)
_LABEL = re.compile(r"(?:\b(?:output|result)s?\s*[:：]\s*$|(?:输出|结果|打印)[^,，。.;；]{0,8}[:：]\s*$|(?:结果|输出)如下)",
                    re.IGNORECASE)
_LABEL_INLINE = re.compile(r"^\s*(?:output|result|输出|运行结果|结果)\s*[:：]\s*(\S.*)$", re.IGNORECASE)
_FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_CODE_LANGS = {"python", "py", "python3", "pycon", "ipython", "pytorch", "torch"}
_OUTPUT_LANGS = {"", "text", "txt", "output", "out", "console", "plaintext", "plain", "shell-session", "result"}


def looks_like_output(text: str) -> bool:
    return bool(_OUTPUT_START.match(text))


def _comment_claim(text: str) -> tuple[str, str] | None:
    """A comment's text -> (claimed, "value"|"shape") when it states output; None for a remark."""
    t = text.strip()
    m = _SHAPE_CLAIM.match(t)
    if m:
        return m.group(1).strip(), "shape"
    marked = _MARKER.match(t)
    if marked:
        rest = t[marked.end():].strip()
        return (rest, "value") if rest else None
    return (t, "value") if looks_like_output(t) and _parses_as_output(t) else None


def _parses_as_output(text: str) -> bool:
    """A comment that starts like output but is a sentence (``(dim 0)...`` prose) is not a claim."""
    return not re.search(r"[\u4e00-\u9fff]", text) or bool(re.match(r"^\s*[\w.]*(Error|Exception)", text))


# --- recognising code in plain text ---------------------------------------------------------------

def _bracket_depth(line: str, depth: int) -> int:
    quote = ""
    i = 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "#":
            break
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth = max(0, depth - 1)
        i += 1
    return depth


def _parses(src: str) -> ast.Module | None:
    try:
        return ast.parse(src)
    except (SyntaxError, ValueError):
        return None


def is_code_line(text: str) -> bool:
    """Is a line of a plain-text note Python code (not prose, not a bare name used as a title)?"""
    t = text.strip()
    if not t or re.search(r"[\u4e00-\u9fff\uff0c\u3002]", t.split("#", 1)[0]):
        return False
    tree = _parses(t) or (_parses(t + "\n    pass") if t.endswith(":") else None)
    if tree is None or not tree.body:
        return False
    node = tree.body[0]
    if isinstance(node, ast.Expr):
        # a title like `torch.max`, `train&test` or `unsqueeze` parses too: code has a call or subscript
        return any(isinstance(n, (ast.Call, ast.Subscript)) for n in ast.walk(node))
    return True


def _starts_code(text: str) -> bool:
    """A line opening a multi-line statement: it parses once its brackets are closed."""
    t = text.strip()
    depth = _bracket_depth(t, 0)
    if depth == 0 or re.search(r"[\u4e00-\u9fff]", t):
        return False
    stack: list[str] = []
    for c in re.sub(r"#.*", "", t):
        if c in "([{":
            stack.append({"(": ")", "[": "]", "{": "}"}[c])
        elif c in ")]}" and stack:
            stack.pop()
    closing = "".join(reversed(stack))
    return _parses(t.rstrip(",") + closing) is not None


# --- lines -> items -------------------------------------------------------------------------------

@dataclass
class _Item:
    kind: str  # code | comment | output | label | prose | blank | doctest | fence-output
    line: int
    text: str
    extra: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class _Builder:
    path: str
    steps: list[Step] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    block: int = 0

    def add_region(self, lines: list[tuple[int, str]], heading: str) -> list[int]:
        """Code lines (note line, text) -> steps; returns their indexes."""
        lines = [(n, t) for n, t in lines if t.strip()]
        if not lines:
            return []
        texts = _repair_indent(textwrap.dedent("\n".join(t for _, t in lines)).split("\n"))
        numbers = [n for n, _ in lines]
        return self._split(texts, numbers, heading)

    def _split(self, texts: list[str], numbers: list[int], heading: str) -> list[int]:
        out: list[int] = []
        start = 0
        while start < len(texts):
            src = "\n".join(texts[start:])
            tree = _parses(src)
            if tree is not None:
                out += self._stmts(tree, texts[start:], numbers[start:], heading)
                break
            # the longest prefix that parses, then one statement that does not
            end = _syntax_error_line(src)
            k = end - 1
            floor = max(0, k - 200)  # a long broken block: bounded work, the rest is one failing step
            while k > floor and _parses("\n".join(texts[start:start + k])) is None:
                k -= 1
            if k == floor and _parses("\n".join(texts[start:start + k])) is None:
                k = 0
            if k:
                pre = _parses("\n".join(texts[start:start + k]))
                assert pre is not None
                out += self._stmts(pre, texts[start:start + k], numbers[start:start + k], heading)
            bad_end = max(start + k + 1, min(start + end, len(texts)))
            bad = "\n".join(texts[start + k:bad_end])
            why = _syntax_message(bad)
            out.append(self._step(numbers[start + k], bad, heading, "syntax", error=why))
            start = bad_end
        return out

    def _stmts(self, tree: ast.Module, texts: list[str], numbers: list[int], heading: str) -> list[int]:
        out = []
        for node in tree.body:
            first = node.lineno - 1
            if getattr(node, "decorator_list", None):
                first = min(d.lineno - 1 for d in node.decorator_list)  # type: ignore[attr-defined]
            last = (node.end_lineno or node.lineno) - 1
            code = textwrap.dedent("\n".join(texts[first:last + 1]))
            mode = "eval" if isinstance(node, ast.Expr) and not _is_print(node) else "exec"
            out.append(self._step(numbers[first], code, heading, mode, node=node))
        return out

    def _step(self, line: int, code: str, heading: str, mode: str, error: str = "",
              node: ast.stmt | None = None) -> int:
        defines, uses = _names(node) if node is not None else ((), ())
        step = Step(len(self.steps), line, code, self.block, heading, mode, defines, uses, error)
        self.steps.append(step)
        return step.index

    def claim(self, line: int, claimed: str, target: str, steps: list[int], heading: str,
              reason: str = "") -> None:
        claimed = claimed.strip("\n")
        if not claimed.strip():
            return
        if not steps and not reason:
            reason = "no code before it to tie it to"
        self.claims.append(Claim(line, claimed, target, tuple(steps), heading, reason))


def _syntax_error_line(src: str) -> int:
    try:
        ast.parse(src)
    except SyntaxError as e:
        return max(1, e.lineno or 1)
    return 1


def _syntax_message(src: str) -> str:
    try:
        ast.parse(src)
    except SyntaxError as e:
        return f"SyntaxError: {e.msg}"
    return "SyntaxError"


def _repair_indent(lines: list[str]) -> list[str]:
    """Pasted code often loses indentation: indent the one line after a bare `for ...:` header."""
    out = list(lines)
    for i in range(len(out) - 1):
        head, nxt = out[i], out[i + 1]
        ind = len(head) - len(head.lstrip())
        if (head.rstrip().endswith(":") and not head.lstrip().startswith("#") and nxt.strip()
                and len(nxt) - len(nxt.lstrip()) <= ind):
            out[i + 1] = " " * (ind + 4) + nxt.lstrip()
    if _parses("\n".join(out)) is not None or _parses("\n".join(lines)) is None:
        return out
    return lines


def _is_print(node: ast.stmt) -> bool:
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name) and node.value.func.id == "print")


def _prints(code: str) -> bool:
    return "print(" in code or "display(" in code


def _names(node: ast.stmt) -> tuple[tuple[str, ...], tuple[str, ...]]:
    defines: set[str] = set()
    uses: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            (uses if isinstance(n.ctx, ast.Load) else defines).add(n.id)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            for a in n.names:
                defines.add((a.asname or a.name).split(".")[0])
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defines.add(n.name)
        elif isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store):
            base = n.value
            while isinstance(base, (ast.Attribute, ast.Subscript)):
                base = base.value
            if isinstance(base, ast.Name):  # `a.x = ...` changes `a`: later users of `a` need it
                defines.add(base.id)
        elif isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Store) and isinstance(n.value, ast.Name):
            defines.add(n.value.id)
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        f = node.value.func  # `l.append(x)`, `a.add_(1)`: a method call may change its object
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
            defines.add(f.value.id)
    bound: set[str] = set()  # names a statement binds before it reads them: loop and `as` targets
    for n in ast.walk(node):
        if isinstance(n, (ast.For, ast.AsyncFor, ast.comprehension)):
            bound |= {t.id for t in ast.walk(n.target) if isinstance(t, ast.Name)}
        elif isinstance(n, ast.withitem) and n.optional_vars is not None:
            bound |= {t.id for t in ast.walk(n.optional_vars) if isinstance(t, ast.Name)}
        elif isinstance(n, ast.arg):
            bound.add(n.arg)
    return tuple(sorted(defines)), tuple(sorted(uses - bound - {"torch", "nn", "F", "print"}))


# --- the parser -----------------------------------------------------------------------------------

def parse_note(path: str | Path, text: str | None = None) -> Note:
    """Parse one note (``.md`` or ``.txt``; Markdown fences are honoured in both)."""
    p = Path(path)
    if text is None:
        text = p.read_text(encoding="utf-8")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    b = _Builder(str(path))
    start = _front_matter_end(lines)
    fenced = any(_FENCE.match(line) for line in lines[start:])
    items = _fenced_items(lines, start) if fenced else _plain_items(lines, start)
    _assemble(b, items, plain=not fenced)
    return Note(str(path), tuple(b.steps), tuple(b.claims))


def _front_matter_end(lines: list[str]) -> int:
    if lines and lines[0].strip() == "---":
        for i in range(1, min(len(lines), 200)):
            if lines[i].strip() in ("---", "..."):
                return i + 1
    return 0


def _fenced_items(lines: list[str], start: int) -> list[_Item]:
    """Markdown: code fences hold code; text outside them is prose, labels and pasted output."""
    items: list[_Item] = []
    i = start
    while i < len(lines):
        line = lines[i]
        m = _FENCE.match(line)
        if not m:
            h = _HEADING.match(line)
            kind = "heading" if h else ("blank" if not line.strip() else "prose")
            items.append(_Item(kind, i + 1, h.group(1) if h else line))
            i += 1
            continue
        marker, lang = m.group(2), m.group(3).lower()
        body: list[tuple[int, str]] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(marker):
            body.append((i + 1, lines[i]))
            i += 1
        i += 1  # the closing fence
        if lang in _CODE_LANGS or (lang == "" and _fence_is_code(body)):
            items.append(_Item("fence-code", body[0][0] if body else i, lang, body))
        elif lang in _OUTPUT_LANGS:
            items.append(_Item("fence-output", body[0][0] if body else i, lang, body))
        else:
            items.append(_Item("fence-other", body[0][0] if body else i, lang, body))
    return items


def _fence_is_code(body: list[tuple[int, str]]) -> bool:
    src = textwrap.dedent("\n".join(t for _, t in body))
    if all(looks_like_output(t) or not t.strip() for _, t in body):
        return False  # `tensor(2.)` parses too, but a plain fence of such lines is pasted output
    return bool(src.strip()) and (_parses(src) is not None or src.lstrip().startswith(">>>"))


def _plain_items(lines: list[str], start: int) -> list[_Item]:
    """A note with no fences: classify every line; runs of code lines become code regions."""
    items: list[_Item] = []
    i = start
    region: list[tuple[int, str]] = []

    def flush() -> None:
        if region:
            items.append(_Item("fence-code", region[0][0], "plain", list(region)))
            region.clear()

    after_label = False
    while i < len(lines):
        line = lines[i]
        t = line.strip()
        if not t:
            flush()
            items.append(_Item("blank", i + 1, line))
            after_label = False
            i += 1
            continue
        if after_label and looks_like_output(t):
            items.append(_Item("prose", i + 1, line))  # pasted output after a label
            i += 1
            continue
        after_label = False
        if (re.fullmatch(r"[A-Za-z_]\w*(\.\w+)*", t) and i + 1 < len(lines)
                and looks_like_output(lines[i + 1].strip())):
            region.append((i + 1, line))  # a REPL line: a bare name, then its value
            i += 1
            continue
        if (t.startswith(">>>") or _IPYTHON_IN.match(t) or _IPYTHON_OUT.match(t)
                or (region and (t.startswith(("#", "...")) or looks_like_output(t)))):
            region.append((i + 1, line))
            i += 1
            continue
        if is_code_line(t) or (t.startswith("#") and i + 1 < len(lines) and is_code_line(lines[i + 1])):
            region.append((i + 1, line))
            i += 1
            continue
        if _starts_code(t):
            depth = _bracket_depth(t, 0)
            region.append((i + 1, line))
            i += 1
            while i < len(lines) and depth > 0:
                depth = _bracket_depth(lines[i], depth)
                region.append((i + 1, lines[i]))
                i += 1
            continue
        flush()
        items.append(_Item("prose", i + 1, line))
        after_label = bool(_LABEL.search(t))
        i += 1
    flush()
    return items


def _assemble(b: _Builder, items: list[_Item], plain: bool) -> None:
    heading = ""
    last_region: list[int] = []  # steps of the latest code region, while only blanks/labels follow
    label: _Item | None = None
    pending_output: list[tuple[int, str]] = []
    prev_kind = ""

    def close_label() -> None:
        nonlocal label, pending_output
        if label is not None and pending_output:
            b.claim(pending_output[0][0], "\n".join(t for _, t in pending_output), "stdout",
                    last_region, heading)
        label, pending_output = None, []

    for it in items:
        if it.kind == "heading":
            close_label()
            heading, last_region = it.text.strip(), []
        elif it.kind == "blank":
            if label is not None and pending_output:
                close_label()
        elif it.kind == "prose":
            t = it.text.strip()
            if label is not None and looks_like_output(t):
                pending_output.append((it.line, t))
                continue
            close_label()
            inline = _LABEL_INLINE.match(t)
            if inline and last_region:
                b.claim(it.line, inline.group(1), "stdout", last_region, heading)
            elif _LABEL.search(t):
                label = it
            elif len(t) <= 30 and not re.search(r"[。，,;；:：!?！？]", t):
                heading = t.lstrip("*-+ ") if plain else heading
                last_region = [] if last_region and prev_kind == "prose" else last_region
            else:
                last_region = [] if prev_kind == "prose" else last_region
        elif it.kind == "fence-code" and label is not None and all(
                looks_like_output(t) or not t.strip() for _, t in it.extra):
            b.claim(it.extra[0][0], textwrap.dedent("\n".join(t for _, t in it.extra)), "stdout",
                    last_region, heading)  # output fenced as code after a label
            label, pending_output = None, []
        elif it.kind == "fence-code":
            close_label()
            last_region = _code_region(b, it.extra, heading)
        elif it.kind in ("fence-output", "fence-other"):
            body = "\n".join(t for _, t in it.extra if not (it.text == "console" and t.lstrip().startswith("$ ")))
            if label is not None or (it.kind == "fence-output" and prev_kind == "fence-code"):
                if last_region:
                    b.claim(it.line, textwrap.dedent(body), "stdout", last_region, heading)
                elif label is not None:
                    b.claim(it.line, textwrap.dedent(body), "stdout", [], heading)
                label, pending_output = None, []
            last_region = [] if it.kind == "fence-other" else last_region
        if it.kind != "blank":
            prev_kind = it.kind
    close_label()


def _code_region(b: _Builder, body: list[tuple[int, str]], heading: str) -> list[int]:
    """A code region (a fence, or code lines of a plain note) with its claims -> steps."""
    b.block += 1
    if any(_IPYTHON_IN.match(t) for _, t in body):
        body = [(n, _from_ipython(t)) for n, t in body]
    if any(t.lstrip().startswith(">>>") for _, t in body):
        return _doctest_region(b, body, heading)
    region: list[int] = []
    code: list[tuple[int, str]] = []
    last = 0  # where the last top-level statement of `code` starts: what a claim after it is about
    depth = 0
    i = 0
    while i < len(body):
        n, t = body[i]
        s = t.strip()
        top = depth == 0 and (not code or not t[:1].isspace())
        if top and s.startswith("#") and code and _claimable(code[last:]):
            claim = (s[2:].strip(), "value") if s.startswith("#>") else _comment_claim(s.lstrip("#").strip())
            if claim is not None:
                steps = b.add_region(code, heading) if code else []
                region += steps
                code, last = [], 0
                text_lines = [claim[0]]
                j = i + 1
                while j < len(body):
                    nxt = body[j][1].strip()
                    if not nxt.startswith("#"):
                        break
                    more = nxt[2:] if nxt.startswith("#>") else nxt.lstrip("#")
                    if not (nxt.startswith("#>") or looks_like_output(more.strip())
                            or (more.startswith((" ", "\t")) and not re.search(r"[\u4e00-\u9fff]", more))):
                        break
                    text_lines.append(more.strip())
                    j += 1
                target = _target(b, steps, claim[1])
                b.claim(n, "\n".join(text_lines), target, steps[-1:] if steps else [], heading)
                i = j
                continue
        if top and code and _is_output_line(s) and _claimable(code[last:]):
            steps = b.add_region(code, heading)
            region += steps
            code, last = [], 0
            out = [s]
            j = i + 1
            while j < len(body) and looks_like_output(body[j][1].strip()):
                out.append(body[j][1].strip())
                j += 1
            b.claim(n, "\n".join(out), _target(b, steps, "value"), steps[-1:], heading)
            i = j
            continue
        trailing = _trailing_claim(t) if depth == 0 and not t[:1].isspace() else None
        if trailing is not None:
            code_part, claimed, kind = trailing
            steps = b.add_region([*code, (n, code_part)], heading)
            region += steps
            code, last = [], 0
            b.claim(n, claimed, _target(b, steps, kind), steps[-1:], heading)
            i += 1
            continue
        if depth == 0 and s and not t[:1].isspace() and not s.startswith("#") and not re.match(
                r"(?:else|elif|except|finally)\b", s):
            last = len(code)
        code.append((n, t))
        depth = _bracket_depth(t, depth)
        i += 1
    region += b.add_region(code, heading)
    return region


_IPYTHON_IN = re.compile(r"^\s*In \[\d*\]:\s?")
_IPYTHON_MORE = re.compile(r"^\s*\.\.\.+:\s?")
_IPYTHON_OUT = re.compile(r"^\s*Out\[\d*\]:\s?")


def _from_ipython(line: str) -> str:
    """IPython/Jupyter prompts as doctest ones: ``In [3]: x`` -> ``>>> x``, ``Out[3]: v`` -> ``v``."""
    for prompt, repl in ((_IPYTHON_IN, ">>> "), (_IPYTHON_MORE, "... "), (_IPYTHON_OUT, "")):
        m = prompt.match(line)
        if m:
            return repl + line[m.end():]
    return line


def _is_output_line(s: str) -> bool:
    if re.search(r"[\u4e00-\u9fff]", s):  # `1. 介绍`: a numbered line of prose
        return False
    return looks_like_output(s) and (not is_code_line(s) or bool(re.match(r"(?:torch\.)?(?:tensor|Size)\(", s)))


def _claimable(code: list[tuple[int, str]]) -> bool:
    """Does the code so far end with a statement whose result a following claim can describe?"""
    src = textwrap.dedent("\n".join(t for _, t in code if t.strip()))
    tree = _parses(src) or _parses("\n".join(_repair_indent(src.split("\n"))))
    if tree is None or not tree.body:
        return False
    last = tree.body[-1]
    return isinstance(last, ast.Expr) or (isinstance(last, (ast.For, ast.While, ast.With, ast.If))
                                          and _prints(ast.unparse(last)))


def _trailing_claim(line: str) -> tuple[str, str, str] | None:
    """``print(x.shape)  # torch.Size([2, 3])`` -> (code, claimed, kind); None for other lines."""
    bare = re.match(r"^(.*?\S)\s+((?:shape|size)\s*=\s*\S.*)$", line)
    if bare and "#" not in line and _parses(bare.group(1).strip()) is not None:
        tree = _parses(bare.group(1).strip())  # `a.expand(4, 5)  shape=[4, 5]`: a claim with no `#`
        claim = _comment_claim(bare.group(2))
        if tree is not None and len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr) and claim:
            return bare.group(1), claim[0], claim[1]
    if "#" not in line:
        return None
    quote, cut = "", -1
    for i, c in enumerate(line):
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "#":
            cut = i
            break
    if cut <= 0:
        return None
    code = line[:cut].rstrip()
    tree = _parses(code.strip())
    if tree is None or len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr):
        return None
    claim = _comment_claim(line[cut + 1:].lstrip(">").strip())
    if claim is None:
        return None
    return code, claim[0], claim[1]


def _target(b: _Builder, steps: list[int], kind: str) -> str:
    if not steps:
        return kind
    last = b.steps[steps[-1]]
    if kind == "shape":
        return "shape"
    return "value" if last.mode == "eval" else "stdout"


def _doctest_region(b: _Builder, body: list[tuple[int, str]], heading: str) -> list[int]:
    region: list[int] = []
    i = 0
    while i < len(body):
        n, t = body[i]
        s = t.strip()
        if not s.startswith(">>>"):
            i += 1
            continue
        src = [(n, s[3:].removeprefix(" "))]
        i += 1
        while i < len(body) and body[i][1].strip().startswith("..."):
            src.append((body[i][0], body[i][1].strip()[3:].removeprefix(" ")))
            i += 1
        want: list[tuple[int, str]] = []
        while i < len(body) and body[i][1].strip() and not body[i][1].strip().startswith(">>>"):
            want.append(body[i])
            i += 1
        steps = b.add_region(src, heading)
        region += steps
        if want and steps:
            b.claim(want[0][0], textwrap.dedent("\n".join(t for _, t in want)), "doctest", steps, heading)
    return region
