"""``pybpf iov``: the iov_iter model, checked against the running kernel."""

from __future__ import annotations

import errno

import click
from rich.console import Console
from rich.table import Table

from ..errors import IovError
from . import main


@main.group()
def iov() -> None:
    """iov_iter: the kernel's scattered-buffer iterator."""


#: the largest region the command maps (4096 pages of 4 KiB: 16 MiB)
MAX_PAGES = 4096


def _int(text: str, what: str) -> int:
    """A non-negative number in any base (``0x..``); IovError naming the option otherwise."""
    try:
        v = int(text, 0)
    except ValueError:
        raise IovError(f"bad {what} {text!r}: not a number", errno=errno.EINVAL) from None
    if v < 0:
        raise IovError(f"bad {what} {text!r}: must not be negative", errno=errno.EINVAL)
    return v


@iov.command("fault")
@click.option(
    "--pages",
    type=click.IntRange(1, MAX_PAGES),
    default=4,
    show_default=True,
    help="pages in the region",
)
@click.option(
    "--prot",
    "prots",
    multiple=True,
    metavar="PAGE=PROT",
    help="protection of a page: none, r, w, rw or unmapped (default rw)",
)
@click.option(
    "--seg",
    "segs",
    multiple=True,
    required=True,
    metavar="OFF:LEN",
    help="an iovec segment, offset into the region and length (0x.. allowed)",
)
@click.option("--write", is_flag=True, help="pwritev from the segments instead of preadv")
@click.option("--pos", default="0", help="file position")
def fault(pages: int, prots: tuple[str, ...], segs: tuple[str, ...], write: bool, pos: str) -> None:
    """Give one iovec layout to the real kernel and to pybpf's model; show both results.

    Example: pybpf iov fault --prot 1=none --seg 100:1000 --seg 0xfa0:500
    """
    from ..iov.kcheck import PROT_NAMES, compare

    table = ["rw"] * pages
    for p in prots:
        try:
            k, name = p.split("=")
            table[int(k)] = name
            PROT_NAMES[name]
        except (ValueError, IndexError, KeyError):
            raise IovError(
                f"bad --prot {p!r}: want PAGE=none|r|w|rw|unmapped, PAGE < {pages}",
                errno=errno.EINVAL,
            ) from None
    layout = []
    for s in segs:
        try:
            off, ln = s.split(":")
        except ValueError:
            raise IovError(f"bad --seg {s!r}: want OFF:LEN", errno=errno.EINVAL) from None
        layout.append((_int(off, f"--seg {s!r} offset"), _int(ln, f"--seg {s!r} length")))
    out = compare([PROT_NAMES[n] for n in table], layout, write=write, pos=_int(pos, "--pos"))

    def show(v: int) -> str:
        return f"{v} bytes" if v >= 0 else f"-{errno.errorcode.get(-v, -v)}"

    t = Table(title=f"{'pwritev' if write else 'preadv'} of {len(layout)} segments")
    t.add_column("")
    t.add_column("result")
    t.add_row("pages", " ".join(f"{k}:{n}" for k, n in enumerate(table)))
    t.add_row("real kernel", show(out.real))
    t.add_row("pybpf model", show(out.model))
    t.add_row("memory/file contents", "agree" if out.memory_agrees else "DIFFER")
    Console().print(t)
    if not out.agree:
        raise IovError("the model disagrees with the kernel")
