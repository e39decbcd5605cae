"""The static helper-call checks: which helpers a program type offers, GPL, map types."""

from __future__ import annotations

import errno

import pytest

from pybpf import uapi
from pybpf.errors import NotSupportedError, VerifierError
from pybpf.helpers import HELPERS
from pybpf.progtypes import SOCKET_FILTER_HELPERS, get_prog_type
from pybpf.verifier.helper_rules import (
    check_helper_calls,
    find_helper,
    license_is_gpl_compatible,
    map_func_compatible,
)
from support import verifier_corpus as vc

SF = get_prog_type(uapi.BPF_PROG_TYPE_SOCKET_FILTER)


def test_every_socket_filter_helper_has_a_prototype() -> None:
    for hid in SOCKET_FILTER_HELPERS:
        assert find_helper(hid, SF, privileged=True, license="GPL") is HELPERS[hid]


@pytest.mark.parametrize(
    "fid,priv,license,msg",
    [
        (9999, True, "GPL", "invalid func unknown#9999"),
        (
            uapi.BPF_FUNC_skb_store_bytes,
            True,
            "GPL",
            "program of this type cannot use helper bpf_skb_store_bytes#9",
        ),
        (
            uapi.BPF_FUNC_trace_printk,
            False,
            "GPL",
            "program of this type cannot use helper bpf_trace_printk#6",
        ),
        (
            uapi.BPF_FUNC_trace_printk,
            True,
            "MIT",
            "cannot call GPL-restricted function from non-GPL compatible program",
        ),
    ],
)
def test_refusals_name_the_kernel_reason(fid: int, priv: bool, license: str, msg: str) -> None:
    with pytest.raises(VerifierError) as ei:
        find_helper(fid, SF, privileged=priv, license=license, pc=3)
    assert ei.value.message == msg and ei.value.index == 3 and ei.value.errno == errno.EINVAL


def test_gpl_compatible_licenses() -> None:
    assert license_is_gpl_compatible("Dual BSD/GPL") and not license_is_gpl_compatible("BSD")


def test_map_func_compatibility_is_two_way() -> None:
    T, F = uapi, uapi.FUNC_IDS
    assert map_func_compatible(T.BPF_MAP_TYPE_PROG_ARRAY, F["tail_call"])
    assert not map_func_compatible(T.BPF_MAP_TYPE_PROG_ARRAY, F["map_lookup_elem"])
    assert not map_func_compatible(T.BPF_MAP_TYPE_HASH, F["tail_call"])
    assert map_func_compatible(T.BPF_MAP_TYPE_HASH, F["map_lookup_elem"])
    assert not map_func_compatible(T.BPF_MAP_TYPE_HASH, F["map_pop_elem"])
    assert map_func_compatible(T.BPF_MAP_TYPE_BLOOM_FILTER, F["map_peek_elem"])
    assert not map_func_compatible(T.BPF_MAP_TYPE_BLOOM_FILTER, F["map_pop_elem"])


def test_check_helper_calls_over_a_program() -> None:
    ok = [vc.CALL(uapi.BPF_FUNC_get_prandom_u32), vc.EXIT]
    check_helper_calls(ok, uapi.BPF_PROG_TYPE_SOCKET_FILTER, "GPL")
    bad = [vc.MOV(0, 0), vc.LDIMM64(1, 7), vc.CALL(uapi.BPF_FUNC_trace_printk), vc.EXIT]
    with pytest.raises(VerifierError) as ei:
        check_helper_calls(bad, uapi.BPF_PROG_TYPE_SOCKET_FILTER, "Proprietary")
    assert ei.value.index == 3  # slot index: the LDDW takes two
    with pytest.raises(VerifierError, match="cannot use helper bpf_trace_printk"):
        check_helper_calls(bad, uapi.BPF_PROG_TYPE_SOCKET_FILTER, "GPL", privileged=False)
    unmodelled = [vc.CALL(uapi.BPF_FUNC_copy_from_user), vc.EXIT]
    with pytest.raises(NotSupportedError, match="bpf_copy_from_user#148 is allowed here"):
        check_helper_calls(unmodelled, uapi.BPF_PROG_TYPE_SOCKET_FILTER, "GPL")
    with pytest.raises(NotSupportedError, match="not modelled"):
        check_helper_calls(ok, uapi.BPF_PROG_TYPE_KPROBE, "GPL")
