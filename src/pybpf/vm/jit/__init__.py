"""The JIT: verified eBPF programs compiled to native code with LLVM (llvmlite).

:class:`JitEngine` is the execution core with the LLVM back end
(machine.py); codegen.py and emit.py write the IR, abi.py is its contract with
the caller, llvm.py compiles (cached on disk), pins.py hands Python buffers to
native code. :class:`JitProgram` (program.py) wraps a user Program for the
callers that still build one; ``Program(engine="jit")`` does the same.
"""

from __future__ import annotations

from .machine import JitBackend, JitCode, JitEngine, NativeMachine, compile_program, jit_cache_clear
from .program import JitProgram

__all__ = [
    "JitBackend",
    "JitCode",
    "JitEngine",
    "JitProgram",
    "NativeMachine",
    "compile_program",
    "jit_cache_clear",
]
