"""Hand-written accept/reject programs, one or more per verifier rule.

Each case builds its instructions from a dict of map file descriptors, so the
same case can be loaded into the kernel (real map fds) and checked by pybpf
(fds from pybpf's table). ``priv`` and ``unpriv`` are the verdicts Linux 6.18
gives (checked by tests/verifier/test_verifier_kernel.py against the running
kernel); ``msg`` is a substring pybpf's log must contain when it refuses.
The cases live in the cases_* modules by topic; run.py loads them.
"""

from __future__ import annotations

from . import builders
from .builders import *  # noqa: F403 - the instruction builders, re-exported
from .builders import Case
from .cases_basic import CASES_BASIC
from .cases_extra_a import EXTRA_CASES_A
from .cases_extra_b import EXTRA_CASES_B
from .cases_memory import CASES_MEMORY
from .cases_more import BIG_CASES, CALLBACK_CASES, DIFF_CASES
from .cases_rules import RULE_CASES
from .run import (
    EXAMPLES,
    EXAMPLES_DIR,
    error_line,
    example_objects,
    kernel_verdicts,
    pybpf_case_result,
    pybpf_example_result,
)

EXTRA_CASES = EXTRA_CASES_A + EXTRA_CASES_B
CASES: list[Case] = CASES_BASIC + CASES_MEMORY + EXTRA_CASES + DIFF_CASES + RULE_CASES
ALL_CASES = CASES + BIG_CASES + CALLBACK_CASES

#: cases whose verification walks the kernel's whole 1M-instruction budget (~20 s in
#: pybpf): left to the full run, out of the quick loop (``-m "not slow"``)
SLOW = frozenset({"loop_never_ends_counter"})


def param(name: str, value: object = None) -> object:
    """A pytest parameter for the case ``name`` (``value``, default the name), marked slow if it is."""
    import pytest

    marks = [pytest.mark.slow] if name in SLOW else []
    return pytest.param(name if value is None else value, marks=marks, id=name)


__all__ = [
    *builders.__all__,
    "ALL_CASES",
    "BIG_CASES",
    "CALLBACK_CASES",
    "CASES",
    "CASES_BASIC",
    "CASES_MEMORY",
    "DIFF_CASES",
    "EXAMPLES",
    "EXAMPLES_DIR",
    "EXTRA_CASES",
    "EXTRA_CASES_A",
    "EXTRA_CASES_B",
    "RULE_CASES",
    "SLOW",
    "error_line",
    "example_objects",
    "kernel_verdicts",
    "param",
    "pybpf_case_result",
    "pybpf_example_result",
]
