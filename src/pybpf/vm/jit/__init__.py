"""The JIT: verified eBPF programs compiled to native code with LLVM (llvmlite).

:class:`JitEngine` is the execution core with the LLVM back end
(machine.py); codegen.py and emit.py write the IR, abi.py is its contract with
the caller, llvm.py compiles (cached on disk), pins.py hands Python buffers to
native code. A user Program runs on it with ``Program(engine="jit")``.
"""

from __future__ import annotations

from .machine import JitBackend, JitCode, JitEngine, NativeMachine, compile_program, jit_cache_clear

__all__ = [
    "JitBackend",
    "JitCode",
    "JitEngine",
    "NativeMachine",
    "compile_program",
    "jit_cache_clear",
]
