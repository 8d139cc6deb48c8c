"""How a benchmark keeps its rows: appended to its CSV under bench/results, each row
labelled with the commit measured, so the runs before and after a change sit side by side."""

from __future__ import annotations

import csv
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def commit() -> str:
    """HEAD of this tree, short: what a row measured (uncommitted changes are the label's to say)."""
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


@contextmanager
def appender(path: Path, fields: list[str]) -> Iterator[csv.DictWriter[str]]:
    """A writer appending rows to ``path`` (the header first if the file is new). Each row
    reaches the file as it is written, so a long run stopped half-way keeps what it measured."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = not path.exists()
    with path.open("a", newline="", buffering=1) as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        if fresh:
            writer.writeheader()
        yield writer
