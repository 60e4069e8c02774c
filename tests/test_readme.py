"""The README's commands and code run as written."""

import re
from pathlib import Path

import pytest
from conftest import MIRROR_ENV, LoopbackServer

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)


def test_ci_runs_exactly_the_readme_test_command():
    bash = re.search(r"```bash\n(.*?)```", README, flags=re.DOTALL).group(1)
    test_command = [line for line in bash.splitlines() if "pytest" in line]
    assert len(test_command) == 1
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert ci_lines[-1] == test_command[0]


def test_streaming_and_search_snippet_runs_offline(offline, capsys):
    exec(PYTHON_BLOCKS[1], {})
    assert "loss__delta" in capsys.readouterr().out


@pytest.mark.real_data
def test_quick_start_runs_and_reaches_the_documented_quality(
    real_data_dir, offline, monkeypatch, capsys
):
    server = LoopbackServer(real_data_dir)
    try:
        monkeypatch.setenv(MIRROR_ENV, server.url)
        exec(PYTHON_BLOCKS[0], {})
    finally:
        server.close()
    out = capsys.readouterr().out
    accuracy = float(re.search(r"accuracy (\S+)", out).group(1))
    loss = float(re.search(r"log loss (\S+)", out).group(1))
    assert accuracy >= 0.8435 and loss <= 0.450
