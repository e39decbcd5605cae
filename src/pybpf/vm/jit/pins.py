"""Python buffers handed to native code: pinned exports and one memory's region table.

``BufferPin`` takes a buffer export of a bytearray, bytes or memoryview and
hands out the address of its bytes: while pinned, a bytearray cannot be
resized, so the address stays valid — the property map storage already
promises (its buffer never reallocates). ``NativeView`` is one Memory's region
table as the generated code reads it (:mod:`pybpf.vm.jit.abi`).
"""

from __future__ import annotations

import ctypes
import weakref
from typing import Any

from ..memory import Memory, Region
from .abi import FLAG_CTX, FLAG_WRITABLE

__all__ = ["BufferPin", "NativeView"]


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

    Rebuilt when the memory's regions change (``Memory.generation``); the
    buffers stay pinned while the view lives. ``narrow``/``narrow_len`` describe
    the narrow-load table of the context region (the one region that has one).
    """

    def __init__(self, mem: Memory) -> None:
        self._mem = weakref.ref(mem)  # views are kept per memory; they must not keep it alive
        self.pins: dict[int, BufferPin] = {}
        self.table: Any = (ctypes.c_uint64 * 3)()
        self.addr = ctypes.addressof(self.table)
        self.len = 0
        self.narrow: Any = None
        self.narrow_addr = 0
        self.narrow_len = 0
        #: bumped on every rebuild, so users of the table know to reload it
        self.generation = 0
        self._seen = -1

    @property
    def mem(self) -> Memory:
        mem = self._mem()
        if mem is None:
            raise ReferenceError("the memory of this view is gone")
        return mem

    def sync(self) -> bool:
        """Bring the table up to date; True if it was rebuilt (its address may change)."""
        mem = self.mem
        if mem.generation == self._seen:
            return False
        slots = mem.slots()
        cap = max(slots, default=0) + 1
        table = (ctypes.c_uint64 * (3 * cap))()
        pins: dict[int, BufferPin] = {}
        self.narrow, self.narrow_addr, self.narrow_len = None, 0, 0
        for slot, region in slots.items():
            pin = self.pins.get(slot)
            if pin is None or pin.obj is not region.buf:
                pin = BufferPin(region.buf)
            pins[slot] = pin
            flags = FLAG_WRITABLE if region.writable else 0
            if region.narrow is not None:
                flags |= FLAG_CTX
                self.narrow = (ctypes.c_uint8 * max(len(region.narrow), 1)).from_buffer_copy(
                    region.narrow.ljust(1, b"\0")
                )
                self.narrow_addr = ctypes.addressof(self.narrow)
                self.narrow_len = len(region.narrow)
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
        self._seen = mem.generation
        return True

    def host(self, region: Region) -> int:
        """Host address of a mapped region's first byte (after :meth:`sync`)."""
        return self.pins[region.slot].addr

    def close(self) -> None:
        for pin in self.pins.values():
            pin.release()
        self.pins = {}
        self._seen = -1
