"""The contract between the JIT's generated code and its Python side.

The run-time block ``rt`` (u64 slots, ``RT_*``) is what the Python side
fills before calling the native function and reads after it returns; the
memory-access functions (``@ld<N>``, ``@st<N>``, ``@rw<N>``, ``@raw4``) are
the IR every checked access is inlined from: look the address's region slot
up in the table, check offset + size against the region's size (and
writability), then touch the region's bytes; loads from the context region
apply the __sk_buff narrow-load rewrite (convert_ctx_accesses in
kernel/bpf/verifier.c, as pybpf.progtypes.ctx_load models it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

M32 = (1 << 32) - 1

# --- the run-time block (u64 slots) -----------------------------------------------------
RT_REGS = 0  # R0..R10
RT_STEPS = 11
RT_BUDGET = 12
RT_STATUS = 13  # set non-zero by a trampoline that left an exception behind
RT_PKT = 14  # LD_ABS fast path: host address of skb->head (0: always ask Python)
RT_PKT_DATA = 15  # skb data offset in the head
RT_PKT_LEN = 16  # head length
RT_ENTRY = 17  # the slot to start at: 0, or a callback's first instruction
RT_DEPTH0 = 18  # the call depth the code starts at (a callback runs one frame down)
#: slots 0..RT_PER_RUN-1 are written together at the start of every run
RT_PER_RUN = 19
RT_TABLE = 19  # region table: per slot (host address, size, flags)
RT_TABLE_LEN = 20
RT_STACK_DELTA = 21  # host address of the stack buffer minus its bpf address
RT_CONSTS = 22  # per-memory constants (map handles, map value addresses)
RT_HELPER = 23  # i64 (idx, r0, r1..r5, pc)
RT_CALLX = 24  # i64 (helper id, r0, r1..r5, pc)
RT_LDABS = 25  # i64 (off, size, pc)
RT_FAULT = 26  # i64 (kind, addr, size, pc)
RT_VMFAULT = 27  # i64 (code, pc, value)
RT_PC = 28  # where the function bailed out (or the block that exited)
RT_DEPTH = 29  # local-call depth when it bailed out or called a helper
RT_ARRAYS = 30  # per constant: (map handle, value base, elem size, max entries) of array maps
RT_SIZE = 31
#: the helper whose array-map case is inlined (array_map_gen_lookup in kernel/bpf/arraymap.c)
FUNC_MAP_LOOKUP_ELEM = 1

#: region table flags
FLAG_WRITABLE = 1
FLAG_CTX = 2
#: fault kinds passed to the fault trampoline
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
  %off = and i64 %addr, {M32}
  %end = add i64 %off, {size}
  %ok = icmp ule i64 %end, %sz
  %a = add i64 %host, %off
  br i1 %ok, label %good, label %bad
"""


def _load_fn(size: int, nwords: int, name: str = "") -> str:
    """``@ld<size>``: a checked load with the context rewrite; ``name`` given: plain bytes."""
    bits = 8 * size
    ext = f"%z = zext i{bits} %v to i64" if size < 8 else "%z = add i64 %v, 0"
    ctx = ""
    if size <= 4 and not name:
        mask = (1 << bits) - 1
        ctx = f"""ctx:
  %w = lshr i64 %off, 2
  %wi = icmp ult i64 %w, {nwords}
  br i1 %wi, label %ctx2, label %plain
ctx2:
  %tsp = getelementptr [{nwords} x i8], ptr @narrow, i64 0, i64 %w
  %ts = load i8, ptr %tsp
  %has = icmp ne i8 %ts, 0
  br i1 %has, label %ctx3, label %plain
ctx3:
  %fo = and i64 %off, -4
  %a2 = add i64 %host, %fo
  %p2 = inttoptr i64 %a2 to ptr
  %v2 = load i32, ptr %p2, align 1
  %v2z = zext i32 %v2 to i64
  %ts64 = zext i8 %ts to i64
  %wide = icmp uge i64 {size}, %ts64
  %sh0 = and i64 %off, 3
  %sh = mul i64 %sh0, 8
  %sv = lshr i64 %v2z, %sh
  %nv = and i64 %sv, {mask}
  %cv = select i1 %wide, i64 %v2z, i64 %nv
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
    narrow: Sequence[int],
    ld_sizes: Iterable[int],
    st_sizes: Iterable[int],
    rw_sizes: Iterable[int],
    raw: bool,
) -> str:
    """Declarations and the access functions a program's IR uses."""
    parts = [
        "declare i16 @llvm.bswap.i16(i16)",
        "declare i32 @llvm.bswap.i32(i32)",
        "declare i64 @llvm.bswap.i64(i64)",
        "@narrow = internal constant [{} x i8] [{}]".format(
            len(narrow), ", ".join(f"i8 {v}" for v in narrow)
        ),
    ]
    parts += [_load_fn(size, len(narrow)) for size in sorted(ld_sizes)]
    if raw:
        parts.append(_load_fn(4, len(narrow), name="raw4"))
    parts += [_store_fn(size) for size in sorted(st_sizes)]
    parts += [_rw_fn(size) for size in sorted(rw_sizes)]
    return "\n".join(parts) + "\n"
