"""The user-space virtual machine: checked memory regions and the interpreter.

``Memory`` (memory.py) maps buffers at distinct bases and checks every access;
``Interpreter``/``run`` (interp.py) execute programs with the kernel's
semantics (kernel/bpf/core.c) on it.
"""

from __future__ import annotations

from .interp import (
    DEFAULT_BUDGET,
    MAX_CALL_FRAMES,
    MAX_TAIL_CALL_CNT,
    STACK_SIZE,
    Interpreter,
    ProgramExit,
    RunEnv,
    SubprogRef,
    TailCall,
    run,
)
from .memory import Memory, Region

__all__ = [
    "DEFAULT_BUDGET",
    "MAX_CALL_FRAMES",
    "MAX_TAIL_CALL_CNT",
    "STACK_SIZE",
    "Interpreter",
    "Memory",
    "ProgramExit",
    "Region",
    "RunEnv",
    "SubprogRef",
    "TailCall",
    "run",
]
