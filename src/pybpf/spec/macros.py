"""Macro modules: a Python file of kernel instruction macros is a program source too.

A macro module defines ``MAPS`` (name -> :class:`MapSpec`) and
``build(maps) -> list[Insn]``, and may define ``PROG_TYPE``, ``LICENSE`` and
``NAME``. ``build`` receives the live maps of whichever backend loads the
spec, so ``BPF_LD_MAP_FD(BPF_REG_1, maps["my_map"])`` reads exactly as the
seed's C does with a map fd (samples/bpf/sock_example.c).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path

from .. import uapi
from ..errors import BpfError
from .types import ObjectSpec, ProgramSpec

__all__ = ["read_macro_module"]


def read_macro_module(path: str | Path) -> ObjectSpec:
    """The ObjectSpec of a macro module: its maps, and one program whose instructions
    its ``build`` makes at load time (``ObjectSpec.builder``)."""
    path = Path(path)
    mod_spec = importlib.util.spec_from_file_location(f"pybpf_prog_{path.stem}", path)
    if mod_spec is None or mod_spec.loader is None:
        raise BpfError(f"{path}: cannot be imported as a Python module")
    mod = importlib.util.module_from_spec(mod_spec)
    try:
        mod_spec.loader.exec_module(mod)
    except BpfError:
        raise
    except Exception as e:  # a user's module: report, never a traceback
        raise BpfError(f"{path}: importing the module failed: {type(e).__name__}: {e}") from e
    build = getattr(mod, "build", None)
    maps = getattr(mod, "MAPS", {})
    if not callable(build) or not isinstance(maps, Mapping):
        raise BpfError(
            f"{path}: a macro module defines MAPS (name -> MapSpec) and "
            "build(maps) -> list of instructions"
        )
    name = getattr(mod, "NAME", path.stem)
    prog = ProgramSpec(
        name=name,
        insns=[],
        prog_type=getattr(mod, "PROG_TYPE", uapi.BPF_PROG_TYPE_SOCKET_FILTER),
        license=getattr(mod, "LICENSE", "GPL"),
        section="macros",
    )
    return ObjectSpec(
        programs={name: prog},
        maps=dict(maps),
        license=prog.license,
        path=str(path),
        builder=build,
    )
