"""State comparison for pruning: is an explored state at least as general as the
current one (regsafe/stacksafe in kernel/bpf/verifier.c).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import state as S
from . import tnum as tn
from .branches import _s32_within
from .memory import _spill_size
from .state import RegState, StackSlot

if TYPE_CHECKING:
    pass


def _regsafe(old: RegState, cur: RegState, idmap: dict[int, int]) -> bool:
    if old.type == S.NOT_INIT:
        return True
    if old.type != cur.type or old.maybe_null != cur.maybe_null:
        return False
    if old.type == S.SCALAR:
        return (
            cur.umin >= old.umin
            and cur.umax <= old.umax
            and cur.smin >= old.smin
            and cur.smax <= old.smax
            and _s32_within(old, cur)
            and tn.contains(old.var, cur.var)
        )
    if (
        old.off != cur.off
        or old.map is not cur.map
        or old.mem_size != cur.mem_size
        or old.frameno != cur.frameno
        or old.subprogno != cur.subprogno
    ):
        return False
    if old.id or cur.id:
        if idmap.setdefault(old.id, cur.id) != cur.id:
            return False
    if old.ref_obj_id != cur.ref_obj_id:
        return False
    return (
        cur.umin >= old.umin
        and cur.umax <= old.umax
        and cur.smin >= old.smin
        and cur.smax <= old.smax
        and tn.contains(old.var, cur.var)
    )


def _slotsafe(old: StackSlot, cur: StackSlot, idmap: dict[int, int]) -> bool:
    if old == S.EMPTY_SLOT or old.kinds == S.STACK_INVALID * 8:
        return True
    if old.spilled is not None:
        if cur.spilled is not None and _spill_size(old) != _spill_size(cur):
            return False
        if cur.spilled is None:
            # an explored spilled scalar accepts plain initialised bytes only if unbounded
            return (
                old.spilled.type == S.SCALAR
                and old.spilled == S.UNKNOWN_SCALAR
                and S.STACK_INVALID not in cur.kinds
            )
        return _regsafe(old.spilled, cur.spilled, idmap)
    for ko, kc in zip(old.kinds, cur.kinds, strict=True):
        if ko == S.STACK_INVALID:
            continue
        if kc == S.STACK_INVALID:
            return False
        if (
            ko == S.STACK_ZERO
            and kc != S.STACK_ZERO
            and not (cur.spilled is not None and cur.spilled.is_const and cur.spilled.const == 0)
        ):
            return False
        if ko == S.STACK_MISC and cur.spilled is not None and cur.spilled.is_pointer:
            return False
    return True
