"""Errors that the command line turns into a one-line message and exit code 1."""

from __future__ import annotations

import reprlib
from pathlib import Path

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 80
_SHORT.maxlist = _SHORT.maxdict = _SHORT.maxtuple = _SHORT.maxset = 5
_SHORT.maxlevel = 3


def short_repr(value: object) -> str:
    """A repr cut to a few dozen characters, for echoing a bad value in an error message.

    RETURNS (str): the shortened repr.
    """
    return _SHORT.repr(value)


class QualcodeInputError(Exception):
    """Bad input: a file, line or element that is not what was expected.

    The message names the file (and line or element where known) and what was expected.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        element: str | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.line = line
        self.element = element
        self.detail = message
        where = ""
        if path is not None:
            where = str(path)
            if line is not None:
                where += f", line {line}"
            if element is not None:
                where += f", {element}"
            where += ": "
        elif element is not None:
            where = f"{element}: "
        super().__init__(where + message)


class ManyInputErrors(QualcodeInputError):
    """Several bad inputs, reported together."""

    def __init__(self, errors: list[QualcodeInputError]) -> None:
        self.errors = errors
        lines = "\n".join(f"  - {err}" for err in errors)
        super().__init__(f"{len(errors)} bad input(s):\n{lines}")
