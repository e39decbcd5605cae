"""The kernel's own eBPF programs as a corpus: compile with pybpf's headers, load, verify, run.

.ci/fetch-kernel-samples puts samples/bpf and the BPF selftests' programs of
Debian's newest linux-source package in ~/.cache/pybpf/kernel-samples/linux
($PYBPF_KERNEL_SAMPLES). Every file with a program of a packet type is taken:
socket filters, XDP, tc and cgroup_skb programs go through everything.

For each program:

1. the file is compiled by ``pybpf cc`` with pybpf's headers only -- plus what
   the program's own build gives it: its directory, the selftests' directory,
   a ``vmlinux.h`` made by ``pybpf btf dump`` from the running kernel, and
   for samples/bpf (built inside the kernel tree, where ``<uapi/linux/bpf.h>``
   is spelled with its directory and ``u32`` comes from the kernel's own
   ``include/linux/types.h``) a directory of one-line forwarding headers;
2. the program alone is loaded with ``pybpf.load(..., backend="user")`` (pybpf's
   verifier) and ``backend="kernel"`` (bpf(2)); the verdicts must agree;
3. accepted by both, it runs with BPF_PROG_TEST_RUN semantics in both on the
   selftests' input (64 zero bytes) and on frames of tests/data/pcaps, and the
   return values must agree, and for the samples the output bytes and maps too
   (a run pybpf says it does not model, such as a frame larger than a page for
   XDP, is counted, not compared).

The selftests carry their expectations as BTF declaration tags (bpf_misc.h):
``__success``/``__failure``, ``__retval(N)``, ``__msg("...")``, ``__flag(...)``;
they are read from the object and reported next to both verdicts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pybpf import uapi
from pybpf.errors import BpfError, CompileError, NotSupportedError
from pybpf.spec.btf import BTF_KIND_DECL_TAG, BTF_KIND_FUNC
from pybpf.spec.cc import INCLUDE_DIR, compile_c
from pybpf.spec.elf import load_object
from pybpf.spec.types import ObjectSpec, ProgramSpec

CORPUS = Path(
    os.environ.get(
        "PYBPF_KERNEL_SAMPLES",
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        / "pybpf"
        / "kernel-samples",
    )
)
TREE = CORPUS / "linux"
SAMPLES = TREE / "samples" / "bpf"
SELFTESTS = TREE / "tools" / "testing" / "selftests" / "bpf"
MISSING = (
    f"the kernel's eBPF samples are not in {CORPUS}: run .ci/fetch-kernel-samples "
    "(or set PYBPF_KERNEL_SAMPLES to where it put them)"
)

#: program types the corpus covers: the packet programs
RUN = {
    uapi.BPF_PROG_TYPE_SOCKET_FILTER,
    uapi.BPF_PROG_TYPE_XDP,
    uapi.BPF_PROG_TYPE_SCHED_CLS,
    uapi.BPF_PROG_TYPE_SCHED_ACT,
    uapi.BPF_PROG_TYPE_CGROUP_SKB,
}
NOT_YET: set[int] = set()
_SEC_RE = re.compile(r'SEC\("(socket|xdp|tc|tcx|classifier|action|cgroup_skb)[^"]*"\)')
_TYPE_NAMES = {
    uapi.BPF_PROG_TYPE_SOCKET_FILTER: "socket filters",
    uapi.BPF_PROG_TYPE_XDP: "XDP",
    uapi.BPF_PROG_TYPE_SCHED_CLS: "tc classifiers",
    uapi.BPF_PROG_TYPE_SCHED_ACT: "tc actions",
    uapi.BPF_PROG_TYPE_CGROUP_SKB: "cgroup_skb",
}
#: the selftests' input to BPF_PROG_TEST_RUN (test_loader.c: TEST_DATA_LEN zero bytes)
TEST_DATA = bytes(64)


def present() -> bool:
    return SELFTESTS.is_dir() and SAMPLES.is_dir()


def version() -> str:
    try:
        return (CORPUS / "VERSION").read_text().strip()
    except OSError:
        return "?"


def sources() -> list[Path]:
    """Every corpus file with a packet program, samples first."""
    out = []
    for d in (SAMPLES, SELFTESTS / "progs"):
        for p in sorted(d.glob("*.c")):
            if _SEC_RE.search(p.read_text(errors="replace")):
                out.append(p)
    return out


def rel(p: Path) -> str:
    return p.relative_to(TREE).as_posix()


# ---- the build environment ------------------------------------------------------------------

KERNEL_TYPES = """/* what samples/bpf get in the kernel tree from the kernel's own headers
 * (include/linux/types.h, compiler.h, byteorder/generic.h) */
