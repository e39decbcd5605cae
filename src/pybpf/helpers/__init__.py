"""BPF helpers: prototypes for the verifier, implementations for the VM.

* :mod:`.proto`: the kernel's prototype vocabulary (ArgType, RetType, type flags, Proto);
* :mod:`.table`: every helper by id (:data:`HELPERS`), what each program type may call;
* implementations grouped by concept: :mod:`.maps`, :mod:`.time`, :mod:`.skb`,
  :mod:`.output`, :mod:`.misc`, :mod:`.callbacks` (bpf_loop, for_each_map_elem),
  :mod:`.dynptr`, :mod:`.timers`, :mod:`.tasks`, :mod:`.trace`, :mod:`.kstrtox`;
  for XDP, tc and cgroup_skb: :mod:`.packet` (XDP's frame helpers, redirects),
  :mod:`.csum` (checksums), :mod:`.skb_change` (storing, resizing, VLAN tags ...).

Implementations take ``(env, r1, r2, r3, r4, r5)`` and return the u64 R0
(:class:`pybpf.vm.interp.RunEnv` is ``env``). Like the kernel's, they report
failure as a negative errno in R0, never as an exception; a bad pointer
passed to a helper raises MemoryAccessError as the VM's own loads do.
"""

from __future__ import annotations

from .proto import (
    ArgType,
    Helper,
    Proto,
    RetType,
    TypeFlag,
    arg_type_name,
    base_type,
    ret_type_name,
)
from .table import HELPERS, REFUSED, helper_by_name, helpers_for

__all__ = [
    "ArgType",
    "Helper",
    "HELPERS",
    "Proto",
    "RetType",
    "TypeFlag",
    "arg_type_name",
    "base_type",
    "helper_by_name",
    "helpers_for",
    "ret_type_name",
    "REFUSED",
]
