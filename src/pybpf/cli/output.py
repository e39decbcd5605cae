"""Showing maps to people and to programs: rich tables, bpftool's plain dump, JSON.

Keys and values are decoded, in order of preference, with the object's BTF
(``MapSpec.key_type`` / ``value_type`` as BTF type ids, the way ``bpftool map
dump`` prints a map that has BTF), with types a macro module declared on its
MapSpec (a ``struct`` format string such as ``"<Q"`` or a ctypes type), or not
at all: then as bpftool prints a map without BTF (``key: 06 00 00 00  value:
...``, tools/bpf/bpftool/map.c ``print_entry_plain``).

Every entry is listed, and for an array every index (an array has no absent
keys: ``bpftool map dump`` shows all ``max_entries`` elements too).
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Iterable, Mapping
from typing import Any

from .. import uapi

__all__ = [
    "ARRAY_TYPES",
    "map_json",
    "decode",
    "hex_bytes",
    "map_entries",
    "maps_json",
    "plain_dump",
    "plain_entry",
    "render_maps",
]

#: map types whose keys are the indices 0..max_entries-1, all always present
ARRAY_TYPES = frozenset(
    {
        uapi.BPF_MAP_TYPE_ARRAY,
        uapi.BPF_MAP_TYPE_PERCPU_ARRAY,
    }
)
#: map types with no key/value pairs to list (values only through pop/consume)
_KEYLESS = frozenset(
    getattr(uapi, n)
    for n in ("BPF_MAP_TYPE_QUEUE", "BPF_MAP_TYPE_STACK", "BPF_MAP_TYPE_RINGBUF")
    if hasattr(uapi, n)
)


def map_entries(m: Any) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of a user-space or kernel map, keys in the map's order.

    Arrays: every index, looked up one by one. Hash-like maps: their items, sorted
    by key so that two runs print the same rows.
    Queue, stack and ring buffer maps have no entries to list (an empty list).
    """
    mtype = getattr(m, "type", None)
    if mtype in _KEYLESS:
        return []
    if mtype in ARRAY_TYPES:
        out = []
        ks = m.key_size
        for i in range(m.max_entries):
            key = i.to_bytes(ks, "little")
            v = m.lookup(key)
            out.append((key, bytes(v) if v is not None else b""))
        return out
    if mtype == uapi.BPF_MAP_TYPE_PROG_ARRAY:
        return []
    # sorted by key: a hash map's order depends on its seed, output should not
    return sorted((bytes(k), bytes(v)) for k, v in m.items())


def hex_bytes(data: bytes) -> str:
    """Lowercase hex of the bytes, no separators (the JSON form)."""
    return bytes(data).hex()


def _spaced(data: bytes) -> str:
    return " ".join(f"{b:02x}" for b in data)


def plain_entry(key: bytes, value: bytes) -> str:
    """One entry as ``bpftool map dump`` prints it without BTF."""
    if len(key) + len(value) > 24:
        return f"key:\n{_spaced(key)}\nvalue:\n{_spaced(value)}"
    return f"key: {_spaced(key)}  value: {_spaced(value)}"


def plain_dump(m: Any) -> str:
    """A whole map in bpftool's plain format, ending with ``Found N elements``."""
    entries = map_entries(m)
    lines = [plain_entry(k, v) for k, v in entries]
    lines.append(f"Found {len(entries)} element{'s' if len(entries) != 1 else ''}")
    return "\n".join(lines)


def _percpu(m: Any) -> bool:
    return bool(getattr(m, "percpu", False)) or getattr(m, "type", None) in (
        uapi.BPF_MAP_TYPE_PERCPU_ARRAY,
        uapi.BPF_MAP_TYPE_PERCPU_HASH,
        getattr(uapi, "BPF_MAP_TYPE_LRU_PERCPU_HASH", -1),
    )


