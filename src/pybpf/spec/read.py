"""``read_spec``: any program source to an ObjectSpec, touching no kernel and no map."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import BpfError, ElfError
from .types import ObjectSpec

__all__ = ["read_spec"]


def read_spec(
    obj: str | os.PathLike[str] | bytes | bytearray | ObjectSpec,
    *,
    include_dirs: tuple[str, ...] = (),
    defines: tuple[str, ...] = (),
) -> ObjectSpec:
    """The ObjectSpec of ``obj``: an eBPF ELF object (path or bytes), a C file (compiled
    with the bundled clang; ``include_dirs``/``defines`` as ``-I``/``-D``), a macro
    module (``.py``), or an ObjectSpec (returned as it is)."""
    if isinstance(obj, ObjectSpec):
        return obj
    from .elf import load_object

    if isinstance(obj, bytes | bytearray):
        return load_object(bytes(obj))
    path = Path(obj)
    if not path.exists():
        raise BpfError(f"{path}: no such file")
    if path.is_dir():
        raise BpfError(f"{path}: is a directory, not a program source")
    if path.suffix == ".py":
        from .macros import read_macro_module

        return read_macro_module(path)
    if path.suffix == ".c":
        from .cc import compile_c

        compiled = compile_c(path, include_dirs=include_dirs, defines=defines)
        spec = _named(path, load_object, compiled)
        spec.path = str(path)
        return spec
    return _named(path, load_object, path)


def _named(path: Path, fn: Any, *args: Any) -> ObjectSpec:
    """``fn(*args)`` with an object-file error given the user's file name in front."""
    try:
        spec: ObjectSpec = fn(*args)
    except ElfError as e:
        if str(path) in str(e):
            raise
        raise type(e)(f"{path}: {e}", errno=e.errno) from None
    return spec
