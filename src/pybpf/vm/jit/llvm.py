"""LLVM compilation for the JIT.

``compile_ir`` turns the IR text of :mod:`pybpf.vm.jit.codegen` into machine
code: optimised at O2, emitted as an object file (cached on disk, see
:func:`cache_dir`) and linked into the process's one ORC LLJIT as a library of
its own, unloaded when its resource tracker is dropped.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import llvmlite.binding as llvm

__all__ = ["cache_dir", "compile_ir"]

_host: tuple[Any, str, str] | None = None
_tm: Any = None


def _machine() -> Any:
    """The host's target machine (O2, the JIT code model), made once."""
    global _host, _tm
    if _tm is not None:
        return _tm
    if _host is None:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        _host = (
            llvm.Target.from_default_triple(),
            llvm.get_host_cpu_name(),
            llvm.get_host_cpu_features().flatten(),
        )
    target, cpu, features = _host
    _tm = target.create_target_machine(cpu=cpu, features=features, opt=2, codemodel="jitdefault")
    return _tm


def cache_dir() -> Path | None:
    """Where compiled programs are kept between processes: $PYBPF_JIT_CACHE_DIR, else
    $XDG_CACHE_HOME/pybpf/jit; None when $PYBPF_JIT_CACHE is "0" (no disk cache)."""
    if os.environ.get("PYBPF_JIT_CACHE", "1") == "0":
        return None
    env = os.environ.get("PYBPF_JIT_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pybpf" / "jit"


def _cache_key(ir: str) -> str:
    _machine()
    assert _host is not None
    h = hashlib.sha256()
    for part in (ir, llvm.llvm_version_info, _host[1], _host[2], CACHE_FORMAT):
        h.update(repr(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:40]


#: bump when the generated code's contract (pybpf.vm.jit.abi) changes
CACHE_FORMAT = 2
#: objects kept on disk; the least recently written beyond this are removed
CACHE_MAX_FILES = 2048
_writes = 0


def _prune(cdir: Path) -> None:
    global _writes
    _writes += 1
    if _writes % 64:
        return
    files = sorted(cdir.glob("*.o"), key=lambda p: p.stat().st_mtime)
    for p in files[: max(len(files) - CACHE_MAX_FILES, 0)]:
        p.unlink(missing_ok=True)


_lljit: Any = None
_libs = 0


def _orc() -> Any:
    """The process's one ORC LLJIT: every program is a JIT library in it, unloaded when
    its tracker goes (one MCJIT engine per program costs ~0.8 MB; a library, its code)."""
    global _lljit
    if _lljit is None:
        _machine()
        _lljit = llvm.create_lljit_compiler()
    return _lljit


def compile_ir(ir: str, name: str = "bpf_prog") -> tuple[Any, int, float, bool]:
    """(resource tracker, address of ``name``, seconds taken, whether it came from the disk
    cache) for the IR text ``ir``. Keep the tracker while the code may run.

    The IR is optimised at O2 and compiled to an object file, which is cached on disk
    by a hash of the IR, the LLVM version and the host CPU, so the next process
    loads it instead of compiling again; the object is linked into the JIT.
    """
    global _libs
    t0 = time.perf_counter()
    cdir = cache_dir()
    path = cdir / f"{_cache_key(ir)}.o" if cdir is not None else None
    obj: bytes | None = None
    if path is not None and path.is_file():
        try:
            obj = path.read_bytes()
        except OSError:
            obj = None
    from_disk = obj is not None
    if obj is None:
        tm = _machine()
        mod = llvm.parse_assembly(ir)
        mod.verify()
        pto = llvm.create_pipeline_tuning_options(speed_level=2)
        pb = llvm.create_pass_builder(tm, pto)
        pb.getModulePassManager().run(mod, pb)
        obj = tm.emit_object(mod)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_bytes(obj)
                os.replace(tmp, path)
                _prune(path.parent)
            except OSError:
                pass  # a cache we cannot write is no cache
    _libs += 1
    tracker = (
        llvm.JITLibraryBuilder()
        .add_object_img(obj)
        .add_current_process()
        .export_symbol(name)
        .link(_orc(), f"bpf_prog_{_libs}")
    )
    return tracker, tracker[name], time.perf_counter() - t0, from_disk
