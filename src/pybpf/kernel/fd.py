"""A kernel object held through a file descriptor (a map, a program, BTF).

The kernel frees a bpf object when its last reference goes; pybpf's handle
closes its fd on ``close()``, at the end of a ``with`` block, or when it is
garbage collected, so that a test or a CLI run leaves no fds behind.
"""

from __future__ import annotations

import os
from typing import TypeVar

_T = TypeVar("_T", bound="FdObject")


class FdObject:
    fd: int

    def close(self) -> None:
        """Close the fd; the kernel frees the object when nothing else holds it."""
        fd, self.fd = getattr(self, "fd", -1), -1
        if fd >= 0:
            try:
                os.close(fd)
            except (OSError, TypeError, AttributeError):  # at interpreter shutdown too
                pass

    @property
    def closed(self) -> bool:
        return self.fd < 0

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()
