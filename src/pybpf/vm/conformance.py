"""The bpf_conformance suite: read its ``.data`` files and run them in the interpreter.

A test file (format of github.com/Alan-Jowett/bpf_conformance, tests/*.data)
has sections introduced by ``-- name`` lines: ``asm`` (program text in the
suite's syntax), ``raw`` (instruction slots as u64, overriding asm), ``mem``
(hex bytes passed in R1 with their length in R2), ``result`` (expected R0)
and ``error`` (expected failure). Other sections (``c``, ``no register
offset``) are notes for other runtimes and are ignored, as the suite's own
parser ignores them. The suite compares the low 32 bits of R0, as its runner
does; pybpf prints the full value.

The suite registers one helper, id 5 "unwind": it returns R1, and when R1 is
0 the program ends at once with R0 = 0.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BpfError, InsnError
from ..isa import Insn, decode
from .interp import Interpreter, ProgramExit, RunEnv
from .memory import Memory

__all__ = [
    "ConformanceTest",
    "TestOutcome",
    "SuiteHelper",
    "CONFORMANCE_HELPERS",
    "parse_test",
    "load_test",
    "run_test",
    "run_program",
    "iter_tests",
    "run_suite",
]


@dataclass(frozen=True)
class SuiteHelper:
    """A helper as the interpreter calls it (id, name, fn(env, r1..r5))."""

    id: int
    name: str
    fn: Any
    proto: Any = None


def _unwind(env: RunEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    if r1 == 0:
        raise ProgramExit(0)
    return r1


#: the helpers bpf_conformance's runners register
CONFORMANCE_HELPERS: dict[int, SuiteHelper] = {5: SuiteHelper(5, "unwind", _unwind)}


@dataclass
class ConformanceTest:
    """One ``.data`` file, parsed."""

    name: str
    asm: str = ""
    raw: list[int] | None = None
    mem: bytes = b""
    has_mem: bool = False
    result: int | None = None
    error: str | None = None
    sections: dict[str, str] = field(default_factory=dict)

    def program(self) -> list[Insn]:
        """The instructions: from ``raw`` when present, else assembled from ``asm``."""
        if self.raw is not None:
            return decode(b"".join(struct.pack("<Q", v) for v in self.raw))
        from ..asm.text import assemble

        return assemble(self.asm)


@dataclass
class TestOutcome:
    name: str
    passed: bool
    got: int | None = None
    error: str | None = None
    detail: str = ""


def _strip(line: str) -> str:
    i = line.find("#")
    return (line[:i] if i >= 0 else line).strip()


def parse_test(text: str, name: str = "<test>") -> ConformanceTest:
    """Parse the text of a ``.data`` file (see module doc)."""
    sections: dict[str, list[str]] = {}
    cur: str | None = None
    for line in text.splitlines():
        if line.startswith("--"):
            cur = line[2:].strip()
            sections.setdefault(cur, [])
            continue
        if cur is not None:
            sections[cur].append(line)
    t = ConformanceTest(name=name, sections={k: "\n".join(v) for k, v in sections.items()})
    if "asm" in sections:
        t.asm = "\n".join(sections["asm"])
    if "raw" in sections:
        t.raw = [int(v, 0) for v in (_strip(ln) for ln in sections["raw"]) if v]
    if "mem" in sections:
        hexes = " ".join(_strip(ln) for ln in sections["mem"]).split()
        t.mem = bytes(int(h, 16) for h in hexes)
        t.has_mem = True
    if "result" in sections:
        vals = [v for v in (_strip(ln) for ln in sections["result"]) if v]
        if vals:
            v = vals[-1]
            t.result = int(v, 16) if "0x" in v.lower() else int(v, 10)
    if "error" in sections:
        msgs = [v for v in (_strip(ln) for ln in sections["error"]) if v]
        t.error = msgs[-1] if msgs else ""
    return t


def load_test(path: str | Path) -> ConformanceTest:
    p = Path(path)
    return parse_test(p.read_text(), name=p.name)


def run_program(
    insns: list[Insn] | bytes,
    mem: bytes = b"",
    *,
    has_mem: bool | None = None,
    budget: int | None = None,
) -> int:
    """Run a program the way the suite's plugins do: R1 = &mem, R2 = len(mem); returns R0."""
    kwargs: dict[str, Any] = {}
    if budget is not None:
        kwargs["budget"] = budget
    if not insns:
        raise InsnError("the program is empty: no instructions to run")
    interp = Interpreter(insns, helpers=CONFORMANCE_HELPERS, **kwargs)
    memory = Memory()
    if has_mem is None:
        has_mem = bool(mem)
    r1 = r2 = 0
    if has_mem:
        region = memory.add_region(bytearray(mem), name="mem")
        r1, r2 = region.base, len(mem)
    return interp.run(mem=memory, r1=r1, r2=r2)


def run_test(test: ConformanceTest) -> TestOutcome:
    """Run one test: pass when R0's low 32 bits match, or when an expected error happens."""
    try:
        got = run_program(test.program(), test.mem, has_mem=test.has_mem)
    except BpfError as e:
        if test.error is not None:
            return TestOutcome(test.name, True, error=str(e))
        return TestOutcome(test.name, False, error=str(e), detail=f"unexpected error: {e}")
    if test.error is not None:
        return TestOutcome(
            test.name, False, got=got, detail=f"expected error {test.error!r}, got result {got:#x}"
        )
    if test.result is None:
        return TestOutcome(test.name, False, got=got, detail="test has no -- result")
    if (got & 0xFFFF_FFFF) != (test.result & 0xFFFF_FFFF):
        return TestOutcome(
            test.name, False, got=got, detail=f"expected {test.result:#x}, got {got:#x}"
        )
    return TestOutcome(test.name, True, got=got)


def iter_tests(folder: str | Path) -> Iterator[Path]:
    """Every ``.data`` file under ``folder`` (recursively), sorted."""
    yield from sorted(Path(folder).rglob("*.data"))


def run_suite(paths: Iterable[str | Path]) -> list[TestOutcome]:
    out = []
    for p in paths:
        try:
            t = load_test(p)
        except (ValueError, OSError) as e:
            out.append(TestOutcome(Path(p).name, False, detail=f"cannot parse: {e}"))
            continue
        out.append(run_test(t))
    return out