#ifndef __PYBPF_CORPUS_KERNEL_TYPES
#define __PYBPF_CORPUS_KERNEL_TYPES
#include <linux/types.h>
#include <asm/byteorder.h>
typedef __u8 u8; typedef __s8 s8; typedef __u16 u16; typedef __s16 s16;
typedef __u32 u32; typedef __s32 s32; typedef __u64 u64; typedef __s64 s64;
typedef _Bool bool;
#define true 1
#define false 0
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define __force
#define htons(x) __cpu_to_be16(x)
#define ntohs(x) __be16_to_cpu(x)
#define htonl(x) __cpu_to_be32(x)
#define ntohl(x) __be32_to_cpu(x)
#endif
"""


def build_env(workdir: Path) -> dict[str, list[Path]]:
    """Include directories for each tree: {"samples": [...], "selftests": [...]}."""
    shim = workdir / "samples-shim"
    (shim / "uapi" / "linux").mkdir(parents=True, exist_ok=True)
    (shim / "pybpf_kernel_types.h").write_text(KERNEL_TYPES)
    for h in (INCLUDE_DIR / "linux").glob("*.h"):
        (shim / "uapi" / "linux" / h.name).write_text(
            f'#include "pybpf_kernel_types.h"\n#include <linux/{h.name}>\n'
        )
    gen = workdir / "generated"
    gen.mkdir(exist_ok=True)
    vmlinux = Path("/sys/kernel/btf/vmlinux")
    if vmlinux.exists() and not (gen / "vmlinux.h").exists():
        # what `pybpf btf dump /sys/kernel/btf/vmlinux > vmlinux.h` writes
        from pybpf.spec.btf_dump import dump_c, read_btf

        (gen / "vmlinux.h").write_text(dump_c(read_btf(vmlinux)))
    return {
        "samples": [shim, gen, SAMPLES, SELFTESTS],
        # the selftests' build finds <../../../tools/include/linux/filter.h> three levels down
        "selftests": [gen, SELFTESTS, TREE / "tools" / "testing" / "selftests"],
    }


def compile_source(src: Path, env: dict[str, list[Path]]) -> Path:
    """The object of ``src`` (CompileError as pybpf cc reports it)."""
    tree = "samples" if SAMPLES in src.parents else "selftests"
    defines = ["__TARGET_ARCH_x86"]
    return compile_c(src, include_dirs=env[tree], defines=defines)


# ---- expectations written in the source (bpf_misc.h) ---------------------------------------


@dataclass
class Expect:
    """What a selftest says about itself (privileged loader)."""

    success: bool | None = None
    retval: int | None = None
    msgs: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    auxiliary: bool = False


def expectations(spec: ObjectSpec) -> dict[str, Expect]:
    """Program name -> its bpf_misc.h annotations (decl tags on its FUNC)."""
    btf = spec.btf
    out: dict[str, Expect] = {}
    if btf is None:
        return out
    for t in btf.types:
        if t.kind != BTF_KIND_DECL_TAG or t.component_idx != -1:
            continue
        f = btf.type(t.ref)
        if f.kind != BTF_KIND_FUNC:
            continue
        e = out.setdefault(f.name, Expect())
        tag = t.name.removeprefix("comment:")
        if tag == "test_expect_success":
            e.success = True
        elif tag == "test_expect_failure":
            e.success = False
        elif tag.startswith("test_retval="):
            e.retval = _int(tag.split("=", 1)[1])
        elif tag.startswith("test_expect_msg="):
            e.msgs.append(tag.split("=", 2)[-1])
        elif tag.startswith("test_prog_flags="):
            e.flags.append(tag.split("=", 1)[1])
        elif tag == "test_auxiliary":
            e.auxiliary = True
    return out


_NAMED = {"INT_MIN": -(2**31), "INT_MAX": 2**31 - 1}


def _int(s: str) -> int | None:
    """A stated return value; None for POINTER_VALUE (test_loader: "some pointer")."""
    s = s.strip()
    if s in _NAMED:
        return _NAMED[s]
    try:
        return int(s, 0)
    except ValueError:
        return None


# ---- one program ----------------------------------------------------------------------------


@dataclass
class Outcome:
    file: str
    program: str
    section: str
    prog_type: int
    #: compiled, refused by one backend, agreed, disagreed, type not supported yet ...
    status: str
    user: str = ""  # accepted / refused: <first line of the reason>
    kernel: str = ""
    expect: Expect | None = None
    runs: int = 0  # test runs compared
    unmodelled: int = 0  # inputs pybpf says it does not model (not compared)
    mismatches: list[str] = field(default_factory=list)
    reason: str = ""
    #: the kernel's return value on TEST_DATA, when the test states one
    kernel_retval: int | None = None


def _first(msg: str) -> str:
    lines = [ln.strip() for ln in str(msg).splitlines() if ln.strip()]
    for ln in lines:
        if "error" in ln or "refused" in ln or ln.startswith(("R", "invalid")):
            return ln[:200]
    return lines[-1][:200] if lines else ""


def _alone(spec: ObjectSpec, prog: ProgramSpec) -> ObjectSpec:
    """``prog`` with the object's maps, and the programs the object's PROG_ARRAYs
    are initialised with (their slots must name loaded programs)."""
    names = {prog.name}
    for m in spec.maps.values():
        names.update(str(v) for v in (m.extra.get("values") or {}).values())
    return ObjectSpec(
        programs={n: p for n, p in spec.programs.items() if n in names},
        maps=dict(spec.maps),
        license=spec.license,
        btf=spec.btf,
        path=spec.path,
    )


def _load(spec: ObjectSpec, backend: str):
    import pybpf

    return pybpf.load(spec, backend=backend)


def _result(prog, data: bytes, output: bool) -> str | None:
    """What a test run gives (the return value; with ``output``, the output bytes too),
    None where pybpf says it does not model the run (a frame larger than a page for XDP:
    a multi-buffer xdp_buff; a tail call from a subprogram)."""
    try:
        res = prog.test_run(data)
    except NotSupportedError:
        return None
    except BpfError as e:
        return f"error {e.errno_name}"
    return f"{res.retval} {bytes(res.data_out).hex()}" if output else str(res.retval)


def run_program(
    spec: ObjectSpec, prog: ProgramSpec, frames: list[bytes], file: str, expect: Expect | None
) -> Outcome:
    """Load ``prog`` alone in both backends; compare verdicts, then test-run results.

    Results are compared where they are meant to be reproducible: the samples
    (packet counters: every frame, then their maps) and the selftests that state
    their return value (``__retval``). Other selftests may return a pointer's bits
    or a random number, which no second implementation can reproduce.
    """
    out = Outcome(file, prog.name, prog.section, prog.prog_type, "", expect=expect)
    if prog.prog_type in NOT_YET:
        out.status = "type not supported yet"
        return out
    one = _alone(spec, prog)
    user = kernel = None
    try:
        user = _load(one, "user")
        out.user = "accepted"
    except NotSupportedError as e:
        out.user = f"not supported: {_first(e)}"
    except BpfError as e:
        out.user = f"refused: {_first(e)}"
    try:
        kernel = _load(one, "kernel")
        out.kernel = "accepted"
    except BpfError as e:
        out.kernel = f"refused: {_reason(e)}"
    try:
        if out.user.startswith("not supported"):
            out.status = "user backend cannot load"
            out.reason = out.user
        elif (user is None) != (kernel is None):
            out.status = "verdicts differ"
        elif user is None:
            out.status = "both refuse"
        else:
            out.status = "both accept"
            sample = file.startswith("samples/")
            if sample or (expect is not None and expect.retval is not None):
                _compare_runs(out, user, kernel, [TEST_DATA, *frames], maps=sample)
    finally:
        if kernel is not None:
            kernel.close()
    return out


def _compare_runs(out: Outcome, user, kernel, inputs: list[bytes], maps: bool) -> None:
    """Run both on every input, on CPU 0 (pybpf's default; samples key maps by the CPU).

    For the samples (``maps``) the output bytes and the maps are compared too; the
    selftests state only their return value, and several write a pointer's bits into
    the packet, which no second implementation reproduces.
    """
    up, kp = user.program(out.program), kernel.program(out.program)
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    try:
        for i, data in enumerate(inputs):
            a, b = _result(up, data, maps), _result(kp, data, maps)
            if b is not None and i == 0 and b.split()[0].lstrip("-").isdigit():
                out.kernel_retval = int(b.split()[0])
            if a is None:
                out.unmodelled += 1
                continue
            out.runs += 1
            if a != b:
                out.mismatches.append(f"input {i}: pybpf {a[:80]}, kernel {str(b)[:80]}")
    finally:
        os.sched_setaffinity(0, cpus)
    if maps:
        for name, um in user.maps.items():
            if um.type not in (uapi.BPF_MAP_TYPE_HASH, uapi.BPF_MAP_TYPE_ARRAY):
                continue
            if sorted(um.items()) != sorted(kernel.maps[name].items()):
                out.mismatches.append(f"map {name!r} differs after the runs")
    if out.mismatches:
        out.status = "results differ"


def _reason(e: BaseException) -> str:
    """The kernel verifier's own last words (the log's last line that is not statistics)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    for ln in reversed(lines):
        if not ln.startswith(("processed ", "verification time", "stack depth", "mark_precise")):
            return ln[:200]
    return _first(str(e))


