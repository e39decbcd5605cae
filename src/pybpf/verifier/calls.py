"""Helper and bpf-to-bpf calls, exits and the combined stack limit
(check_helper_call, check_func_call, prepare_func_exit, check_max_stack_depth).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from .. import uapi
from ..errors import NotSupportedError
from ..helpers import proto as H
from ..helpers.proto import ArgType as A
from ..helpers.proto import RetType as RT
from ..isa import (
    BPF_PSEUDO_CALL,
    BPF_PSEUDO_FUNC,
    MAX_BPF_STACK,
    OPCODES,
    Insn,
)
from . import state as S
from . import tnum as tn
from .env import VerifierEnv
from .helper_rules import find_helper, map_func_compatible
from .limits import BPF_MAX_VAR_OFF, CALLER_SAVED, MAX_CALL_FRAMES
from .memory import _slot, _spill_size, _stack_byte
from .state import RegState

if TYPE_CHECKING:
    from .check import _Path


class CallChecks(VerifierEnv):
    """Mixed into pybpf.verifier.check.Verifier."""

    # ------------------------------------------------------------------ calls
    def _check_helper_call(self, path: _Path, insn: Insn, pc: int, pending: list[_Path]) -> None:
        fid = insn.imm
        helper = find_helper(
            fid, self.prog, privileged=self.privileged, license=self.license, pc=pc
        )
        name = helper.name
        proto = helper.proto
        if not helper.implemented:
            raise NotSupportedError(
                f"insn {pc}: helper bpf_{name}#{fid} is allowed here but not modelled "
                f"in user space: {helper.reason}"
            )
        regs = path.cur.regs
        meta_map: Any = None
        alloc_size = 0
        released: int | None = None
        key_const: int | None = None
        cb_sub: int | None = None
        args = proto.args
        for i, at in enumerate(args):
            regno = i + 1
            base = H.base_type(at)
            if base == A.ARG_DONTCARE:
                continue
            reg = self._read_reg(path, regno, pc)
            maybe_null = bool(at & H.PTR_MAYBE_NULL)
            if maybe_null and reg.type == S.SCALAR and reg.is_const and reg.const == 0:
                continue  # register_is_null: NULL is always fine for an *_OR_NULL argument
            if base == A.ARG_ANYTHING:
                if reg.is_pointer and not self.privileged:
                    raise self._err(f"R{regno} leaks addr into helper function", pc)
            elif base == A.ARG_CONST_MAP_PTR:
                if reg.type != S.CONST_PTR_TO_MAP:
                    raise self._err(f"R{regno} type={reg.type_name()} expected=map_ptr", pc)
                meta_map = reg.map
            elif base in (A.ARG_PTR_TO_MAP_KEY, A.ARG_PTR_TO_MAP_VALUE):
                if meta_map is None:
                    raise self._err("invalid map_ptr to access map->key", pc)
                is_key = base == A.ARG_PTR_TO_MAP_KEY
                size = meta_map.key_size if is_key else meta_map.value_size
                self._check_helper_mem(path, regno, size, size, bool(at & H.MEM_UNINIT), pc)
                if is_key and self.privileged:  # get_constant_map_key: bpf_capable only
                    key_const = self._const_stack_key(path, reg, size)
            elif base == A.ARG_PTR_TO_MEM and at & H.MEM_FIXED_SIZE:
                size = dict(proto.arg_size).get(i, 8)
                self._check_helper_mem(path, regno, size, size, bool(at & H.MEM_UNINIT), pc)
            elif base == A.ARG_PTR_TO_MEM:
                nxt = H.base_type(args[i + 1]) if i + 1 < len(args) else None
                if nxt not in (A.ARG_CONST_SIZE, A.ARG_CONST_SIZE_OR_ZERO):
                    raise self._err(f"R{regno} helper argument without a size", pc)
                sz = self._read_reg(path, regno + 1, pc)
                if sz.type != S.SCALAR:
                    raise self._err(f"R{regno + 1} type={sz.type_name()} expected=scalar", pc)
                if sz.smin < 0:
                    raise self._err(
                        f"R{regno + 1} min value is negative, either use unsigned "
                        "or 'var &= const'",
                        pc,
                    )
                if sz.umin == 0 and nxt == A.ARG_CONST_SIZE:
                    raise self._err(f"R{regno + 1} invalid zero-sized read", pc)
                if sz.umax >= BPF_MAX_VAR_OFF:
                    raise self._err(
                        f"R{regno + 1} unbounded memory access, use 'var &= const' "
                        "or 'if (var < const)'",
                        pc,
                    )
                # a variable size disables raw mode: the memory must be initialised
                uninit = bool(at & H.MEM_UNINIT)
                self._check_helper_mem(
                    path, regno, sz.umin, sz.umax, uninit and sz.is_const, pc, mem_arg=True
                )
                if uninit and not sz.is_const:
                    self._check_helper_mem(path, regno, sz.umin, sz.umax, True, pc)
            elif base in (A.ARG_CONST_SIZE, A.ARG_CONST_SIZE_OR_ZERO):
                continue  # checked with the pointer before it
            elif base == A.ARG_PTR_TO_CTX:
                if reg.type != S.PTR_TO_CTX:
                    raise self._err(f"R{regno} type={reg.type_name()} expected=ctx", pc)
                self._check_ptr_off_reg(reg, regno, pc)
            elif base == A.ARG_CONST_ALLOC_SIZE_OR_ZERO:
                if not (reg.type == S.SCALAR and reg.is_const):
                    raise self._err(f"R{regno} is not a known constant'", pc)
                alloc_size = reg.const
            elif base == A.ARG_PTR_TO_RINGBUF_MEM:
                if reg.type != S.PTR_TO_MEM or not reg.ref_obj_id or reg.maybe_null:
                    raise self._err(f"R{regno} type={reg.type_name()} expected=ringbuf_mem", pc)
                if reg.off:
                    raise self._err(
                        f"R{regno} must have zero offset when passed to release func", pc
                    )
                released = reg.ref_obj_id
            elif base == A.ARG_PTR_TO_FUNC:
                if reg.type != S.PTR_TO_FUNC:
                    raise self._err(f"R{regno} type={reg.type_name()} expected=func", pc)
                cb_sub = reg.subprogno
            elif base == A.ARG_PTR_TO_STACK:
                if reg.type != S.PTR_TO_STACK:
                    raise self._err(f"R{regno} type={reg.type_name()} expected=fp", pc)
            elif base == A.ARG_PTR_TO_CONST_STR:
                if reg.type != S.PTR_TO_MAP_VALUE:
                    raise self._err(f"R{regno} type={reg.type_name()} expected=map_value", pc)
            else:
                raise NotSupportedError(
                    f"insn {pc}: helper bpf_{name}#{fid} takes {H.arg_type_name(at)} "
                    f"in R{regno}, which pybpf's verifier does not model"
                )
        if cb_sub is not None:
            self._push_callback(path, fid, cb_sub, meta_map, pc, pending)
        if released is not None:
            if not any(r == released for r, _ in path.refs):
                raise self._err("R1 must be referenced when passed to release function", pc)
            path.refs = tuple(x for x in path.refs if x[0] != released)
            for f in path.frames:
                for i, r in enumerate(f.regs):
                    if r.ref_obj_id == released:  # mark_reg_invalid
                        f.regs[i] = S.UNKNOWN_SCALAR if self.privileged else S.NOT_INIT_REG
        for regno in CALLER_SAVED:
            regs[regno] = S.NOT_INIT_REG
        ret = proto.ret
        if ret == RT.RET_INTEGER:
            regs[0] = S.UNKNOWN_SCALAR
        elif ret == RT.RET_VOID:
            regs[0] = S.NOT_INIT_REG
        elif ret == H.RET_PTR_TO_MAP_VALUE_OR_NULL:
            null = not (
                fid == uapi.BPF_FUNC_map_lookup_elem
                and key_const is not None
                and meta_map.type in (uapi.BPF_MAP_TYPE_ARRAY, uapi.BPF_MAP_TYPE_PERCPU_ARRAY)
                and key_const < meta_map.max_entries
            )
            regs[0] = RegState(
                S.PTR_TO_MAP_VALUE,
                tn.const(0),
                0,
                0,
                0,
                0,
                map=meta_map,
                maybe_null=null,
                id=self._new_id() if null else 0,
            )
        elif ret == H.RET_PTR_TO_RINGBUF_MEM_OR_NULL:
            rid = self._new_id()
            regs[0] = RegState(
                S.PTR_TO_MEM,
                tn.const(0),
                0,
                0,
                0,
                0,
                maybe_null=True,
                id=rid,
                mem_size=alloc_size,
                ref_obj_id=rid,
            )
            path.refs = path.refs + ((rid, pc),)
        else:
            raise NotSupportedError(
                f"insn {pc}: helper bpf_{name}#{fid} returns {H.ret_type_name(ret)}, "
                "which pybpf's verifier does not model"
            )
        if meta_map is not None and not map_func_compatible(meta_map.type, fid):
            raise self._err(
                f"cannot pass map_type {meta_map.type} into func {name}#{fid}", pc, errno.EINVAL
            )

    def _push_callback(
        self,
        path: _Path,
        fid: int,
        sub: int,
        meta_map: Any,
        pc: int,
        pending: list[_Path],
    ) -> None:
        """push_callback_call: explore the callback body later, from a copy of this state.

        The callback's exit returns to this call, which pushes the next visit; the
        loop ends when the state at the call is no more general than an explored one
        (or, for bpf_loop, after nr_loops visits), as in Linux 6.8+.
        """
        caller = path.cur
        regs = caller.regs
        if fid == BPF_FUNC_loop:
            if caller.callback_depth >= regs[1].umax:
                caller.callback_depth = 0
                return
            entry = [S.UNKNOWN_SCALAR, regs[3]]  # set_loop_callback_state: (index, ctx)
        elif fid == BPF_FUNC_for_each_map_elem:
            if meta_map.type not in _FOR_EACH_MAPS:  # no map_set_for_each_callback_args
                raise self._err("callback function not allowed for map", pc, uapi.ENOTSUPP)
            entry = [  # set_map_elem_callback_state: (map, key, value, ctx)
                RegState(S.CONST_PTR_TO_MAP, tn.const(0), 0, 0, 0, 0, map=meta_map),
                RegState(S.PTR_TO_MAP_KEY, tn.const(0), 0, 0, 0, 0, map=meta_map),
                RegState(S.PTR_TO_MAP_VALUE, tn.const(0), 0, 0, 0, 0, map=meta_map),
                regs[3],
            ]
        else:
            raise self._err(
                f"callbacks of helper #{fid} are not modelled by pybpf's verifier",
                pc,
                errno.EINVAL,
            )
        if len(path.frames) >= MAX_CALL_FRAMES:
            raise self._err(
                f"the call stack of {len(path.frames) + 1} frames is too deep !", pc, errno.E2BIG
            )
        cb = path.fork(self.cfg.subprog_starts[sub])
        cb.frames[-1].callback_depth += 1
        callee = self._initial_frame(sub, callsite=pc, depth=len(path.frames))
        callee.in_callback = True
        for i, r in enumerate(entry):
            callee.regs[i + 1] = r
        cb.frames.append(callee)
        pending.append(cb)
        caller.callback_depth = 0

    def _const_stack_key(self, path: _Path, reg: RegState, size: int) -> int | None:
        """A map key known exactly on the stack (get_constant_map_key), else None.

        Linux 6.13+ uses it to elide the null check of ARRAY lookups whose key is
        a constant below max_entries.
        """
        if reg.type != S.PTR_TO_STACK or not reg.is_const or size not in (1, 2, 4, 8):
            return None
        frame = path.frames[reg.frameno]
        lo = reg.off + S.to_s64(reg.const)
        slot = frame.stack.get(_slot(lo))
        if slot is None:
            return None
        if all(_stack_byte(frame, a) == S.STACK_ZERO for a in range(lo, lo + size)):
            return 0
        sp = slot.spilled
        if (
            sp is not None
            and sp.type == S.SCALAR
            and sp.is_const
            and lo % 8 == 0
            and _spill_size(slot) == size
        ):
            return sp.const & ((1 << (size * 8)) - 1)
        return None

    def _check_func_call(self, path: _Path, insn: Insn, pc: int) -> int:
        if len(path.frames) >= MAX_CALL_FRAMES:
            raise self._err(
                f"the call stack of {len(path.frames) + 1} frames is too deep !", pc, errno.E2BIG
            )
        target = pc + 1 + insn.imm
        sub = self.cfg.subprog_starts.index(target)
        callee = self._initial_frame(sub, callsite=pc, depth=len(path.frames))
        caller = path.cur
        for r in CALLER_SAVED:
            callee.regs[r] = caller.regs[r]
        path.frames.append(callee)
        return target

    def _check_exit(self, path: _Path, pc: int) -> int | None:
        if path.cur.in_callback:
            # prepare_func_exit: a callback returns a scalar in [0, 1] and goes back to
            # the helper call, which schedules the next visit of the callback
            r0 = path.cur.regs[0]
            if r0.type != S.SCALAR:
                raise self._err("R0 not a scalar value", pc)
            if r0.smin < 0 or r0.smax > 1:
                have = ""
                if r0.smin > S.S64_MIN:
                    have += f" smin={r0.smin}"
                if r0.smax < S.S64_MAX:
                    have += f" smax={r0.smax}"
                raise self._err(
                    f"At callback return the register R0 has{have or ' unknown scalar value'}"
                    " should have been in [0, 1]",
                    pc,
                    errno.EINVAL,
                )
            return path.frames.pop().callsite
        if len(path.frames) > 1:
            r0 = path.cur.regs[0]  # prepare_func_exit copies R0 unchecked
            callee = path.frames.pop()
            if r0.type == S.PTR_TO_STACK and r0.frameno == len(path.frames):
                raise self._err("cannot return stack pointer to the caller", pc, errno.EINVAL)
            caller = path.cur
            for r in CALLER_SAVED:
                caller.regs[r] = S.NOT_INIT_REG
            caller.regs[0] = r0
            return callee.callsite + 1
        r0 = self._read_reg(path, 0, pc)
        if path.refs:
            rid, alloc = path.refs[0]
            raise self._err(f"Unreleased reference id={rid} alloc_insn={alloc}", pc, errno.EINVAL)
        if r0.is_pointer and not self.privileged:
            raise self._err("R0 leaks addr as return value", pc)
        return None

    def _check_max_stack_depth(self) -> None:
        # combined stack of the deepest call chain, each frame rounded to 32 bytes as the JIT
        depth = self.stats.stack_depth
        calls: dict[int, set[int]] = {i: set() for i in range(len(depth))}
        for pc, insn in enumerate(self.cfg.insns):
            if insn is not None and (
                (OPCODES[insn.code].kind == "call" and insn.src == BPF_PSEUDO_CALL)
                or (insn.is_lddw and insn.src == BPF_PSEUDO_FUNC)  # a callback's frame
            ):
                calls[self.cfg.subprog_of(pc)].add(self.cfg.subprog_starts.index(pc + 1 + insn.imm))

        def worst(sub: int, seen: tuple[int, ...]) -> int:
            own = max(_round32(depth[sub]), 0)
            inner = [worst(c, seen + (c,)) for c in calls[sub] if c not in seen]
            return own + (max(inner) if inner else 0)

        total = worst(0, (0,))
        if total > MAX_BPF_STACK:
            raise self._err(
                f"combined stack size of {len(depth)} calls is {total}. Too large",
                None,
                errno.EACCES,
            )


BPF_FUNC_for_each_map_elem = uapi.BPF_FUNC_for_each_map_elem
BPF_FUNC_loop = uapi.BPF_FUNC_loop
#: helpers whose callback the verifier explores (is_sync_callback_calling_function)
CALLBACK_HELPERS = frozenset({BPF_FUNC_for_each_map_elem, BPF_FUNC_loop})
#: map types with map_set_for_each_callback_args: (percpu/lru) hash and (percpu) array
_FOR_EACH_MAPS = frozenset(
    {
        uapi.BPF_MAP_TYPE_HASH,
        uapi.BPF_MAP_TYPE_ARRAY,
        uapi.BPF_MAP_TYPE_PERCPU_HASH,
        uapi.BPF_MAP_TYPE_PERCPU_ARRAY,
        uapi.BPF_MAP_TYPE_LRU_HASH,
        uapi.BPF_MAP_TYPE_LRU_PERCPU_HASH,
    }
)


def _round32(n: int) -> int:
    return (n + 31) // 32 * 32
