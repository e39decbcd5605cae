"""Writing programs: kernel macros, a label builder, and text assemblers."""

from __future__ import annotations

from .builder import ProgramBuilder
from .text import assemble

__all__ = ["ProgramBuilder", "assemble"]
