"""An instruction's register operands: readable sources, writable destinations, ids.

check_reg_arg() refuses reading a register nothing wrote (``R2 !read_ok``)
and writing R10; is_pointer_value() is what an unprivileged program may not
treat as a number. Scalars copied by a MOV share an id (assign_scalar_id_
before_mov), so that a later comparison of either bounds both
(kernel/bpf/verifier.c, Linux 6.18).
"""

from __future__ import annotations

import errno

from . import reg as R
from .env import Env
from .reg import Reg

SRC_OP, DST_OP, DST_OP_NO_MARK = 0, 1, 2


def check_reg_arg(env: Env, regno: int, t: int) -> None:
    """check_reg_arg(): readable source / writable destination."""
    if regno >= 11:
        raise env.fail(f"R{regno} is invalid", errno.EINVAL)
    env.reg_scratch(regno)
    r = env.regs[regno]
    if t == SRC_OP:
        if r.type == R.NOT_INIT:
            raise env.fail(f"R{regno} !read_ok")
        return
    if regno == 10:
        raise env.fail("frame pointer is read only")
    if t == DST_OP:
        R.mark_unknown(r, env.bpf_capable)


def is_pointer_value(env: Env, regno: int) -> bool:
    """is_pointer_value(): a pointer an unprivileged program may not treat as a number."""
    return not env.allow_ptr_leaks and env.regs[regno].type != R.SCALAR_VALUE


def clear_scalar_id(r: Reg) -> None:
    """Forget a scalar's link, and with it the delta of a ``rX = rY + K`` link."""
    r.id = 0
    r.off = 0


def assign_scalar_id_before_mov(env: Env, src: Reg) -> None:
    if src.type != R.SCALAR_VALUE:
        return
    if src.id & R.BPF_ADD_CONST:
        src.id = 0
        src.off = 0
    if not src.id and src.var.mask != 0:
        src.id = env.new_id()
