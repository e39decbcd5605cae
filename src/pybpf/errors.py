"""One error hierarchy for pybpf.

Every error carries the errno the kernel would return for the same fault
(``E2BIG``, ``ENOENT``, ``EINVAL``, ``EFAULT`` ...) and, where it applies, the
place it happened: an instruction index, a register, a file offset. The CLI
prints ``str(err)`` and exits non-zero; it never shows a traceback.
"""

from __future__ import annotations

import errno as _errno


class BpfError(Exception):
    """Base of every pybpf error.

    ``errno`` is the kernel's errno for the same fault; ``where`` names the
    place (for example ``"insn 7"``, ``"offset 0x1c"``) and is prefixed to the
    message so that a user sees at once what is wrong and where.
    """

    errno: int = _errno.EINVAL

    def __init__(self, message: str, *, errno: int | None = None, where: str | None = None):
        self.message = message
        if errno is not None:
            self.errno = errno
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)

    @property
    def errno_name(self) -> str:
        return _errno.errorcode.get(self.errno, str(self.errno))


class InsnError(BpfError):
    """A malformed instruction encoding (decode) or an invalid instruction value."""

    def __init__(self, message: str, *, index: int | None = None, errno: int | None = None):
        self.index = index
        super().__init__(message, errno=errno, where=None if index is None else f"insn {index}")


class AsmError(BpfError):
    """Assembler input that cannot be assembled; names the line."""

    def __init__(self, message: str, *, line: int | None = None, text: str | None = None):
        self.line = line
        self.text = text
        where = None if line is None else f"line {line}"
        if text is not None:
            message = f"{message} (in {text.strip()!r})"
        super().__init__(message, where=where)


class VmError(BpfError):
    """A run-time fault in the interpreter or JIT: bad memory access, budget exhausted ..."""

    def __init__(self, message: str, *, pc: int | None = None, errno: int | None = None):
        self.pc = pc
        super().__init__(message, errno=errno, where=None if pc is None else f"pc {pc}")


class MemoryAccessError(VmError):
    """A load or store outside every region the program may touch."""

    errno = _errno.EFAULT

    def __init__(self, message: str, *, pc: int | None = None, addr: int = 0, size: int = 0):
        self.addr = addr
        self.size = size
        super().__init__(message, pc=pc)


class MapError(BpfError):
    """A map operation refused with the kernel's errno (E2BIG, EEXIST, ENOENT, EINVAL ...)."""


class VerifierError(BpfError):
    """The verifier refused a program. Carries the kernel-style log and the failing index."""

    errno = _errno.EACCES

    def __init__(
        self, message: str, *, index: int | None = None, log: str = "", errno: int | None = None
    ):
        self.index = index
        self.log = log
        super().__init__(message, errno=errno, where=None if index is None else f"insn {index}")


class ElfError(BpfError):
    """A malformed or unsupported eBPF object file; names the section and offset."""


class BtfError(ElfError):
    """Malformed BTF type information."""


class CaptureError(BpfError):
    """A malformed pcap/pcapng capture; names the file offset."""

    def __init__(self, message: str, *, offset: int | None = None, path: str | None = None):
        self.offset = offset
        self.path = path
        where = None
        if offset is not None:
            where = f"{path or 'capture'} offset {offset:#x}"
        super().__init__(message, where=where)


class IovError(BpfError):
    """A bad iovec or iov_iter request (EFAULT, EINVAL ...)."""


class KernelError(BpfError):
    """The kernel refused a bpf() command; carries errno and, for loads, the verifier log."""

    def __init__(self, message: str, *, errno: int, log: str = ""):
        self.log = log
        super().__init__(message, errno=errno)


class CompileError(BpfError):
    """The C compiler failed; the message carries the compiler's diagnostics."""


class NotSupportedError(BpfError):
    """Something this kernel (or pybpf) does not support, said plainly."""

    errno = _errno.EOPNOTSUPP
