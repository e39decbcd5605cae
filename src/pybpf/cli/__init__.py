"""The ``pybpf`` command.

Each subcommand lives in its own module of this package and registers itself
on ``main``; this file only builds the group and turns pybpf errors into a
clean message and a non-zero exit (never a traceback).
"""

from __future__ import annotations

import importlib
import logging
import os
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
    "seccomp",
    "btf",
)


#: exit status for an internal error (sysexits.h EX_SOFTWARE)
EX_SOFTWARE = 70


class _Group(click.Group):
    """Every failure becomes one line on stderr and a non-zero exit, never a traceback:
    pybpf errors (exit 1), files the system refuses (exit 1), Ctrl-C (exit 130), and as a
    last resort any other exception, reported as a pybpf bug (exit 70; PYBPF_DEBUG=1
    shows the traceback)."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except BpfError as e:
            click.echo(f"pybpf: error: {e}", err=True)
            sys.exit(1)
        except BrokenPipeError:
            sys.exit(0)
        except KeyboardInterrupt:
            click.echo("pybpf: interrupted", err=True)
            sys.exit(130)
        except OSError as e:
            where = f"{e.filename}: " if e.filename else ""
            click.echo(f"pybpf: error: {where}{e.strerror or e}", err=True)
            sys.exit(1)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as e:
            if os.environ.get("PYBPF_DEBUG"):
                raise
            click.echo(
                f"pybpf: internal error: {type(e).__name__}: {e} (a bug in pybpf; "
                "PYBPF_DEBUG=1 shows where)",
                err=True,
            )
            sys.exit(EX_SOFTWARE)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pybpf")
def main() -> None:
    """eBPF socket filters and iov_iter in Python: assemble, verify, run, load."""
    # the commands report damage (capture offsets ...) themselves; keep the library's
    # log records from being printed a second time by logging's last-resort handler
    logging.getLogger("pybpf").addHandler(logging.NullHandler())


for _name in COMMAND_MODULES:
    importlib.import_module(f"{__name__}.{_name}")