def corpus_frames(limit: int | None = 8) -> list[bytes]:
    """The first frames of every capture in tests/data/pcaps (Ethernet ones)."""
    from pybpf.net.capture import read_packets
    from support.paths import captures

    out = []
    for p in captures():
        try:
            pkts = read_packets(p, strict=False)
        except (BpfError, OSError):
            continue
        out += [bytes(pk.data) for pk in pkts[:limit] if len(pk.data) >= 14]
    return out


def run_file(
    src: Path, env: dict[str, list[Path]], frames: list[bytes], sample_frames: list[bytes]
) -> Iterator[Outcome]:
    """Every in-scope program of one file (or one outcome saying why the file fails).

    Samples run on ``sample_frames`` (every frame of the captures), selftests on ``frames``.
    """
    try:
        obj = compile_source(src, env)
    except CompileError as e:
        yield Outcome(rel(src), "*", "", 0, "does not compile", reason=_compile_reason(str(e)))
        return
    try:
        spec = load_object(obj)
    except BpfError as e:
        yield Outcome(rel(src), "*", "", 0, "object refused", reason=_first(str(e)))
        return
    exp = expectations(spec)
    for prog in spec.programs.values():
        if prog.prog_type not in RUN | NOT_YET:
            continue
        e = exp.get(prog.name)
        if e is not None and e.auxiliary:
            continue
        inputs = sample_frames if SAMPLES in src.parents else frames
        yield run_program(spec, prog, inputs, rel(src), e)


