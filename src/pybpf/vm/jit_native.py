"""Native plumbing for the JIT: LLVM compilation and pinned Python buffers.

``compile_ir`` turns the IR text of :mod:`pybpf.vm.jit_codegen` into machine
code: optimised at O2, emitted as an object file (cached on disk, see
:func:`cache_dir`) and linked into the process's one ORC LLJIT as a library of
its own, unloaded when its resource tracker is dropped. ``BufferPin`` takes a
buffer export of a bytearray, bytes or memoryview and hands out the address of
its bytes: while pinned, a bytearray cannot be resized, so the address stays
valid — the property map storage already promises (its bytearray never
reallocates). ``NativeView`` is one Memory's region table as the generated
code reads it.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import time
import weakref
from pathlib import Path
from typing import Any

import llvmlite.binding as llvm

from .jit_abi import FLAG_CTX, FLAG_WRITABLE
from .memory import Memory

__all__ = ["BufferPin", "NativeView", "cache_dir", "compile_ir"]

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


#: bump when the generated code's contract with jit.py changes
CACHE_FORMAT = 1
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


# --- buffer exports ---------------------------------------------------------------------


class _PyBuffer(ctypes.Structure):
    _fields_ = [
        ("buf", ctypes.c_void_p),
        ("obj", ctypes.c_void_p),
        ("len", ctypes.c_ssize_t),
        ("itemsize", ctypes.c_ssize_t),
        ("readonly", ctypes.c_int),
        ("ndim", ctypes.c_int),
        ("format", ctypes.c_char_p),
        ("shape", ctypes.c_void_p),
        ("strides", ctypes.c_void_p),
        ("suboffsets", ctypes.c_void_p),
        ("internal", ctypes.c_void_p),
    ]


# our own handle on the C API, so that argtypes set here change nobody else's functions
_api = ctypes.PyDLL(None)
_get_buffer = _api.PyObject_GetBuffer
_get_buffer.argtypes = [ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int]
_get_buffer.restype = ctypes.c_int
_release_buffer = _api.PyBuffer_Release
_release_buffer.argtypes = [ctypes.POINTER(_PyBuffer)]
_release_buffer.restype = None
_PyBUF_SIMPLE = 0


class BufferPin:
    """A held buffer export of ``obj``: ``addr`` and ``size`` of its bytes until released.

    Writable buffers are pinned with ``ctypes.c_char.from_buffer`` (cheap; the
    export ends when the ctypes object goes), read-only ones through
    ``PyObject_GetBuffer``/``PyBuffer_Release``.
    """

    __slots__ = ("obj", "addr", "size", "_view", "_ref", "__weakref__")

    def __init__(self, obj: Any) -> None:
        self.obj = obj
        self._view: _PyBuffer | None = None
        self._ref: Any = None
        n = len(obj) if not isinstance(obj, memoryview) else obj.nbytes
        if n and (isinstance(obj, bytearray) or (isinstance(obj, memoryview) and not obj.readonly)):
            ref = ctypes.c_char.from_buffer(obj)
            self._ref = ref
            self.addr = ctypes.addressof(ref)
            self.size = n
            return
        view = _PyBuffer()
        _get_buffer(obj, ctypes.byref(view), _PyBUF_SIMPLE)
        self._view = view
        self.addr = view.buf or 0
        self.size = view.len

    def release(self) -> None:
        self._ref = None
        view, self._view = self._view, None
        if view is not None:
            _release_buffer(ctypes.byref(view))

    def __del__(self) -> None:
        self.release()


class NativeView:
    """The region table of one :class:`Memory`: per slot (host address, size, flags).

    Rebuilt when the memory's regions change (a helper maps a map's storage on
    its first lookup, say); the buffers stay pinned while the view lives.
    """

    def __init__(self, mem: Memory) -> None:
        self._mem = weakref.ref(mem)  # views are kept per memory; they must not keep it alive
        self.pins: dict[int, BufferPin] = {}
        self.table: Any = (ctypes.c_uint64 * 3)()
        self.addr = ctypes.addressof(self.table)
        self.len = 0
        #: bumped on every rebuild, so users of the table know to reload it
        self.generation = 0
        self._key: tuple[int, int, int] = (-1, -1, -1)

    @property
    def mem(self) -> Memory:
        mem = self._mem()
        if mem is None:
            raise ReferenceError("the memory of this view is gone")
        return mem

    def _version(self) -> tuple[int, int, int]:
        mem = self.mem
        # Memory's own bookkeeping: the slot dict and the next fresh slot change on every
        # add_region/remove_region (slots are never reused)
        return (len(mem._slots), mem._next_slot, id(getattr(mem, "ctx_region", None)))

    def sync(self) -> bool:
        """Bring the table up to date; True if it was rebuilt (its address may change)."""
        key = self._version()
        if key == self._key:
            return False
        mem = self.mem
        slots: dict[int, Any] = mem._slots
        ctx_region = getattr(mem, "ctx_region", None)
        cap = max(slots, default=0) + 1
        table = (ctypes.c_uint64 * (3 * cap))()
        pins: dict[int, BufferPin] = {}
        for slot, region in slots.items():
            pin = self.pins.get(slot)
            if pin is None or pin.obj is not region.buf:
                pin = BufferPin(region.buf)
            pins[slot] = pin
            flags = FLAG_WRITABLE if region.writable else 0
            if region is ctx_region:
                flags |= FLAG_CTX
            table[3 * slot] = pin.addr
            table[3 * slot + 1] = min(region.size, pin.size)
            table[3 * slot + 2] = flags
        for slot, pin in self.pins.items():
            if pins.get(slot) is not pin:
                pin.release()
        self.pins = pins
        self.table = table
        self.addr = ctypes.addressof(table)
        self.len = cap
        self.generation += 1
        self._key = key
        return True

    def host(self, region: Any) -> int:
        """Host address of a mapped region's first byte (after :meth:`sync`)."""
        return self.pins[region.slot].addr

    def close(self) -> None:
        for pin in self.pins.values():
            pin.release()
        self.pins = {}
        self._key = (-1, -1, -1)
