"""Filter expressions compiled by the real libpcap, through ctypes.

``compile_expression("tcp port 80", linktype=1)`` opens a *dead* pcap handle
of the capture's link type (``pcap_open_dead``) and calls ``pcap_compile`` on
it, as tcpdump does for ``-r FILE``: the result is the classic program
``tcpdump -d`` prints for that file. pybpf has no expression compiler of its
own. :func:`offline_filter` runs a compiled program over one record with
libpcap's own ``bpf_filter`` (``pcap_offline_filter``): the oracle the tests
hold pybpf's engines to, packet by packet.

libpcap is a system library (Debian: libpcap0.8, Fedora: libpcap); when it
is missing every call raises NotSupportedError saying which package to
install.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno as E
import threading
from functools import cache

from ..errors import BpfError, NotSupportedError
from .insn import SockFilter

__all__ = [
    "DEFAULT_SNAPLEN",
    "PcapProgram",
    "compile_expression",
    "libpcap",
    "libpcap_version",
    "linktype_name",
    "linktype_value",
]

#: tcpdump's default snapshot length (MAXIMUM_SNAPLEN in libpcap)
DEFAULT_SNAPLEN = 262144
INSTALL_HINT = (
    "libpcap is not installed: install the libpcap0.8 package "
    "(Debian/Ubuntu: apt-get install libpcap0.8; Fedora: dnf install libpcap)"
)


class _BpfInsn(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint32),
    ]


class _BpfProgram(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.POINTER(_BpfInsn))]


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _PktHdr(ctypes.Structure):
    _fields_ = [("ts", _Timeval), ("caplen", ctypes.c_uint32), ("len", ctypes.c_uint32)]


@cache
def libpcap() -> ctypes.CDLL:
    """The loaded libpcap (NotSupportedError naming the package when it is absent)."""
    names = [ctypes.util.find_library("pcap"), "libpcap.so.1", "libpcap.so.0.8", "libpcap.so"]
    for name in names:
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.pcap_open_dead.restype = ctypes.c_void_p
        lib.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.pcap_compile.restype = ctypes.c_int
        lib.pcap_compile.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(_BpfProgram),
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.c_uint32,
        ]
        lib.pcap_geterr.restype = ctypes.c_char_p
        lib.pcap_geterr.argtypes = [ctypes.c_void_p]
        lib.pcap_close.argtypes = [ctypes.c_void_p]
        lib.pcap_freecode.argtypes = [ctypes.POINTER(_BpfProgram)]
        lib.pcap_offline_filter.restype = ctypes.c_int
        lib.pcap_offline_filter.argtypes = [
            ctypes.POINTER(_BpfProgram),
            ctypes.POINTER(_PktHdr),
            ctypes.c_char_p,
        ]
        lib.pcap_datalink_name_to_val.restype = ctypes.c_int
        lib.pcap_datalink_name_to_val.argtypes = [ctypes.c_char_p]
        lib.pcap_datalink_val_to_name.restype = ctypes.c_char_p
        lib.pcap_datalink_val_to_name.argtypes = [ctypes.c_int]
        lib.pcap_lib_version.restype = ctypes.c_char_p
        lib.pcap_open_offline.restype = ctypes.c_void_p
        lib.pcap_open_offline.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        lib.pcap_datalink.restype = ctypes.c_int
        lib.pcap_datalink.argtypes = [ctypes.c_void_p]
        lib.pcap_snapshot.restype = ctypes.c_int
        lib.pcap_snapshot.argtypes = [ctypes.c_void_p]
        return lib
    raise NotSupportedError(INSTALL_HINT, errno=E.ENOENT)


def libpcap_version() -> str:
    return str(libpcap().pcap_lib_version().decode())


#: pcap_compile is not reentrant in older libpcaps
_lock = threading.Lock()

#: DLT values whose LINKTYPE_ number in a capture file differs (pcap-common.c)
_LINKTYPE_TO_DLT = {101: 12, 100: 11}


def linktype_value(name: str) -> int:
    """A link-type name (``EN10MB``, ``LINUX_SLL``, ``RAW`` ...) as its DLT number."""
    v = libpcap().pcap_datalink_name_to_val(name.encode())
    if v < 0:
        raise BpfError(f"unknown link type {name!r} (libpcap knows names like EN10MB, RAW)")
    return int(v)


def linktype_name(value: int) -> str:
    n = libpcap().pcap_datalink_val_to_name(value)
    return n.decode() if n else str(value)


class PcapProgram:
    """A compiled expression: the classic instructions and libpcap's own program.

    ``filter`` is the list of :class:`SockFilter`; :meth:`matches` asks libpcap's
    bpf_filter about one captured record (the reference for pybpf's engines).
    """

    def __init__(self, expression: str, linktype: int, snaplen: int, insns: list[SockFilter]):
        self.expression = expression
        self.linktype = linktype
        self.snaplen = snaplen
        self.filter = insns
        arr = (_BpfInsn * len(insns))(*[_BpfInsn(f.code, f.jt, f.jf, f.k) for f in insns])
        self._arr = arr
        self._prog = _BpfProgram(len(insns), ctypes.cast(arr, ctypes.POINTER(_BpfInsn)))

    def matches(self, data: bytes, wire_len: int | None = None) -> int:
        """libpcap's verdict (pcap_offline_filter) for a record: the program's return value.

        libpcap reports only zero/non-zero; the value returned is 1 or 0.
        """
        hdr = _PktHdr(_Timeval(0, 0), len(data), len(data) if wire_len is None else wire_len)
        return int(libpcap().pcap_offline_filter(ctypes.byref(self._prog), ctypes.byref(hdr), data))

    def __repr__(self) -> str:
        return (
            f"<PcapProgram {self.expression!r} linktype={self.linktype} {len(self.filter)} insns>"
        )


def compile_expression(
    expression: str,
    linktype: int = 1,
    *,
    snaplen: int = DEFAULT_SNAPLEN,
    optimize: bool = True,
    netmask: int = 0,
) -> PcapProgram:
    """Compile a pcap filter expression for captures of ``linktype`` with libpcap.

    ``linktype`` is the capture file's LINKTYPE_ value (as pybpf's capture
    readers report it); ``snaplen`` the file's snapshot length (libpcap's
    programs return it to accept); ``optimize`` and ``netmask`` as tcpdump
    passes them when reading a file (optimized, netmask 0). A bad expression
    raises BpfError with libpcap's message.
    """
    lib = libpcap()
    dlt = _LINKTYPE_TO_DLT.get(linktype, linktype)
    with _lock:
        p = lib.pcap_open_dead(dlt, snaplen)
        if not p:
            raise BpfError(f"libpcap cannot open a handle of link type {linktype}")
        return _compile_on(p, expression, linktype, snaplen, optimize, netmask)


def compile_for_file(
    expression: str, path: str, *, optimize: bool = True, netmask: int = 0
) -> PcapProgram | None:
    """Compile as ``tcpdump -r path`` does: on libpcap's own handle of the file.

    A savefile handle is what tcpdump compiles against, and libpcap's code for
    it can differ from a dead handle's: for DLT_NULL/DLT_LOOP captures it
    accepts the address-family values of every OS that writes them, in the
    file's byte order. Returns None when libpcap cannot open the file (tcpdump
    could not read it either); the program's ``linktype`` is the file's.
    """
    lib = libpcap()
    errbuf = ctypes.create_string_buffer(512)
    with _lock:
        p = lib.pcap_open_offline(path.encode(), errbuf)
        if not p:
            return None
        dlt = lib.pcap_datalink(p)
        linktype = _DLT_TO_LINKTYPE.get(dlt, dlt)
        return _compile_on(p, expression, linktype, lib.pcap_snapshot(p), optimize, netmask)


_DLT_TO_LINKTYPE = {v: k for k, v in _LINKTYPE_TO_DLT.items()}


def _compile_on(
    p: int, expression: str, linktype: int, snaplen: int, optimize: bool, netmask: int
) -> PcapProgram:
    """pcap_compile on handle ``p`` (closed afterwards); the caller holds _lock."""
    lib = libpcap()
    dlt = _LINKTYPE_TO_DLT.get(linktype, linktype)
    try:
        prog = _BpfProgram()
        rc = lib.pcap_compile(p, ctypes.byref(prog), expression.encode(), int(optimize), netmask)
        if rc != 0:
            msg = lib.pcap_geterr(p).decode(errors="replace")
            raise BpfError(
                f"libpcap cannot compile {expression!r} for link type {linktype_name(dlt)}: {msg}",
                errno=E.EINVAL,
            )
        try:
            insns = [
                SockFilter(prog.bf_insns[i].code, prog.bf_insns[i].jt,
                           prog.bf_insns[i].jf, prog.bf_insns[i].k)
                for i in range(prog.bf_len)
            ]  # fmt: skip
        finally:
            lib.pcap_freecode(ctypes.byref(prog))
    finally:
        lib.pcap_close(p)
    return PcapProgram(expression, linktype, snaplen, insns)
