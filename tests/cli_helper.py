"""The one way the tests call the command line: `qualcode ARGS` in this process."""

from __future__ import annotations

from click.testing import Result
from typer.testing import CliRunner

from qualcode.cli import app


def run_cli(*args: object, exit_code: int | None = 0) -> Result:
    """Invoke `qualcode ARGS` (paths and numbers are passed as text) and check its exit code
    unless `exit_code` is None; a wrong one fails the test with what the command printed.
    RETURNS (Result): exit_code and output (stdout and stderr).
    """
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    if exit_code is not None:
        assert result.exit_code == exit_code, (
            f"qualcode {' '.join(map(str, args))} exited {result.exit_code}, "
            f"expected {exit_code}:\n{result.output}"
        )
    return result
