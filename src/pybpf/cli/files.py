"""The commands' input and output files: bad input refused before any work starts,
output written whole or not at all.

A file argument must name a regular file: a directory is an error, and a
FIFO, socket or device (``/dev/zero``, a named pipe nobody writes to) would
make a reader hang or read forever, so those are refused too, naming the
path and what it is.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

import click

__all__ = ["INPUT_FILE", "INPUT_FILE_OR_STDIN", "InputFile", "write_atomic"]


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


class InputFile(click.ParamType):
    """An existing, readable regular file; the value is the path as given (a str).

    ``allow_dash``: ``-`` stands for standard input and is passed through.
    """

    name = "file"

    def __init__(self, allow_dash: bool = False) -> None:
        self.allow_dash = allow_dash

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        path = os.fspath(value)
        if self.allow_dash and path == "-":
            return path
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self.fail(f"{path!r} does not exist", param, ctx)
        except OSError as e:
            self.fail(f"{path!r}: {e.strerror}", param, ctx)
        if not stat.S_ISREG(st.st_mode):
            self.fail(f"{path!r} is {_kind(st.st_mode)}, not a regular file", param, ctx)
        if not os.access(path, os.R_OK):
            self.fail(f"{path!r} is not readable (permission denied)", param, ctx)
        return path


INPUT_FILE = InputFile()
INPUT_FILE_OR_STDIN = InputFile(allow_dash=True)


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: a reader (or a
    failure half way) never sees a half-written file, and an existing file is replaced
    only by a complete one. The directory must exist (it is not created)."""
    import tempfile

    path = os.fspath(path)
    d = os.path.dirname(path) or "."
    if not os.path.isdir(d):
        raise FileNotFoundError(errno.ENOENT, "no such directory to write into", d)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "is a directory", path)
    fd, tmp = tempfile.mkstemp(prefix=".pybpf-", dir=d)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
