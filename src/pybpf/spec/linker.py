"""The load-time steps both backends share: building macro programs, filling prog arrays.

An ObjectSpec names things by name: a macro module's ``build(maps)`` needs the
live maps before its instructions exist, and a PROG_ARRAY's ``values`` name
programs that only exist once loaded. These steps are the same whether the
maps and programs live in pybpf or in the kernel (both take a program's fd as
a 4-byte prog-array value), so they live here, below both backends.
"""

from __future__ import annotations

import dataclasses
import errno
from collections.abc import Callable, Mapping
from typing import Any

from .. import uapi
from ..errors import BpfError, MapError
from .types import MapSpec, ObjectSpec, ProgramSpec


def build_program(
    spec: ObjectSpec, name: str, builder: Callable[[Any], Any], maps: Mapping[str, Any]
) -> ProgramSpec:
    """Run a macro module's ``build(maps)``: a new ProgramSpec (``spec`` is left as it is)."""
    ps = spec.programs[name]
    try:
        insns = list(builder(maps))
    except BpfError:
        raise
    except Exception as e:  # a user's build(): report it, never a traceback
        raise BpfError(f"{spec.path}: build(maps) failed: {type(e).__name__}: {e}") from e
    return dataclasses.replace(ps, insns=insns)


def fill_prog_arrays(
    spec: ObjectSpec, maps: Mapping[str, Any], programs: Mapping[str, Any]
) -> None:
    """Store the programs each PROG_ARRAY's ``values`` name into its slots, as libbpf does."""
    for name, ms in spec.maps.items():
        values = ms.extra.get("values") if isinstance(ms, MapSpec) else None
        if ms.type != uapi.BPF_MAP_TYPE_PROG_ARRAY or not values:
            continue
        for idx, target in dict(values).items():
            prog = programs.get(target) if isinstance(target, str) else target
            if prog is None:
                raise MapError(
                    f"map {name!r}: slot {idx} names program {target!r}, which the "
                    "object does not define",
                    errno=errno.ENOENT,
                )
            maps[name].update(int(idx).to_bytes(4, "little"), int(prog.fd).to_bytes(4, "little"))