def decode(typ: Any, data: bytes, btf: Any = None) -> str | None:
    """``data`` rendered with ``typ`` (BTF id with ``btf``, struct format, ctypes type).

    None when there is no usable type, or the type does not fit the bytes.
    """
    if typ is None or not data:
        return None
    try:
        if isinstance(typ, int) and not isinstance(typ, bool):
            if btf is None or typ == 0:
                return None
            if btf.size(typ) != len(data):
                return None
            return btf.format(typ, data)
        if isinstance(typ, str):
            st = struct.Struct(typ)
            if st.size != len(data):
                return None
            vals = st.unpack(data)
            return str(vals[0]) if len(vals) == 1 else "(" + ", ".join(map(str, vals)) + ")"
        if isinstance(typ, type) and issubclass(typ, ctypes._SimpleCData):  # type: ignore[attr-defined]
            if ctypes.sizeof(typ) != len(data):
                return None
            return str(typ.from_buffer_copy(data).value)
        if isinstance(typ, type) and issubclass(typ, ctypes.Structure):
            if ctypes.sizeof(typ) != len(data):
                return None
            obj = typ.from_buffer_copy(data)
            fields = ", ".join(f".{f[0]} = {getattr(obj, f[0])}" for f in typ._fields_)
            return "{" + fields + "}"
    except Exception:  # a type that does not describe these bytes: fall back to hex
        return None
    return None


def _decode_value(ms: Any, m: Any, value: bytes, btf: Any) -> str | None:
    vt = getattr(ms, "value_type", None)
    if vt is None:
        return None
    if _percpu(m):
        step = (m.value_size + 7) & ~7
        parts = []
        for off in range(0, len(value), step):
            d = decode(vt, value[off : off + m.value_size], btf)
            if d is None:
                return None
            parts.append(d)
        return "[" + ", ".join(f"cpu{i}: {p}" for i, p in enumerate(parts)) + "]"
    return decode(vt, value, btf)


def _typed_value(typ: Any, data: bytes, btf: Any) -> Any:
    """``data`` as a JSON value of ``typ`` (BTF id, struct format, ctypes type); None if none."""
    if typ is None or not data:
        return None
    try:
        if isinstance(typ, int) and not isinstance(typ, bool):
            if btf is None or typ == 0 or btf.size(typ) != len(data):
                return None
            return btf.value(typ, data)
        if isinstance(typ, str):
            st = struct.Struct(typ)
            if st.size != len(data):
                return None
            vals = st.unpack(data)
            return vals[0] if len(vals) == 1 else list(vals)
        if isinstance(typ, type) and issubclass(typ, ctypes._SimpleCData):  # type: ignore[attr-defined]
            return typ.from_buffer_copy(data).value if ctypes.sizeof(typ) == len(data) else None
        if isinstance(typ, type) and issubclass(typ, ctypes.Structure):
            if ctypes.sizeof(typ) != len(data):
                return None
            obj = typ.from_buffer_copy(data)
            return {f[0]: getattr(obj, f[0]) for f in typ._fields_}
    except Exception:  # a type that does not describe these bytes: no formatted form
        return None
    return None


def _hex_list(data: bytes) -> list[str]:
    """bpftool -j's byte list: ``["0x06", "0x00", ...]``."""
    return [f"{b:#04x}" for b in data]


def map_json(m: Any, spec: Any = None, btf: Any = None) -> list[dict[str, Any]]:
    """One map as ``bpftool -j map dump`` prints it: a list of entries, each with ``key``
    and ``value`` as byte lists (``values`` per cpu for per-cpu maps) and, where the map
    has BTF or declared types, ``formatted`` with them decoded."""
    kt = getattr(spec, "key_type", None)
    vt = getattr(spec, "value_type", None)
    percpu = _percpu(m)
    out = []
    for k, v in map_entries(m):
        entry: dict[str, Any] = {"key": _hex_list(k)}
        fk = _typed_value(kt, k, btf)
        if fk is None and vt is not None and len(k) in (1, 2, 4, 8):
            fk = int.from_bytes(k, "little")  # an integer key (an array index)
        if percpu:
            step = (m.value_size + 7) & ~7
            cpus = [v[off : off + m.value_size] for off in range(0, len(v), step)]
            entry["values"] = [{"cpu": i, "value": _hex_list(c)} for i, c in enumerate(cpus)]
            fv: Any = [_typed_value(vt, c, btf) for c in cpus]
            if any(x is None for x in fv):
                fv = None
            else:
                fv = [{"cpu": i, "value": x} for i, x in enumerate(fv)]
            if fk is not None and fv is not None:
                entry["formatted"] = {"key": fk, "values": fv}
        else:
            entry["value"] = _hex_list(v)
            fv = _typed_value(vt, v, btf)
            if fk is not None and fv is not None:
                entry["formatted"] = {"key": fk, "value": fv}
        out.append(entry)
    return out


