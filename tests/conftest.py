"""Fixtures every test package shares: hypothesis profiles, the kernel check, the backends."""

from __future__ import annotations

import errno
import os

import pytest
from hypothesis import settings

from pybpf.kernel.syscall import bpf_refusal

# CI (CI=true) runs each property test on the same examples every time, so that a
# submission lands or fails on its own merits; local runs keep exploring at random
# (and hypothesis's example database replays whatever they find).
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def require_bpf() -> None:
    """Skip the calling test, with the kernel's reason, when bpf() is refused here.

    Only a refusal skips (EPERM: no CAP_BPF/root; ENOSYS: no bpf() syscall or an
    unknown architecture). Any other failure of the probe is left to the test to
    report, so a broken bpf() layer cannot hide behind a skip.
    """
    refusal = bpf_refusal()
    if refusal is not None and refusal[0] in (errno.EPERM, errno.ENOSYS):
        pytest.skip(refusal[1])


@pytest.fixture(scope="session")
def bpf_kernel() -> None:
    """Session fixture form of require_bpf(): ``pytest.mark.usefixtures("bpf_kernel")``."""
    require_bpf()


@pytest.fixture(params=[pytest.param("user"), pytest.param("kernel", marks=pytest.mark.kernel)])
def backend(request: pytest.FixtureRequest):
    """Each backend in turn (a fresh one per test): the same test runs against pybpf's user
    space and the running kernel; the kernel case skips with the kernel's reason where
    bpf() is refused."""
    from pybpf.loader import make_backend

    if request.param == "kernel":
        require_bpf()
    return make_backend(request.param)
