"""Errors that name the input and the reason in one line."""

from __future__ import annotations

import os


class InputError(ValueError):
    """A bad input: ``str(err)`` is ``"<path>: <reason>"``."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")
