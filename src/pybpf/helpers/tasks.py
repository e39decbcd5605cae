"""The current task and the sockets a program may ask about, as user space can model them.

A socket filter runs for whatever task ``current`` is; under pybpf that is
the process (and thread) running the interpreter, which is also who
BPF_PROG_TEST_RUN runs as in the kernel. So:

* bpf_get_current_task / bpf_get_current_task_btf return an opaque handle
  to a :class:`Task` describing this process (pid/tgid agree with
  bpf_get_current_pid_tgid). The kernel's value is the address of a
  ``struct task_struct``; pybpf's is not dereferenceable (a probe read of it
  fails with -EFAULT, a direct load raises MemoryAccessError), but it can be
  passed to the helpers that take a task.
* bpf_send_signal / bpf_send_signal_thread deliver the signal to this
  process / thread (kernel/trace/bpf_trace.c, bpf_send_signal_common).
* bpf_find_vma looks the address up in /proc/self/maps (kernel/bpf/task_iter.c).
* bpf_skc_to_*_sock cast a socket pointer when the socket is of that kind
  (net/core/filter.c); the sockets pybpf models (a packet socket, the
  test-run socket) are none of them, so the casts give NULL.
"""

from __future__ import annotations

import errno as E
import os
import signal
import threading
from dataclasses import dataclass
from typing import Any

from ..uapi import U64_MAX as M64
from .trace import _comm

__all__ = [
    "Task",
    "get_cgroup_classid",
    "get_current_ancestor_cgroup_id",
    "get_current_cgroup_id",
    "get_current_comm",
    "get_current_pid_tgid",
    "get_current_uid_gid",
    "get_ns_current_pid_tgid",
    "VmArea",
    "current_task",
    "find_vma",
    "get_current_task",
    "kptr_xchg",
    "send_signal",
    "send_signal_thread",
    "skc_to",
    "task_pt_regs",
]

_NSIG = 64  # valid_signal(): 0..64
IPPROTO_TCP = 6
IPPROTO_UDP = 17
AF_UNIX = 1
AF_INET6 = 10
SOCK_DGRAM = 2
TCP_TIME_WAIT = 6
TCP_NEW_SYN_RECV = 12


def _neg(err: int) -> int:
    return (-err) & M64


@dataclass(frozen=True)
class Task:
    """The ``struct task_struct`` of the task running the program (this thread)."""

    pid: int  # the thread id (task->pid)
    tgid: int  # the process id (task->tgid)

    @property
    def comm(self) -> str:
        return _comm()


@dataclass(frozen=True)
class PtRegs:
    """``task_pt_regs(task)``: the user registers saved at kernel entry (opaque here)."""

    task: Task


@dataclass(frozen=True)
class VmArea:
    """A ``struct vm_area_struct`` as /proc/<pid>/maps shows it."""

    vm_start: int
    vm_end: int
    perms: str
    pgoff: int
    path: str


_tasks: dict[tuple[int, int], Task] = {}


def current_task() -> Task:
    """The Task of the calling thread (one object per thread, so handles are stable)."""
    tid = getattr(os, "gettid", os.getpid)()
    key = (os.getpid(), tid)
    t = _tasks.get(key)
    if t is None:
        t = _tasks[key] = Task(pid=tid, tgid=os.getpid())
    return t


def get_current_pid_tgid(env: Any, *_: int) -> int:
    tid = getattr(os, "gettid", os.getpid)()
    return (os.getpid() << 32) | tid


def get_current_uid_gid(env: Any, *_: int) -> int:
    return (os.getgid() << 32) | os.getuid()


def get_current_comm(env: Any, r1: int, r2: int, *_: int) -> int:
    """strscpy_pad() of the task name (TASK_COMM_LEN 16) into ``r2`` bytes at ``r1``."""
    size = r2 & 0xFFFF_FFFF
    if size:
        comm = _comm().encode()[:15]
        env.mem.write(r1, comm[: size - 1].ljust(size, b"\0"))
    return 0


def _cgroup_id() -> int:
    try:
        with open("/proc/self/cgroup") as fh:
            for line in fh:
                if line.startswith("0::"):
                    path = line[3:].strip()
                    return os.stat("/sys/fs/cgroup" + path).st_ino
    except OSError:
        pass
    return 0


def get_current_cgroup_id(env: Any, *_: int) -> int:
    return _cgroup_id()


def get_current_ancestor_cgroup_id(env: Any, r1: int, *_: int) -> int:
    try:
        with open("/proc/self/cgroup") as fh:
            path = next((ln[3:].strip() for ln in fh if ln.startswith("0::")), None)
    except OSError:
        return 0
    if path is None:
        return 0
    parts = [p for p in path.split("/") if p]
    level = r1 & 0xFFFF_FFFF
    if level > len(parts):
        return 0
    try:
        return os.stat("/sys/fs/cgroup/" + "/".join(parts[:level])).st_ino
    except OSError:
        return 0


def get_cgroup_classid(env: Any, *_: int) -> int:
    return 0


