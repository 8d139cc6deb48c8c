"""What a user who clones the repository meets first: the README's set-up and Python API,
with nothing needed beside the clone."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from models.tools.psplib import OPTIMUM_CSV
from tests.conftest import PSPLIB, ROOT

README = ROOT / "README.md"


def _python_api_snippet() -> str:
    """The README's Python API example, exactly as a reader would copy it into a script."""
    section = README.read_text().split("## Python API", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the Python API section has a python block"
    return match.group(1)


def test_the_readme_python_api_snippet_runs_as_a_script_once_and_every_answer_is_a_plan(tmp_path: Path):
    """Saved as a script it re-ran itself in every solve_many worker (3x the output, workers
    answering ``error``): the snippet guards its work with ``if __name__ == "__main__"``. It
    checks each plan with the independent checker itself."""
    script = tmp_path / "snippet.py"
    script.write_text(_python_api_snippet())
    result = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    printed = [line for line in result.stdout.splitlines() if line.endswith("]")]  # HiGHS's banner aside
    assert len(printed) == 1, result.stdout
    assert printed[0].startswith("optimal ") and printed[0].endswith("['optimal', 'optimal']")
    assert "error" not in result.stdout + result.stderr


def _make(target: str, tmp_path: Path) -> str:
    """The commands ``make TARGET`` would run for a fresh virtual environment, without running them."""
    result = subprocess.run(
        ["make", "-n", target, f"VENV={tmp_path / 'venv'}"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout


def test_make_install_installs_the_service_without_the_test_tools_and_make_test_adds_them(tmp_path: Path):
    for target in ("install", "run"):
        commands = _make(target, tmp_path)
        assert "pip install --quiet -e .\n" in commands and "[test]" not in commands, commands
    assert "pace serve" in _make("run", tmp_path)
    commands = _make("test", tmp_path)
    assert "pip install --quiet -e '.[test]'" in commands and "pytest" in commands


def test_the_tests_read_their_psplib_files_from_the_clone():
    """No ``../shared`` beside the clone is needed: the j30 set and its optima ship in data/psplib."""
    assert PSPLIB.is_relative_to(ROOT) and OPTIMUM_CSV.is_relative_to(ROOT)
    assert len(list((PSPLIB / "j30").glob("*.sm"))) == 480 and OPTIMUM_CSV.is_file()
    tests = [path for path in (ROOT / "tests").glob("*.py") if path != Path(__file__)]
    assert [path.name for path in tests if "ROOT.parent" in path.read_text() or "../shared" in path.read_text()] == []