def _compile_reason(text: str) -> str:
    for ln in text.splitlines():
        if "is not among the headers pybpf ships" in ln or "is not found:" in ln:
            return ln.split(": ", 1)[1].split(" (")[0]
    for ln in text.splitlines():
        if "error:" in ln:
            return ln.split("error:", 1)[1].strip()[:160]
    return _first(text)


# ---- figures --------------------------------------------------------------------------------

_ORDER = (
    "both accept",
    "both refuse",
    "verdicts differ",
    "results differ",
    "user backend cannot load",
    "object refused",
    "does not compile",
    "type not supported yet",
)


def figures(outcomes: list[Outcome]) -> str:
    """The report: counts by outcome and tree, then every failure with its reason."""
    from collections import Counter

    files = {o.file for o in outcomes}
    bad_files = {o.file for o in outcomes if o.status in ("does not compile", "object refused")}
    progs = [o for o in outcomes if o.program != "*"]
    run = [o for o in progs if o.status != "type not supported yet"]
    lines = [
        f"corpus: {version()}: {len(files)} files with packet programs",
        f"  compile with pybpf's headers: {len(files) - len([o for o in outcomes if o.status == 'does not compile'])}"
        f" of {len(files)} files; objects pybpf reads: {len(files) - len(bad_files)}",
        f"  programs: {len(progs)} ("
        + ", ".join(
            f"{n} {_TYPE_NAMES.get(t, t)}"
            for t, n in sorted(Counter(o.prog_type for o in run).items())
        )
        + f"; {len(progs) - len(run)} of types pybpf does not model yet)",
    ]
    by = Counter(o.status for o in outcomes)
    for st in _ORDER:
        if by.get(st):
            unit = "files" if st in ("does not compile", "object refused") else "programs"
            lines.append(f"  {st}: {by[st]} {unit}")
    agree = by.get("both accept", 0) + by.get("both refuse", 0)
    judged = agree + by.get("verdicts differ", 0) + by.get("results differ", 0)
    lines.append(f"  pybpf agrees with the kernel on {agree} of {judged} programs both load")
    runs = sum(o.runs for o in run)
    lines.append(
        f"  test runs compared: {runs} "
        f"({sum(len(o.mismatches) for o in run)} differ; "
        f"{sum(o.unmodelled for o in run)} inputs pybpf does not model, not compared)"
    )
    stated = [o for o in run if o.expect and o.expect.success is not None and o.kernel]
    k_ok = sum((o.kernel == "accepted") == o.expect.success for o in stated if o.expect)
    lines.append(
        f"  the kernel matches the tests' own __success/__failure in {k_ok} of {len(stated)}"
    )
    lines.append("")
    for o in outcomes:
        if o.status in ("both accept", "both refuse", "type not supported yet"):
            continue
        why = o.reason or "; ".join(o.mismatches[:3]) or f"pybpf {o.user}; kernel {o.kernel}"
        lines.append(f"{o.status:24} {o.file} {o.program}: {why}")
    return "\n".join(lines)


if __name__ == "__main__":  # the report: python tests/spec/kernel_corpus.py
    import tempfile

    sys_path = str(Path(__file__).resolve().parents[1])
    import sys

    sys.path.insert(0, sys_path)
    env = build_env(Path(tempfile.mkdtemp(prefix="pybpf-corpus-")))
    sel, allf = corpus_frames(), corpus_frames(None)
    outs = [o for src in sources() for o in run_file(src, env, sel, allf)]
    print(figures(outs))