def get_ns_current_pid_tgid(env: Any, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """bpf_pidns_info {pid, tgid} if (dev, ino) names our pid namespace, else -EINVAL."""
    size = r4 & 0xFFFF_FFFF
    try:
        st = os.stat("/proc/self/ns/pid")
    except OSError:
        env.mem.write(r3, bytes(size))
        return _neg(E.ENOENT)
    if size != 8 or r1 != st.st_dev or r2 != st.st_ino:
        env.mem.write(r3, bytes(size))
        return _neg(E.EINVAL)
    tid = getattr(os, "gettid", os.getpid)()
    env.mem.write(r3, tid.to_bytes(4, "little") + os.getpid().to_bytes(4, "little"))
    return 0


def get_current_task(env: Any, *_: int) -> int:
    """bpf_get_current_task / bpf_get_current_task_btf: ``current``."""
    return env.mem.handle(current_task())


def _task_arg(env: Any, addr: int) -> Task | None:
    try:
        obj = env.mem.object_at(addr, env.pc)
    except Exception:  # noqa: BLE001 - any non-handle is "not a task"
        return None
    return obj if isinstance(obj, Task) else None


def task_pt_regs(env: Any, r1: int, *_: int) -> int:
    """bpf_task_pt_regs(task): the task's saved user registers (an opaque handle)."""
    from ..errors import VmError

    task = _task_arg(env, r1)
    if task is None:
        raise VmError(f"bpf_task_pt_regs: {r1:#x} is not a task_struct pointer", pc=env.pc)
    return env.mem.handle(_pt_regs(task))


_regs: dict[Task, PtRegs] = {}


def _pt_regs(task: Task) -> PtRegs:
    r = _regs.get(task)
    if r is None:
        r = _regs[task] = PtRegs(task)
    return r


def _send(sig: int, thread: bool) -> int:
    """bpf_send_signal_common(): current must not be init; the signal must be valid."""
    if os.getpid() == 1:
        return _neg(E.EPERM)  # is_global_init(current)
    if sig > _NSIG:
        return _neg(E.EINVAL)
    if sig == 0:
        return 0  # permission check only: a task may always signal itself
    try:
        if thread:
            signal.pthread_kill(threading.get_ident(), sig)
        else:
            os.kill(os.getpid(), sig)
    except OSError as exc:
        return _neg(exc.errno or E.EINVAL)
    return 0


def send_signal(env: Any, r1: int, *_: int) -> int:
    """bpf_send_signal(sig): to the whole process running the program."""
    return _send(r1 & 0xFFFF_FFFF, False)


def send_signal_thread(env: Any, r1: int, *_: int) -> int:
    """bpf_send_signal_thread(sig): to the thread running the program."""
    return _send(r1 & 0xFFFF_FFFF, True)


def _vmas(pid: int) -> list[VmArea]:
    out = []
    try:
        with open(f"/proc/{pid}/maps") as fh:
            for line in fh:
                parts = line.split(None, 5)
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                path = parts[5].strip() if len(parts) > 5 else ""
                out.append(VmArea(lo, hi, parts[1], int(parts[2], 16), path))
    except OSError:
        return []
    return out


def find_vma(env: Any, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_find_vma(task, addr, callback_fn, callback_ctx, flags): callback(task, vma,
    ctx) for the vma holding ``addr``; 0, or -ENOENT when no vma holds it."""
    from ..errors import VmError

    if r5:
        return _neg(E.EINVAL)
    task = _task_arg(env, r1)
    if task is None:
        raise VmError(f"bpf_find_vma: {r1:#x} is not a task_struct pointer", pc=env.pc)
    vma = next((v for v in _vmas(task.tgid) if v.vm_start <= r2 < v.vm_end), None)
    if vma is None:
        return _neg(E.ENOENT)
    env.call_subprog(r3, r1, env.mem.handle(vma), r4, 0, 0)
    return 0


def kptr_xchg(env: Any, r1: int, r2: int, *_: int) -> int:
    """bpf_kptr_xchg(dst, ptr): store ``ptr`` in the kptr field at ``dst``, return the old."""
    old = env.mem.load(r1, 8, env.pc)
    env.mem.store(r1, 8, r2 & M64, env.pc)
    return old


def _sock_of(env: Any, addr: int) -> Any:
    if not addr:
        return None
    try:
        return env.mem.object_at(addr, env.pc)
    except Exception:  # noqa: BLE001 - not a socket handle pybpf gave out
        return None


def _full(sk: Any) -> bool:
    return bool(getattr(sk, "full", True))


def _matches(kind: str, sk: Any) -> bool:
    proto = getattr(sk, "protocol", 0)
    family = getattr(sk, "family", 0)
    state = getattr(sk, "state", 0)
    if kind == "tcp6_sock":
        return _full(sk) and proto == IPPROTO_TCP and family == AF_INET6
    if kind == "tcp_sock":
        return _full(sk) and proto == IPPROTO_TCP
    if kind == "tcp_timewait_sock":
        return proto == IPPROTO_TCP and state == TCP_TIME_WAIT
    if kind == "tcp_request_sock":
        return proto == IPPROTO_TCP and state == TCP_NEW_SYN_RECV
    if kind == "udp6_sock":
        return (
            _full(sk)
            and proto == IPPROTO_UDP
            and getattr(sk, "type", SOCK_DGRAM) == SOCK_DGRAM
            and family == AF_INET6
        )
    if kind == "unix_sock":
        return _full(sk) and family == AF_UNIX
    if kind == "mptcp_sock":
        return _full(sk) and proto == IPPROTO_TCP and getattr(sk, "mptcp_conn", None) is not None
    raise KeyError(kind)


def skc_to(kind: str) -> Any:
    """bpf_skc_to_<kind>(sk): ``sk`` as that socket type, or NULL when it is not one."""

    def fn(env: Any, r1: int, *_: int) -> int:
        sk = _sock_of(env, r1)
        if sk is None or not _matches(kind, sk):
            return 0
        if kind == "mptcp_sock":
            return env.mem.handle(sk.mptcp_conn)
        return r1

    fn.__name__ = f"skc_to_{kind}"
    fn.__doc__ = f"bpf_skc_to_{kind}(sk): NULL unless ``sk`` is a {kind}."
    return fn
