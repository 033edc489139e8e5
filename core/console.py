"""The consoles the command line prints with.

Messages are never soft-wrapped: a path, a command or an error a person copies must stay
on one line whatever the terminal's width (and a test can assert on it). Tables still fit
the terminal: their cells wrap inside the table, not the text around them.
"""

from __future__ import annotations

from rich.console import Console


def make_console(*, stderr: bool = False) -> Console:
    return Console(stderr=stderr, soft_wrap=True)
