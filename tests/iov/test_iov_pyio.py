"""Driving real readv/writev/preadv/pwritev/sendmsg/recvmsg_into with an iov_iter."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from pybpf.errors import NotSupportedError
from pybpf.iov import (
    ITER_DEST,
    ITER_SOURCE,
    PAGE_SIZE,
    BioVec,
    IovIter,
    alloc_pages_bulk,
    iov_iter_bvec,
    iov_iter_discard,
    iov_iter_ubuf,
    pyio,
)

DATA = bytes((k * 7) & 0xFF for k in range(100_000))


def test_readv_retries_short_reads_from_a_pipe():
    r, w = os.pipe()

    def writer():
        for k in range(0, 5000, 700):
            os.write(w, DATA[k : min(k + 700, 5000)])
            time.sleep(0.002)
        os.close(w)

    t = threading.Thread(target=writer)
    t.start()
    bufs = [bytearray(1), bytearray(2999), bytearray(1000), bytearray(1500)]
    it = IovIter.from_buffers(bufs)
    n = pyio.readv(r, it)
    t.join()
    os.close(r)
    assert n == 5000 and it.count == 500
    assert b"".join(bufs)[:5000] == DATA[:5000]


def test_writev_nonblocking_pipe_advances_by_what_moved():
    r, w = os.pipe()
    os.set_blocking(w, False)
    bufs = [DATA[:40_000], DATA[40_000:100_000]]
    it = IovIter.from_buffers(bufs, ITER_SOURCE)
    first = pyio.writev(w, it)
    assert 0 < first < len(DATA) and it.count == len(DATA) - first
    got = bytearray()
    while len(got) < first:
        got += os.read(r, 1 << 16)
    # the next writev continues exactly where the pipe stopped taking bytes
    while it.count:
        try:
            pyio.writev(w, it)
        except BlockingIOError:
            pass
        got += os.read(r, 1 << 16)
    os.close(w)
    while chunk := os.read(r, 1 << 16):
        got += chunk
    os.close(r)
    assert bytes(got) == DATA


def test_stream_socket_sendmsg_recvmsg_into():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        src = IovIter.from_buffers([DATA[:10], DATA[10:30_000]], ITER_SOURCE)
        t = threading.Thread(target=lambda: pyio.sendmsg(a, src))
        t.start()
        dst = [bytearray(7), bytearray(20_000), bytearray(9_993)]
        it = IovIter.from_buffers(dst)
        n, anc, flags, addr = pyio.recvmsg_into(b, it, waitall=True)
        t.join()
        assert n == 30_000 and it.count == 0 and src.count == 0
        assert b"".join(dst) == DATA[:30_000]


def test_datagram_truncated_into_small_iterator():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        a.send(DATA[:100])
        it = IovIter.from_buffers([bytearray(30), bytearray(20)])
        n, _, flags, _ = pyio.recvmsg_into(b, it)
        assert n == 50 and it.count == 0 and flags & socket.MSG_TRUNC


def test_bvec_preadv_pwritev_on_memfd():
    fd = os.memfd_create("pyio")
    try:
        os.write(fd, DATA[: 3 * PAGE_SIZE])
        pages = alloc_pages_bulk(64)
        it = iov_iter_bvec(
            ITER_DEST, [BioVec(pages[0], 100, 7), BioVec(pages[5], 2 * PAGE_SIZE, 0)]
        )
        assert pyio.preadv(fd, it, 10) == 100 + 2 * PAGE_SIZE
        assert bytes(pages[0].data[7:107]) == DATA[10:110]
        assert bytes(pages[5].span(0, 2 * PAGE_SIZE)) == DATA[110 : 110 + 2 * PAGE_SIZE]
        src = iov_iter_bvec(ITER_SOURCE, [BioVec(pages[0], 10, 7)])
        assert pyio.pwritev(fd, src, 0) == 10
        assert os.pread(fd, 10, 0) == DATA[10:20]
    finally:
        os.close(fd)


def test_discard_reads_and_drops():
    r, w = os.pipe()
    os.write(w, b"x" * 5000)
    os.close(w)
    it = iov_iter_discard(ITER_DEST, 4000)
    assert pyio.readv(r, it) == 4000 and it.count == 0
    assert os.read(r, 10_000) == b"x" * 1000
    os.close(r)


def test_model_user_memory_refused_for_real_syscalls():
    with pytest.raises(NotSupportedError):
        pyio.readv(0, iov_iter_ubuf(ITER_DEST, 0x1000, 10))
    with pytest.raises(Exception) as e:
        pyio.writev(1, IovIter.from_buffers([bytearray(1)], ITER_DEST))
    assert "ITER_SOURCE" in str(e.value)
