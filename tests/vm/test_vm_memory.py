"""Memory: regions at distinct bases, bounds checks naming pc/address/size, handles."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.errors import BpfError, MemoryAccessError, VmError
from pybpf.maps import Map
from pybpf.vm.memory import HANDLE_BASE, HANDLE_IMAGES, Memory


def test_regions_get_distinct_nonzero_bases() -> None:
    m = Memory()
    a = m.add_region(bytearray(16), name="a")
    b = m.add_region(bytearray(16), name="b")
    assert a.base != b.base
    assert a.base > 0xFFFF_FFFF and b.base > 0xFFFF_FFFF  # NULL and small ints never map
    assert m.region_at(a.base + 3) is a
    assert m.region_at(b.base + 15) is b
    assert m.region_at(b.base + 16) is None
    assert [r.name for r in m.regions] == ["a", "b"]


def test_load_store_little_endian_all_sizes() -> None:
    m = Memory()
    buf = bytearray(16)
    r = m.add_region(buf, name="mem")
    m.store(r.base, 8, 0x0102030405060708)
    assert buf[:8] == bytes.fromhex("0807060504030201")
    assert m.load(r.base, 1) == 0x08
    assert m.load(r.base, 2) == 0x0708
    assert m.load(r.base, 4) == 0x05060708
    assert m.load(r.base, 8) == 0x0102030405060708
    m.store(r.base + 8, 4, -1)  # the low bytes of the value are stored
    assert buf[8:12] == b"\xff" * 4 and buf[12] == 0
    m.store(r.base + 15, 1, 0x1AB)
    assert buf[15] == 0xAB


def test_region_shares_the_callers_bytes() -> None:
    m = Memory()
    buf = bytearray(b"hello world")
    r = m.add_region(buf, name="mem")
    m.write(r.base + 6, b"WORLD")
    assert buf == bytearray(b"hello WORLD")
    buf[0] = ord("J")
    assert m.read(r.base, 5) == b"Jello"
    v = m.view(r.base, 5, write=True)
    v[0:1] = b"Y"
    assert buf.startswith(b"Yello")


@pytest.mark.parametrize("size", [1, 2, 4, 8])
def test_out_of_bounds_read_names_pc_address_and_size(size: int) -> None:
    m = Memory()
    r = m.add_region(bytearray(8), name="mem")
    addr = r.base + 9 - size  # one byte past the end
    with pytest.raises(MemoryAccessError) as ei:
        m.load(addr, size, pc=7)
    e = ei.value
    assert (e.pc, e.addr, e.size) == (7, addr, size)
    msg = str(e)
    assert msg.startswith("pc 7: invalid read of ")
    assert f"{addr:#x}" in msg and "past the end of mem" in msg
    assert e.errno == 14  # EFAULT
    assert isinstance(e, VmError) and isinstance(e, BpfError)


def test_access_outside_every_region_names_nearest() -> None:
    m = Memory()
    m.add_region(bytearray(512), name="stack")
    with pytest.raises(MemoryAccessError) as ei:
        m.store(0, 4, 1, pc=3)
    assert "outside every region" in str(ei.value)
    assert "nearest: stack" in str(ei.value)
    assert "invalid write of 4 bytes at 0x0" in str(ei.value)


def test_access_straddling_the_end_is_refused_even_partly_inside() -> None:
    m = Memory()
    r = m.add_region(bytearray(10), name="pkt")
    assert m.load(r.base + 2, 8) == 0
    with pytest.raises(MemoryAccessError):
        m.load(r.base + 3, 8)
    with pytest.raises(MemoryAccessError):
        m.read(r.base + 5, 6)
    with pytest.raises(MemoryAccessError):
        m.write(r.base + 9, b"ab")


def test_read_only_regions() -> None:
    m = Memory()
    ro = m.add_region(b"abcd", name="ctx")
    assert not ro.writable
    assert m.load(ro.base, 4) == int.from_bytes(b"abcd", "little")
    with pytest.raises(MemoryAccessError, match="ctx is read-only"):
        m.store(ro.base, 1, 0, pc=1)
    with pytest.raises(MemoryAccessError):
        m.write(ro.base, b"x")
    assert m.view(ro.base, 2).readonly
    ro2 = m.add_region(bytearray(4), name="ro2", writable=False)
    with pytest.raises(MemoryAccessError):
        m.store(ro2.base, 4, 0)
    mv = m.add_region(memoryview(bytes(4)), name="mv")
    assert not mv.writable


def test_remove_region_unmaps() -> None:
    m = Memory()
    r = m.add_region(bytearray(4), name="tmp")
    base = r.base
    m.remove_region(r)
    with pytest.raises(MemoryAccessError):
        m.load(base, 1)
    with pytest.raises(ValueError):
        m.remove_region(r)
    again = m.add_region(bytearray(4), name="next")
    assert again.base != base  # a stale pointer never lands in a newer region
    with pytest.raises(MemoryAccessError):
        m.load(base, 1)


def test_region_for_registers_a_buffer_once() -> None:
    m = Memory()
    storage = bytearray(64)
    a = m.region_for(storage, name="map")
    b = m.region_for(storage)
    assert a is b
    other = m.region_for(bytearray(64))
    assert other is not a and other.base != a.base


def test_handles_are_stable_and_read_as_struct_bpf_map() -> None:
    m = Memory()
    obj1, obj2 = object(), object()
    h1, h2 = m.handle(obj1), m.handle(obj2)
    assert h1 != h2 and h1 & 0xFFFF_FFFF and m.handle(Map(2, 4, 8, 1)) >= HANDLE_BASE
    assert m.handle(obj1) == h1
    assert m.object_at(h1) is obj1 and m.object_at(h2) is obj2
    with pytest.raises(MemoryAccessError, match="not a handle"):
        m.object_at(h1 + 8)
    r = m.add_region(bytearray(8), name="mem")
    with pytest.raises(MemoryAccessError):
        m.object_at(r.base)
    # a map handle reads as the kernel's struct bpf_map: map_type, key_size,
    # value_size, max_entries at offsets 64..76; it is read-only
    hmap = m.handle(Map(2, 4, 8, 7))
    assert [m.load(hmap + off, 4, pc=0) for off in (64, 68, 72, 76)] == [2, 4, 8, 7]
    with pytest.raises(MemoryAccessError, match="read-only"):
        m.store(hmap + 68, 4, 1, pc=3)


def test_handles_past_the_images_are_not_dereferenceable() -> None:
    m = Memory()
    handles = [m.handle(Map(2, 4, 8, 1)) for _ in range(HANDLE_IMAGES + 1)]
    assert m.load(handles[-2] + 68, 4, pc=0) == 4
    with pytest.raises(MemoryAccessError, match="pc 4"):
        m.load(handles[-1] + 68, 4, pc=4)
    # an object that is not a map is never readable
    task = m.handle(object())
    with pytest.raises(MemoryAccessError, match="a handle for object, which cannot be"):
        m.load(task, 8, pc=1)


def test_bad_buffer_type_and_negative_view() -> None:
    m = Memory()
    with pytest.raises(TypeError):
        m.add_region([1, 2, 3], name="list")  # type: ignore[arg-type]
    r = m.add_region(bytearray(4), name="mem")
    with pytest.raises(MemoryAccessError):
        m.view(r.base, -1)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, (1 << 64) - 1), st.sampled_from([1, 2, 4, 8]))
def test_any_address_either_loads_or_raises_memory_access_error(addr: int, size: int) -> None:
    m = Memory()
    r = m.add_region(bytearray(range(64)), name="mem")
    m.handle(object())
    inside = r.base <= addr and addr + size <= r.base + 64
    if inside:
        assert m.load(addr, size) == int.from_bytes(
            bytes(range(64))[addr - r.base :][:size], "little"
        )
    else:
        with pytest.raises(MemoryAccessError):
            m.load(addr, size)
