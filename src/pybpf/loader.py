"""``pybpf.load``: specs become live programs and maps in one backend.

This is where "spec before load" ends, and it is one loop whatever the
backend: every map of the ObjectSpec is created (``Backend.create_map``), then
every program is loaded with its map references resolved against those maps
(``Backend.load_program``; a macro module's ``build(maps)`` runs first), then
the PROG_ARRAY slots the object names are filled. On any failure everything
created so far is closed. The spec is never changed, so the same spec can be
loaded again, into the other backend.

The result, a :class:`Collection`, hides which backend it came from: its
programs and maps have the :mod:`pybpf.api` interfaces.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import BpfError
from .spec.linker import build_program, fill_prog_arrays
from .spec.read import read_spec
from .spec.types import ObjectSpec

__all__ = ["BACKENDS", "Collection", "load", "load_spec", "make_backend", "read_spec"]

#: the backends by name
BACKENDS = ("user", "kernel")


@dataclass
class Collection:
    """Live programs and maps loaded from one object, in one backend."""

    programs: dict[str, Any]
    maps: dict[str, Any]
    #: the loaded spec (for a macro module: with the instructions its build() made)
    spec: ObjectSpec
    #: the Backend object that holds them
    backend: Any
    #: what the verifier said per program: statistics (user) or the kernel's log
    verifier: dict[str, Any] = field(default_factory=dict)

    @property
    def backend_name(self) -> str:
        """``"user"`` or ``"kernel"``."""
        return str(getattr(self.backend, "name", self.backend))

    def program(self, name: str | None = None) -> Any:
        """The named program, or the only/first one when ``name`` is None."""
        if name is None:
            if not self.programs:
                raise BpfError(f"{self.spec.path or 'the object'}: has no programs")
            return next(iter(self.programs.values()))
        try:
            return self.programs[name]
        except KeyError:
            have = ", ".join(self.programs) or "none"
            raise BpfError(f"no program named {name!r} (programs: {have})") from None

    def select(self, section: str | None = None) -> tuple[str, Any]:
        """(name, program) for a program name or ELF section name; the first program for None."""
        if section is None:
            name = next(iter(self.programs), None)
            if name is None:
                raise BpfError(f"{self.spec.path or 'the object'}: has no programs")
            return name, self.programs[name]
        for name, ps in self.spec.programs.items():
            if section in (name, ps.section):
                return name, self.programs[name]
        have = ", ".join(f"{n} ({p.section})" for n, p in self.spec.programs.items()) or "none"
        raise BpfError(f"no program or section named {section!r} (have: {have})")

    def __iter__(self) -> Iterator[str]:
        return iter(self.programs)

    def close(self) -> None:
        """Release every program's and map's fd (kernel objects are freed by the kernel)."""
        for obj in [*self.programs.values(), *self.maps.values()]:
            obj.close()

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        progs = ", ".join(
            f"{n} ({len(getattr(p, 'insns', []))} insns)" for n, p in self.programs.items()
        )
        maps = ", ".join(
            f"{n} ({type(m).__name__} {m.key_size}/{m.value_size}x{m.max_entries})"
            for n, m in self.maps.items()
        )
        src = self.spec.path or "spec"
        return f"<Collection {src} [{self.backend_name}] programs: {progs or '-'}; maps: {maps or '-'}>"


def make_backend(backend: Any = "user", *, engine: str = "interp", verify: bool = True) -> Any:
    """A Backend object from a name (``"user"``/``"kernel"``) or a Backend (returned as is)."""
    if not isinstance(backend, str):
        return backend
    if backend == "user":
        from .user.backend import UserBackend

        return UserBackend(engine=engine, verify=verify)
    if backend == "kernel":
        from .kernel.backend import KernelBackend

        return KernelBackend()
    raise BpfError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")


def load(
    obj: str | os.PathLike[str] | bytes | ObjectSpec,
    *,
    backend: Any = "user",
    verify: bool = True,
    log_level: int = 0,
    include_dirs: tuple[str, ...] = (),
    defines: tuple[str, ...] = (),
    engine: str = "interp",
) -> Collection:
    """Load every map and program ``obj`` describes into ``backend``.

    ``obj``: an eBPF object (``.o``), a C file (``.c``, compiled with ``pybpf cc``
    and ``include_dirs``/``defines``), a macro module (``.py``), raw ELF bytes, or
    an ObjectSpec. ``backend``: ``"user"`` (a fresh :class:`pybpf.user.UserBackend`
    with ``engine`` "interp" or "jit"; ``verify`` runs pybpf's verifier first, as
    the kernel always does), ``"kernel"``, or a Backend object to load into.
    """
    be = make_backend(backend, engine=engine, verify=verify)
    spec = read_spec(obj, include_dirs=include_dirs, defines=defines)
    return load_spec(spec, be, log_level=log_level)


def load_spec(spec: ObjectSpec, backend: Any, *, log_level: int = 0) -> Collection:
    """The one loader loop (see the module doc); ``backend`` is a Backend object."""
    maps: dict[str, Any] = {}
    programs: dict[str, Any] = {}
    verdicts: dict[str, Any] = {}
    built = dict(spec.programs)
    try:
        for name, ms in spec.maps.items():
            maps[name] = backend.create_map(ms, btf=spec.btf)
        for name, ps in spec.programs.items():
            if spec.builder is not None:
                ps = built[name] = build_program(spec, name, spec.builder, maps)
            prog = backend.load_program(ps, maps, log_level=log_level)
            programs[name] = prog
            verdicts[name] = backend.verifier_result(prog)
        fill_prog_arrays(spec, maps, programs)
    except BaseException:
        for obj in [*programs.values(), *maps.values()]:
            obj.close()
        raise
    loaded = dataclasses.replace(spec, programs=built) if spec.builder is not None else spec
    return Collection(programs, maps, loaded, backend, verdicts)
