"""Global subprograms: checked once on their own, for any arguments their BTF type allows.

A subprogram whose BTF linkage is global is not walked at its call sites: the
call only checks that the arguments match the prototype (a context pointer,
memory of the pointee's size, a scalar) and gives R0 an unknown scalar
("Func#1 ('f') is global and assumed valid."). Each called global subprogram
is then verified from its first instruction with arguments made from the
prototype (do_check_subprogs). btf_prepare_func_args() of kernel/bpf/btf.c
and check_func_call() of kernel/bpf/verifier.c, Linux 6.18.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Any

from ..errors import NotSupportedError
from ..helpers.proto import PTR_MAYBE_NULL
from ..helpers.proto import ArgType as A
from ..spec.btf import (
    BTF_KIND_DECL_TAG,
    BTF_KIND_ENUM,
    BTF_KIND_ENUM64,
    BTF_KIND_FUNC,
    BTF_KIND_FUNC_PROTO,
    BTF_KIND_INT,
    BTF_KIND_PTR,
    BTF_KIND_STRUCT,
)
from . import reg as R
from .args import check_func_arg_reg_off, check_helper_mem_access
from .branches import mark_ptr_not_null_reg
from .env import Env, Refusal
from .refs import clear_caller_saved_regs
from .reg import Reg


@dataclass
class SubprogArg:
    """struct bpf_subprog_arg_info."""

    arg_type: int
    mem_size: int = 0


def subprog_name(env: Env, k: int) -> str:
    for off, tid in env.func_info:
        if off == env.subprogs[k].start:
            try:
                return str(env.btf.type(tid).name)
            except Exception:
                break
    return ""


def _arg_tags(btf: Any, func_id: int, i: int) -> set[str]:
    tags: set[str] = set()
    for t in getattr(btf, "types", ()):
        if (
            getattr(t, "kind", None) == BTF_KIND_DECL_TAG
            and t.ref == func_id
            and t.component_idx == i
            and t.name.startswith("arg:")
        ):
            tags.add(t.name[4:])
    return tags


def prepare_func_args(env: Env, k: int) -> list[SubprogArg]:
    """btf_prepare_func_args() for a global subprogram (messages as the kernel's)."""
    btf = env.btf
    name = subprog_name(env, k)
    type_id = next((tid for off, tid in env.func_info if off == env.subprogs[k].start), 0)
    if not type_id:
        raise env.fail("Global functions need valid BTF", errno.EFAULT)
    fn = btf.type(type_id)
    if fn.kind != BTF_KIND_FUNC:
        raise env.fail(f"BTF of func#{k} doesn't point to KIND_FUNC", errno.EFAULT)
    proto = btf.type(fn.ref)
    if proto.kind != BTF_KIND_FUNC_PROTO:
        raise env.fail(f"Invalid type of function {name}()", errno.EFAULT)
    params = proto.members
    if len(params) > 5:
        raise env.fail(
            f"Global function {name}() with {len(params)} > 5 args. Buggy compiler.", errno.EINVAL
        )
    rt = btf.resolve(proto.ref) if proto.ref else None
    if rt is None or rt.kind not in (BTF_KIND_INT, BTF_KIND_ENUM, BTF_KIND_ENUM64):
        raise env.fail(
            f"Global function {name}() doesn't return scalar. Only those are supported.",
            errno.EINVAL,
        )
    ctx_name = "__sk_buff" if env.prog.ctx_fields is not None else "xdp_md"
    args: list[SubprogArg] = []
    for i, p in enumerate(params):
        tags = _arg_tags(btf, type_id, i)
        unknown = tags - {"ctx", "nonnull", "nullable"}
        if unknown:
            raise NotSupportedError(
                f"global function {name}() argument {i} tag arg:{sorted(unknown)[0]} is not "
                "modelled by pybpf's verifier"
            )
        t = btf.resolve(p.type)
        pointee = btf.resolve(t.ref) if t.kind == BTF_KIND_PTR else None
        is_ctx = (
            pointee is not None
            and pointee.kind == BTF_KIND_STRUCT
            and ctx_name is not None
            and pointee.name == ctx_name
        )
        if "ctx" in tags or is_ctx:
            if tags - {"ctx"}:
                raise env.fail(f"arg#{i} has invalid combination of tags", errno.EINVAL)
            args.append(SubprogArg(A.ARG_PTR_TO_CTX))
        elif t.kind == BTF_KIND_PTR:
            try:
                size = btf.size(t.ref)
            except Exception:
                raise env.fail(
                    f"arg#{i} reference type('PTR ') size cannot be determined: -22",
                    errno.EINVAL,
                ) from None
            at = A.ARG_PTR_TO_MEM | (0 if "nonnull" in tags else PTR_MAYBE_NULL)
            args.append(SubprogArg(at, size))
        elif t.kind in (BTF_KIND_INT, BTF_KIND_ENUM, BTF_KIND_ENUM64):
            if tags:
                raise env.fail(f"arg#{i} has pointer tag, but is not a pointer type", errno.EINVAL)
            args.append(SubprogArg(A.ARG_ANYTHING))
        else:
            raise env.fail(
                f"Arg#{i} type {t.kind_name} in {name}() is not supported yet.", errno.EINVAL
            )
    return args


def _check_arg_match(env: Env, k: int, regs: list[Reg]) -> None:
    """btf_check_func_arg_match(): raises Refusal (already logged) on a mismatch."""
    for i, arg in enumerate(prepare_func_args(env, k)):
        regno = i + 1
        reg = regs[regno]
        if arg.arg_type == A.ARG_ANYTHING:
            if reg.type != R.SCALAR_VALUE:
                raise env.fail(f"R{regno} is not a scalar", errno.EINVAL)
        elif arg.arg_type == A.ARG_PTR_TO_CTX:
            check_func_arg_reg_off(env, reg, regno, A.ARG_DONTCARE)
            if reg.type != R.PTR_TO_CTX:
                raise env.fail(f"arg#{i} expects pointer to ctx", errno.EINVAL)
        else:
            check_func_arg_reg_off(env, reg, regno, A.ARG_DONTCARE)
            if not R.register_is_null(reg):
                saved = reg.copy()
                if reg.type & R.PTR_MAYBE_NULL:
                    mark_ptr_not_null_reg(reg)
                try:
                    check_helper_mem_access(env, regno, arg.mem_size, False, True, None)
                    check_helper_mem_access(env, regno, arg.mem_size, True, True, None)
                except Refusal:
                    reg.assign(saved)
                    raise Refusal("mem", errno.EINVAL) from None
                reg.assign(saved)
            if not arg.arg_type & PTR_MAYBE_NULL and reg.type & R.PTR_MAYBE_NULL:
                raise env.fail(f"arg#{i} is expected to be non-NULL", errno.EINVAL)


def check_global_call(env: Env, k: int) -> None:
    """check_func_call() of a global subprogram: the arguments, then R0 = unknown."""
    name = subprog_name(env, k)
    caller = env.cur_state.frame[-1]
    try:
        _check_arg_match(env, k, caller.regs)
    except Refusal as e:
        raise env.fail(f"Caller passes invalid args into func#{k} ('{name}')", e.errno) from None
    env.verbose(f"Func#{k} ('{name}') is global and assumed valid.\n")
    env.global_called.add(k)
    clear_caller_saved_regs(env, caller.regs)
    R.mark_unknown(caller.regs[0], env.bpf_capable)
    caller.regs[0].subreg_def = 0


def setup_global_args(env: Env, k: int) -> None:
    """do_check_common() for a global subprogram: registers from its prototype."""
    if env.log.level:
        env.verbose(f"Validating {subprog_name(env, k)}() func#{k}...\n")
    regs = env.regs
    for i, arg in enumerate(prepare_func_args(env, k)):
        reg = regs[i + 1]
        if arg.arg_type == A.ARG_PTR_TO_CTX:
            reg.type = R.PTR_TO_CTX
            R.mark_known_zero(reg)
        elif arg.arg_type == A.ARG_ANYTHING:
            R.mark_unknown(reg, env.bpf_capable)
        else:
            R.mark_known_zero(reg)
            reg.type = R.PTR_TO_MEM | (arg.arg_type & PTR_MAYBE_NULL)
            reg.mem_size = arg.mem_size
            if arg.arg_type & PTR_MAYBE_NULL:
                reg.id = env.new_id()
