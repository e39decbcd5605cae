"""The user-space backend: pybpf's Program, its runtime state and the backend that loads specs."""

from __future__ import annotations

from .backend import UserBackend
from .program import Program
from .state import UserState, default_state

__all__ = ["Program", "UserBackend", "UserState", "default_state"]