def maps_json(maps: Mapping[str, Any], spec: Any = None) -> dict[str, list[dict[str, Any]]]:
    """{map name: bpftool -j entries} for every map (every index of an array)."""
    btf = getattr(spec, "btf", None)
    specs = getattr(spec, "maps", {}) if spec is not None else {}
    return {name: map_json(m, specs.get(name), btf) for name, m in maps.items()}


def _rows(name: str, m: Any, spec: Any, btf: Any) -> tuple[list[tuple[str, str]], bool]:
    ms = spec.maps.get(name) if spec is not None else None
    rows = []
    typed = False
    for k, v in map_entries(m):
        dk = decode(getattr(ms, "key_type", None), k, btf) if ms is not None else None
        dv = _decode_value(ms, m, v, btf) if ms is not None else None
        if (
            dk is None
            and ms is not None
            and getattr(ms, "value_type", None) is not None
            and len(k) in (1, 2, 4, 8)
        ):
            dk = str(int.from_bytes(k, "little"))  # an integer key (an array index)
        if dk is not None or dv is not None:
            typed = True
        rows.append((dk if dk is not None else _spaced(k), dv if dv is not None else _spaced(v)))
    return rows, typed


def render_maps(
    console: Any,
    maps: Mapping[str, Any],
    spec: Any = None,
    *,
    nonzero: bool = False,
    title_extra: str = "",
) -> None:
    """Print a rich table per map (decoded with BTF / declared types where known).

    ``nonzero`` leaves out array elements whose value is all zero bytes (the
    table then says how many were hidden); JSON output always lists all.
    """
    from rich.table import Table

    btf = getattr(spec, "btf", None) if spec is not None else None
    for name, m in maps.items():
        rows, typed = _rows(name, m, spec, btf)
        mtype = (
            uapi.MAP_TYPE_NAMES.get(m.type, str(m.type))
            if hasattr(uapi, "MAP_TYPE_NAMES")
            else str(m.type)
        )
        hidden = 0
        if nonzero and m.type in ARRAY_TYPES:
            raw = map_entries(m)
            keep = [r for r, (_k, v) in zip(rows, raw, strict=True) if any(v)]
            hidden = len(rows) - len(keep)
            rows = keep
        title = (
            f"map {name} ({mtype}, key {m.key_size} B, value {m.value_size} B, "
            f"max {m.max_entries}){title_extra}"
        )
        console.print(title, style="bold", highlight=False)
        table = Table()
        table.add_column("key", overflow="fold")
        table.add_column("value", overflow="fold")
        for k, v in rows:
            table.add_row(k, v)
        console.print(table)
        notes = []
        if hidden:
            notes.append(f"{hidden} all-zero element{'s' if hidden != 1 else ''} not shown")
        if not typed and rows:
            notes.append("no BTF or declared types: bytes as bpftool prints them")
        if notes:
            console.print("  (" + "; ".join(notes) + ")", style="dim")


def render_counters(console: Any, counters: Mapping[str, Any], title: str = "socket") -> None:
    """The socket's counters as a two-column table."""
    from rich.table import Table

    console.print(title, style="bold", highlight=False)
    table = Table()
    table.add_column("counter")
    table.add_column("value", justify="right")
    for k, v in counters.items():
        table.add_row(k, str(v))
    console.print(table)


def iter_plain(maps: Mapping[str, Any]) -> Iterable[str]:
    """Every map in bpftool's plain format, each preceded by its name."""
    for name, m in maps.items():
        yield f"map {name}:"
        yield plain_dump(m)
