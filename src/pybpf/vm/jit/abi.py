"""The contract between the JIT's generated code and what runs it.

The run-time block ``rt`` (u64 slots, ``RT_*``) is what the caller fills
before calling the native function ``i32 bpf_prog(ptr rt)`` and reads after it
returns. The function returns an :data:`EXIT_*` code; helper functions it
calls report the same codes through ``rt[RT_STATUS]``. The memory-access
functions (``@ld<N>``, ``@st<N>``, ``@rw<N>``, ``@raw4``) are the IR every
checked access is inlined from: look the address's region slot up in the
table, check that the offset lies past the region bias and offset + size
within the region's size (and writability), then touch the region's bytes;
loads from the context region apply its narrow-load table (convert_ctx_accesses
in kernel/bpf/verifier.c; :func:`pybpf.vm.memory.narrow_load`), packet pointer
words included (their high half is the table's last four bytes).
"""

from __future__ import annotations

from collections.abc import Iterable

from ...progtypes.fields import NARROW_POINTER
from ..memory import REGION_BIAS

M32 = (1 << 32) - 1

# --- the run-time block (u64 slots) -----------------------------------------------------
RT_REGS = 0  # R0..R10
RT_STEPS = 11  # instructions executed in the run so far (callbacks included)
RT_BUDGET = 12
RT_STATUS = 13  # non-zero (an EXIT_* code) when a called function wants the program to stop
RT_PKT = 14  # LD_ABS fast path: host address of the linear packet data (0: always ask)
RT_PKT_LEN = 15  # bytes of linear packet data
RT_ENTRY = 16  # the slot to start at: 0, or a callback's first instruction
RT_DEPTH0 = 17  # the call depth the code starts at (a callback runs one frame down)
RT_TABLE = 18  # region table: per slot (host address, size, flags)
RT_TABLE_LEN = 19
RT_STACK_DELTA = 20  # host address of the stack buffer minus its bpf address
RT_CONSTS = 21  # per constant: the value a pseudo LDDW loads
RT_CALLS = 22  # per constant: the function a helper call site calls (see HELPER_FN)
RT_CALLX = 23  # i64 (ptr rt, i64 helper id, i64 r1..r5, i64 pc)
RT_LDABS = 24  # i64 (ptr rt, i64 off, i64 size, i64 pc): LD_ABS/LD_IND outside the fast path
RT_FAULT_KIND = 25  # EXIT_MEMFAULT: FAULT_READ/WRITE; EXIT_VMFAULT: the fault code
RT_FAULT_ADDR = 26  # EXIT_MEMFAULT: the address; EXIT_VMFAULT: R10 (for stack faults)
RT_FAULT_SIZE = 27
RT_PC = 28  # where the function stopped (the faulting or calling instruction)
RT_DEPTH = 29  # local-call depth when it stopped or called a helper
RT_ARRAYS = 30  # per constant: (map handle, value base, elem size, max entries) of arrays
RT_NARROW = 31  # host address of the context region's narrow-load table
RT_NARROW_LEN = 32  # its length in bytes (one per word, then a pointer table's high half)
RT_EXIT_VALUE = 33  # EXIT_PROGRAM: R0 of the program
RT_PYCALL = 34  # the Python helper trampoline (native helpers hand rare cases to it)
RT_ENV = 35  # what native helpers and drivers share (struct vm_env; opaque to the code)
RT_SIZE = 40

#: a helper call site calls i64 (ptr rt, i64 const index, i64 r1..r5, i64 pc)
HELPER_FN = "i64 (ptr, i64, i64, i64, i64, i64, i64, i64)"

#: what bpf_prog returns (and what RT_STATUS holds when a called function stops it)
EXIT_OK = 0  # EXIT at the starting depth: R0 in rt
EXIT_PENDING = 1  # a Python function left an exception for its caller to raise
EXIT_MEMFAULT = 2  # a load or store outside every region (RT_FAULT_*, RT_PC)
EXIT_VMFAULT = 3  # a fault of the instruction at RT_PC (RT_FAULT_KIND: the code)
EXIT_PROGRAM = 4  # the program ends at once with R0 = RT_EXIT_VALUE (an LD_ABS miss)
EXIT_TAILCALL = 5  # a native tail_call helper chose a target (struct vm_env.tail_target)

#: the helper whose array-map case is inlined (array_map_gen_lookup in kernel/bpf/arraymap.c)
FUNC_MAP_LOOKUP_ELEM = 1

#: region table flags
FLAG_WRITABLE = 1
FLAG_CTX = 2
#: memory fault kinds
FAULT_READ, FAULT_WRITE = 0, 1
#: the budget fault's code; other codes index Translation.faults
VMFAULT_BUDGET = 0


def _lookup(size: int) -> str:
    """Common head of the access functions: find the slot's entry and check the bounds."""
    return f"""entry:
  %slot = lshr i64 %addr, 32
  %tlp = getelementptr i64, ptr %rt, i64 {RT_TABLE_LEN}
  %tl = load i64, ptr %tlp
  %in = icmp ult i64 %slot, %tl
  br i1 %in, label %look, label %bad
look:
  %tpp = getelementptr i64, ptr %rt, i64 {RT_TABLE}
  %tp = load ptr, ptr %tpp
  %ei = mul i64 %slot, 3
  %e = getelementptr i64, ptr %tp, i64 %ei
  %host = load i64, ptr %e
  %szp = getelementptr i64, ptr %e, i64 1
  %sz = load i64, ptr %szp
  %flp = getelementptr i64, ptr %e, i64 2
  %fl = load i64, ptr %flp
  %raw = and i64 %addr, {M32}
  %past = icmp uge i64 %raw, {REGION_BIAS}
  %off = sub i64 %raw, {REGION_BIAS}
  %end = add i64 %off, {size}
  %fits = icmp ule i64 %end, %sz
  %ok = and i1 %past, %fits
  %a = add i64 %host, %off
  br i1 %ok, label %good, label %bad
"""


