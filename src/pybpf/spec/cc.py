"""Restricted C -> eBPF object, with the clang that ships inside the ``ziglang`` package.

The seed's programs are "fed to the LLVM compiler, producing an object file";
pybpf carries that compiler so no system toolchain or kernel headers are
needed. The flags are the ones that make an object the kernel and libbpf accept:

* ``-target bpfel-freestanding``: little-endian eBPF, no libc;
* ``-g``: DWARF *and* the ``.BTF``/``.BTF.ext`` sections (clang's BPF target
  emits BTF whenever debug info is on), which give BTF-defined maps and the
  line info the loader attaches to each instruction;
* ``-mcpu=v3``: ALU32, JMP32 and the atomic instructions (kernel >= 5.1);
* ``-fno-unwind-tables -fno-asynchronous-unwind-tables``: zig's driver asks for
  unwind tables by default, which would add a useless ``.eh_frame``;
* ``-nostdlibinc``: never search /usr/include or any other system directory,
  only the compiler's own headers (stddef.h, stdint.h ...), pybpf's headers
  (``include/``: the kernel's uapi and libbpf's headers, written from the
  ABI) and the ``-I`` directories given. A program compiles the same on a
  machine with kernel headers installed as on one without.

Objects are cached by a hash of everything that decides their bytes (compiler
version, flags, the source, every header it includes, the source's path since
debug info records it), so repeated runs cost one ``stat``.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from ..errors import CompileError

#: headers shipped with pybpf (linux/*.h, asm/*.h, bpf/*.h, bpf_helpers.h ...); always searched
INCLUDE_DIR = Path(__file__).resolve().parents[1] / "include"

TARGET = "bpfel-freestanding"
BASE_FLAGS = (
    "-target",
    TARGET,
    "-g",
    "-mcpu=v3",
    "-fno-unwind-tables",
    "-fno-asynchronous-unwind-tables",
    "-nostdlibinc",
    "-Wall",
    "-Wno-unused-function",
)

_INCLUDE_RE = re.compile(rb'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"\n]+)[>"]', re.M)


def cache_dir() -> Path:
    """Where compiled objects are kept: $PYBPF_CACHE_DIR, else $XDG_CACHE_HOME/pybpf/cc."""
    env = os.environ.get("PYBPF_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pybpf" / "cc"


def compiler_command() -> list[str]:
    """The compiler driver: ``python -m ziglang cc``."""
    return [sys.executable, "-m", "ziglang", "cc"]


@lru_cache(maxsize=1)
def compiler_version() -> str:
    """The zig version string (part of the cache key); CompileError if ziglang is missing."""
    try:
        res = subprocess.run(
            [sys.executable, "-m", "ziglang", "version"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CompileError(f"cannot run the ziglang compiler: {e}") from None
    if res.returncode != 0:
        raise CompileError(
            "the ziglang package is not usable (pip install ziglang): "
            + (res.stderr.strip() or res.stdout.strip())
        )
    return res.stdout.strip()


def _resolve_include(name: str, quoted: bool, here: Path, dirs: Sequence[Path]) -> Path | None:
    search = ([here] if quoted else []) + list(dirs)
    for d in search:
        p = d / name
        if p.is_file():
            return p
    return None


def _dependencies(src: Path, dirs: Sequence[Path]) -> list[tuple[str, bytes]]:
    """(name, content) of the source and every header it includes, transitively.

    A textual scan is enough for a cache key: an include we cannot resolve is
    recorded by name, and the compiler will report it.
    """
    out: list[tuple[str, bytes]] = []
    seen: set[Path] = set()
    todo = [src]
    while todo:
        p = todo.pop()
        rp = p.resolve()
        if rp in seen:
            continue
        seen.add(rp)
        data = p.read_bytes()
        out.append((str(rp), data))
        for m in _INCLUDE_RE.finditer(data):
            name = m.group(2).decode("utf-8", "replace")
            hit = _resolve_include(name, m.group(1) == b'"', p.parent, dirs)
            if hit is None:
                out.append(("unresolved:" + name, b""))
            else:
                todo.append(hit)
    return sorted(out)


_NOT_FOUND_RE = re.compile(r"^(\S+?):(\d+):\d+: fatal error: '([^']+)' file not found", re.M)


def shipped_headers() -> list[str]:
    """The headers pybpf ships, as a program includes them (``linux/bpf.h`` ...)."""
    return sorted(p.relative_to(INCLUDE_DIR).as_posix() for p in INCLUDE_DIR.rglob("*.h"))


def _explain(diagnostics: str) -> str:
    """A note for what the compiler cannot know: which headers pybpf has, and why not others."""
    notes = []
    for m in _NOT_FOUND_RE.finditer(diagnostics):
        where, line, name = m.group(1), m.group(2), m.group(3)
        if name.startswith(("linux/", "asm/", "asm-generic/", "bpf/", "uapi/")):
            have = [h for h in shipped_headers() if h.split("/")[0] == name.split("/")[0]]
            notes.append(
                f"{where}:{line}: <{name}> is not among the headers pybpf ships "
                f"({', '.join(have)}); for the kernel's own types generate a vmlinux.h "
                "with `pybpf btf dump /sys/kernel/btf/vmlinux > vmlinux.h`"
            )
        elif name == "vmlinux.h":
            notes.append(
                f"{where}:{line}: vmlinux.h is generated, not shipped: "
                "`pybpf btf dump /sys/kernel/btf/vmlinux > vmlinux.h`, then -I its directory"
            )
        else:
            notes.append(
                f"{where}:{line}: <{name}> is not found: eBPF programs have no C library, and "
                "pybpf never searches the system's include directories (add -I DIR for your own)"
            )
    return "".join("\n" + n for n in notes)


def build_command(
    src: Path,
    out: Path,
    include_dirs: Iterable[str | os.PathLike[str]] = (),
    defines: Iterable[str] = (),
    opt: str = "-O2",
) -> list[str]:
    """The full compiler command line for ``src`` -> ``out``."""
    cmd = compiler_command() + list(BASE_FLAGS) + [opt]
    for d in include_dirs:
        cmd += ["-I", str(d)]
    cmd += ["-I", str(INCLUDE_DIR)]
    for d in defines:
        cmd.append("-D" + d)
    cmd += ["-c", str(src), "-o", str(out)]
    return cmd


def compile_c(
    src_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str] | None = None,
    include_dirs: Iterable[str | os.PathLike[str]] = (),
    defines: Iterable[str] = (),
    opt: str = "-O2",
    *,
    use_cache: bool = True,
) -> Path:
    """Compile one restricted-C file to an eBPF ELF object and return its path.

    With ``out_path`` None the object stays in the cache directory. Compiler
    diagnostics become CompileError carrying the compiler's own text.
    """
    src = Path(src_path)
    if not src.is_file():
        raise CompileError(f"{src}: no such source file")
    idirs = [Path(d) for d in include_dirs]
    defs = list(defines)
    search = idirs + [INCLUDE_DIR]
    key = hashlib.sha256()
    for part in (
        compiler_version(),
        TARGET,
        " ".join(BASE_FLAGS),
        opt,
        repr(defs),
        repr([str(d.resolve()) for d in idirs]),
        str(src.resolve()),
    ):
        key.update(part.encode() + b"\0")
    for name, data in _dependencies(src, search):
        key.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    digest = key.hexdigest()[:32]
    cdir = cache_dir()
    cached = cdir / f"{src.stem}-{digest}.o"

    if not (use_cache and cached.is_file()):
        cdir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".cc-", suffix=".o", dir=cdir)
        os.close(fd)
        try:
            cmd = build_command(src, Path(tmp), idirs, defs, opt)
            try:
                res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            except (OSError, subprocess.TimeoutExpired) as e:
                raise CompileError(f"{src}: cannot run the compiler: {e}") from None
            if res.returncode != 0:
                text = (res.stderr or res.stdout).strip()
                raise CompileError(f"{src}: compilation failed:\n{text}{_explain(text)}")
            os.replace(tmp, cached)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    if out_path is None:
        return cached
    out = Path(out_path)
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    data = cached.read_bytes()
    tmp_out = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp_out.write_bytes(data)
    os.replace(tmp_out, out)
    return out
