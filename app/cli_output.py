"""Where `pace` commands write: checked before any work, written without surprises.

A solve can take minutes, so an output it could never write (a directory, a file in a
directory that does not exist, a place this user may not write) is refused before the
command reads or solves anything: one line naming the path and why, exit code 2
(invalid input). A file's directory is never created on the fly: a typo in it should
not scatter plans over new folders. ``pace batch``'s output is a directory, created
if missing inside an existing one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

EXIT_INVALID = 2

err = Console(stderr=True, soft_wrap=True)


def _refuse(option: str, path: Path, why: str) -> NoReturn:
    err.print(f"{option} {path}: {why}", markup=False, highlight=False)
    raise typer.Exit(EXIT_INVALID)


def _check_parent(option: str, path: Path) -> None:
    """The directory ``path`` goes in exists and may be written."""
    parent = path.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        _refuse(option, path, f"its directory {parent} {what}; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        _refuse(option, path, f"no permission to write in {parent}")


def check_output_file(path: Path | None, option: str = "-o") -> None:
    """Refuse (exit 2) a file output that could not be written; None is standard output."""
    if path is None:
        return
    if path.is_dir():
        _refuse(option, path, "is a directory; give the file to write, e.g. " + str(path / "plan.json"))
    _check_parent(option, path)
    if path.exists() and not os.access(path, os.W_OK):
        _refuse(option, path, "no permission to write it")


def check_output_dir(path: Path, option: str = "-o") -> None:
    """Refuse (exit 2) an output directory that could not hold files: one that exists must be a
    writable directory, one that does not must be creatable (its parent exists and is writable)."""
    if not path.exists():
        _check_parent(option, path)
    elif not path.is_dir():
        _refuse(option, path, "is a file; give a directory for the plans and summaries")
    elif not os.access(path, os.W_OK | os.X_OK):
        _refuse(option, path, "no permission to write in it")


def write_output(data: bytes, path: Path | None, option: str = "-o") -> None:
    """Write ``data`` to ``path`` (checked beforehand), or to standard output when it is None."""
    if path is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        path.write_bytes(data)
    except OSError as exc:
        _refuse(option, path, f"cannot write it: {exc.strerror}")