def _load_fn(size: int, name: str = "") -> str:
    """``@ld<size>``: a checked load with the context rewrite; ``name`` given: plain bytes."""
    bits = 8 * size
    ext = f"%z = zext i{bits} %v to i64" if size < 8 else "%z = add i64 %v, 0"
    ctx = ""
    if size <= 4 and not name:
        mask = (1 << bits) - 1
        ctx = f"""ctx:
  %w = lshr i64 %off, 2
  %nlp = getelementptr i64, ptr %rt, i64 {RT_NARROW_LEN}
  %nl = load i64, ptr %nlp
  %wi = icmp ult i64 %w, %nl
  br i1 %wi, label %ctx2, label %plain
ctx2:
  %ntp = getelementptr i64, ptr %rt, i64 {RT_NARROW}
  %nt = load ptr, ptr %ntp
  %tsp = getelementptr i8, ptr %nt, i64 %w
  %ts = load i8, ptr %tsp
  %has = icmp ne i8 %ts, 0
  br i1 %has, label %ctx3, label %plain
ctx3:
  %fo = and i64 %off, -4
  %a2 = add i64 %host, %fo
  %p2 = inttoptr i64 %a2 to ptr
  %v2 = load i32, ptr %p2, align 1
  %v2z = zext i32 %v2 to i64
  %isp = icmp eq i8 %ts, {NARROW_POINTER}
  br i1 %isp, label %ptr, label %ctx4
ptr:
  %hoff = sub i64 %nl, 4
  %hp = getelementptr i8, ptr %nt, i64 %hoff
  %hi = load i32, ptr %hp, align 1
  %hiz = zext i32 %hi to i64
  %hish = shl i64 %hiz, 32
  %pv = or i64 %hish, %v2z
  br label %ctx4
ctx4:
  %v3 = phi i64 [ %v2z, %ctx3 ], [ %pv, %ptr ]
  %ts64 = zext i8 %ts to i64
  %tse = select i1 %isp, i64 4, i64 %ts64
  %wide = icmp uge i64 {size}, %tse
  %sh0 = and i64 %off, 3
  %sh = mul i64 %sh0, 8
  %sv = lshr i64 %v3, %sh
  %nv = and i64 %sv, {mask}
  %cv = select i1 %wide, i64 %v3, i64 %nv
  %r2 = insertvalue {{i64, i1}} {{i64 0, i1 true}}, i64 %cv, 0
  ret {{i64, i1}} %r2
"""
        good = f"""good:
  %isctx = and i64 %fl, {FLAG_CTX}
  %c = icmp ne i64 %isctx, 0
  br i1 %c, label %ctx, label %plain
"""
    else:
        good = """good:
  br label %plain
"""
    return f"""define internal {{i64, i1}} @{name or f"ld{size}"}(ptr %rt, i64 %addr) alwaysinline {{
{_lookup(size)}{good}plain:
  %p = inttoptr i64 %a to ptr
  %v = load i{bits}, ptr %p, align 1
  {ext}
  %r = insertvalue {{i64, i1}} {{i64 0, i1 true}}, i64 %z, 0
  ret {{i64, i1}} %r
{ctx}bad:
  ret {{i64, i1}} {{i64 0, i1 false}}
}}
"""


def _store_fn(size: int) -> str:
    bits = 8 * size
    tr = f"%t = trunc i64 %val to i{bits}" if size < 8 else "%t = add i64 %val, 0"
    return f"""define internal i1 @st{size}(ptr %rt, i64 %addr, i64 %val) alwaysinline {{
{_lookup(size)}good:
  %wf = and i64 %fl, {FLAG_WRITABLE}
  %w = icmp ne i64 %wf, 0
  br i1 %w, label %do, label %bad
do:
  %p = inttoptr i64 %a to ptr
  {tr}
  store i{bits} %t, ptr %p, align 1
  ret i1 true
bad:
  ret i1 false
}}
"""


def _rw_fn(size: int) -> str:
    """Host address for a read-modify-write: 0 = out of bounds (read fault), 1 = read-only."""
    return f"""define internal i64 @rw{size}(ptr %rt, i64 %addr) alwaysinline {{
{_lookup(size)}good:
  %wf = and i64 %fl, {FLAG_WRITABLE}
  %w = icmp ne i64 %wf, 0
  %r = select i1 %w, i64 %a, i64 1
  ret i64 %r
bad:
  ret i64 0
}}
"""


def prelude(
    ld_sizes: Iterable[int], st_sizes: Iterable[int], rw_sizes: Iterable[int], raw: bool
) -> str:
    """Declarations and the access functions a program's IR uses."""
    parts = [
        "declare i16 @llvm.bswap.i16(i16)",
        "declare i32 @llvm.bswap.i32(i32)",
        "declare i64 @llvm.bswap.i64(i64)",
        "declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)",
    ]
    parts += [_load_fn(size) for size in sorted(ld_sizes)]
    if raw:
        parts.append(_load_fn(4, name="raw4"))
    parts += [_store_fn(size) for size in sorted(st_sizes)]
    parts += [_rw_fn(size) for size in sorted(rw_sizes)]
    return "\n".join(parts) + "\n"
