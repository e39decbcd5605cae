"""The ``pybpf`` command.

Each subcommand lives in its own module of this package and registers itself
on ``main``; this file only builds the group and turns pybpf errors into a
clean message and a non-zero exit (never a traceback).
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from ..errors import BpfError

#: subcommand modules, imported in this order; each defines commands on ``main``
COMMAND_MODULES = (
    "disasm",
    "asm",
    "conformance",
    "plugin",
    "run",
    "verify",
    "cc",
    "attach",
    "demo",
    "iov",
    "btf",
)


class _Group(click.Group):
    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except BpfError as e:
            click.echo(f"pybpf: error: {e}", err=True)
            sys.exit(1)
        except BrokenPipeError:
            sys.exit(0)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pybpf")
def main() -> None:
    """eBPF socket filters and iov_iter in Python: assemble, verify, run, load."""
    # the commands report damage (capture offsets ...) themselves; keep the library's
    # log records from being printed a second time by logging's last-resort handler
    logging.getLogger("pybpf").addHandler(logging.NullHandler())


for _name in COMMAND_MODULES:
    try:
        importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as e:  # a command module not written yet
        if e.name != f"{__name__}.{_name}":
            raise
