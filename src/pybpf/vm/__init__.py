"""The user-space virtual machine: memory, one execution core, two back ends.

``Memory`` (memory.py) maps buffers at distinct bases and checks every access;
``BlockProgram`` (blocks.py) cuts a program into basic blocks; ``Engine``
(engine.py) is the execution core — runs, local calls, tail calls, callbacks,
the budget, LDDW constants — with two back ends: ``Interpreter``
(interp.py, Python built from the semantics in ops.py) and ``JitEngine``
(jit/, LLVM through llvmlite). api.py holds what the VM asks of maps,
contexts and helpers, and what helpers see of a run. ``PacketRunner``
(batch.py) runs a JitEngine's program natively over captures, frame lists,
single packets and test_run's repeat loop; native/ is its C (helpers, the
socket buffer, capture reading, the drivers).
"""

from __future__ import annotations

from .api import ProgramExit, RunEnv, SubprogRef, TailCall
from .blocks import MAX_CALL_FRAMES, MAX_TAIL_CALL_CNT, STACK_SIZE
from .engine import DEFAULT_BUDGET, Engine
from .interp import Interpreter, run
from .memory import Memory, Region

__all__ = [
    "DEFAULT_BUDGET",
    "MAX_CALL_FRAMES",
    "MAX_TAIL_CALL_CNT",
    "STACK_SIZE",
    "Engine",
    "Interpreter",
    "Memory",
    "ProgramExit",
    "Region",
    "RunEnv",
    "SubprogRef",
    "TailCall",
    "run",
]
