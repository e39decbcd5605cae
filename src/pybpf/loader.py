"""``pybpf.load``: turn specs into live programs and maps, in one backend.

This is the only place where "spec before load" ends. An object file, a C
file (compiled on the fly), a Python module of kernel macros, or an
ObjectSpec is read into specs; then every map is created and every program
loaded in the chosen backend:

* ``backend="user"``: pybpf's maps, its verifier and its interpreter;
* ``backend="kernel"``: bpf(BPF_MAP_CREATE / BPF_PROG_LOAD) in the running kernel.

Both give a :class:`Collection` whose programs and maps have the same
interface, so a test written against one runs against the other.

A macro module is a Python file that defines ``MAPS`` (name -> MapSpec) and
``build(maps) -> list[Insn]``; ``build`` receives the live maps of the chosen
backend, so ``BPF_LD_MAP_FD(BPF_REG_1, maps["my_map"])`` works exactly as the
kernel's macro does with a map fd. It may also define ``PROG_TYPE``,
``LICENSE`` and ``NAME``.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import uapi
from .errors import BpfError, NotSupportedError
from .spec.linker import build_program, fill_prog_arrays
from .spec.types import ObjectSpec, ProgramSpec

BACKENDS = ("user", "kernel")


@dataclass
class Collection:
    """Live programs and maps loaded from one object, in one backend."""

    programs: dict[str, Any]
    maps: dict[str, Any]
    spec: ObjectSpec
    backend: str
    #: verifier statistics per program (user backend) or the kernel's verifier log
    verifier: dict[str, Any] = field(default_factory=dict)

    def program(self, name: str | None = None) -> Any:
        """The named program, or the only/first one when ``name`` is None."""
        if name is None:
            if not self.programs:
                raise BpfError("the object has no programs")
            return next(iter(self.programs.values()))
        try:
            return self.programs[name]
        except KeyError:
            have = ", ".join(self.programs) or "none"
            raise BpfError(f"no program named {name!r} (programs: {have})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.programs)

    def close(self) -> None:
        """Release kernel file descriptors (a no-op for user-space objects)."""
        for obj in [*self.programs.values(), *self.maps.values()]:
            close = getattr(obj, "close", None)
            if close is not None and self.backend == "kernel":
                close()

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load(
    obj: str | os.PathLike[str] | bytes | ObjectSpec,
    *,
    backend: str = "user",
    verify: bool = True,
    log_level: int = 0,
    include_dirs: tuple[str, ...] = (),
    defines: tuple[str, ...] = (),
    engine: str = "interp",
) -> Collection:
    """Load every map and program ``obj`` describes into ``backend``.

    ``obj``: path of an eBPF object (``.o``), a C file (``.c``, compiled with
    ``pybpf cc``), a macro module (``.py``), raw ELF bytes, or an ObjectSpec.
    In the user backend, ``verify`` runs pybpf's verifier on each program
    first, as the kernel always does; refusal raises VerifierError. ``engine``
    picks the interpreter or the JIT (which always verifies).
    """
    if backend not in BACKENDS:
        raise BpfError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    if isinstance(obj, ObjectSpec):
        return _load_spec(obj, backend, verify, log_level, builder=None, engine=engine)
    if isinstance(obj, bytes | bytearray):
        from .spec.elf import load_object

        return _load_spec(
            load_object(bytes(obj)), backend, verify, log_level, builder=None, engine=engine
        )
    path = Path(obj)
    if not path.exists():
        raise BpfError(f"{path}: no such file")
    if path.suffix == ".py":
        spec, builder = _macro_module(path)
        return _load_spec(spec, backend, verify, log_level, builder=builder, engine=engine)
    if path.suffix == ".c":
        from .spec.cc import compile_c

        path = compile_c(path, include_dirs=include_dirs, defines=defines)
    from .spec.elf import load_object

    return _load_spec(load_object(path), backend, verify, log_level, builder=None, engine=engine)


def read_spec(obj: str | os.PathLike[str] | bytes | ObjectSpec) -> ObjectSpec:
    """The ObjectSpec of an object, C file or bytes, without loading anything."""
    if isinstance(obj, ObjectSpec):
        return obj
    from .spec.elf import load_object

    if isinstance(obj, bytes | bytearray):
        return load_object(bytes(obj))
    path = Path(obj)
    if path.suffix == ".py":
        return _macro_module(path)[0]
    if path.suffix == ".c":
        from .spec.cc import compile_c

        path = compile_c(path)
    return load_object(path)


# --- internals ------------------------------------------------------------------------------
def _macro_module(path: Path) -> tuple[ObjectSpec, Any]:
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
    spec = ObjectSpec(programs={name: prog}, maps=dict(maps), license=prog.license, path=str(path))
    return spec, build


def _create_maps(spec: ObjectSpec) -> dict[str, Any]:
    from .maps import create_map

    maps: dict[str, Any] = {}
    for name, ms in spec.maps.items():
        if ms.type in (uapi.BPF_MAP_TYPE_ARRAY_OF_MAPS, uapi.BPF_MAP_TYPE_HASH_OF_MAPS):
            raise NotSupportedError(
                f"map {name!r}: map-in-map types are not modelled in "
                "user space yet; use backend='kernel'"
            )
        maps[name] = create_map(ms)
    return maps


def _load_spec(
    spec: ObjectSpec,
    backend: str,
    verify: bool,
    log_level: int,
    builder: Any,
    engine: str = "interp",
) -> Collection:
    if backend == "kernel":
        # libbpf's order (BTF, maps with BTF ids, programs, prog arrays), closing on failure
        from .kernel.loader import load_object

        kmaps, kprogs, logs = load_object(spec, log_level=log_level, builder=builder)
        return Collection(kprogs, kmaps, spec, backend, dict(logs))
    from .user.program import Program

    maps = _create_maps(spec)
    programs: dict[str, Any] = {}
    verifier: dict[str, Any] = {}
    for name, ps in list(spec.programs.items()):
        if builder is not None:
            ps = build_program(spec, name, builder, maps)
        prog = Program.from_spec(
            ps, maps, engine=engine, line_info=ps.line_info, func_info=ps.func_info
        )
        if verify:
            verifier[name] = (
                prog.verification
                if prog.verification is not None and not log_level
                else prog.verify(log_level=log_level)
            )
        programs[name] = prog
    fill_prog_arrays(spec, maps, programs)
    return Collection(programs, maps, spec, backend, verifier)
