import subprocess
import sys
from pathlib import Path


def test_unknown_command_prints_usage_and_fails():
    result = subprocess.run(
        [sys.executable, "-m", "karyotrain", "nonsense"],
        cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, check=False,
    )
    assert result.returncode == 2
    assert "usage" in result.stderr
