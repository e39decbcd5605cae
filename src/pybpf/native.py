"""Host C built at first use with the clang inside the ``ziglang`` wheel, cached on disk.

pybpf's per-packet paths (map operations, the batch loop over a capture) are C
that ships as source inside the package. Nothing needs a system compiler: the
first use compiles a library with ``python -m ziglang cc`` and keeps it under
the cache directory, named by a hash of its sources, headers, flags and the
compiler's version, so an upgrade or an edit rebuilds and an unchanged tree
loads in microseconds. Each part of pybpf builds its own library
(:func:`library`), so the parts stay independent; they meet through tables of
function pointers, as the kernel's ``bpf_map_ops`` do.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from .errors import CompileError

__all__ = ["CFLAGS", "cache_dir", "library"]

#: flags every library is built with: optimised, position independent, warnings are errors
CFLAGS = (
    "-O2",
    "-g0",
    "-fPIC",
    "-shared",
    "-std=gnu11",
    "-Wall",
    "-Werror",
    "-fno-strict-aliasing",
)


def cache_dir() -> Path:
    """``$PYBPF_CACHE/native``, else ``$XDG_CACHE_HOME/pybpf/native`` (``~/.cache``)."""
    base = os.environ.get("PYBPF_CACHE")
    if base:
        return Path(base) / "native"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "pybpf" / "native"


@cache
def _zig_version() -> str:
    """The bundled compiler's version, from the wheel's metadata (no process started)."""
    from importlib import metadata

    try:
        return metadata.version("ziglang")
    except metadata.PackageNotFoundError:
        raise CompileError("the bundled compiler is missing: pip install ziglang") from None


def _digest(
    name: str, sources: Sequence[Path], headers: Sequence[Path], flags: Sequence[str]
) -> str:
    h = hashlib.sha256()
    h.update(f"{name}\0{_zig_version()}\0{' '.join(flags)}\0{sys.platform}\0".encode())
    for p in [*sources, *headers]:
        h.update(p.name.encode() + b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()[:20]


_loaded: dict[str, ctypes.CDLL] = {}


def library(
    name: str,
    sources: Sequence[str | os.PathLike[str]],
    headers: Sequence[str | os.PathLike[str]] = (),
    *,
    flags: Sequence[str] = (),
) -> ctypes.CDLL:
    """The shared library built from ``sources`` (C files), compiling it on first use.

    ``headers`` are the files the sources include (part of the cache key).
    Raises CompileError with the compiler's message when the build fails.
    """
    srcs = [Path(s) for s in sources]
    hdrs = [Path(h) for h in headers]
    allflags = (*CFLAGS, *flags)
    key = _digest(name, srcs, hdrs, allflags)
    lib = _loaded.get(key)
    if lib is not None:
        return lib
    out = cache_dir() / f"lib{name}-{key}.so"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".lib{name}-", suffix=".so", dir=out.parent)
        os.close(fd)
        incs = sorted({f"-I{p.parent}" for p in [*srcs, *hdrs]})
        cmd = [sys.executable, "-m", "ziglang", "cc", *allflags, *incs, "-o", tmp, *map(str, srcs)]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as e:
            os.unlink(tmp)
            raise CompileError(f"building lib{name}: {e}") from None
        if r.returncode != 0:
            os.unlink(tmp)
            raise CompileError(f"building lib{name} failed:\n{(r.stderr or r.stdout).strip()}")
        os.replace(tmp, out)  # atomic: a concurrent builder sees the whole file or none
    try:
        lib = ctypes.CDLL(str(out))
    except OSError as e:
        raise CompileError(f"loading {out}: {e}") from None
    _loaded[key] = lib
    return lib
