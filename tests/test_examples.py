"""Every script in examples/ runs to completion."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


def test_there_are_examples():
    assert EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path, capsys):
    runpy.run_path(str(path), run_name="__main__")
    assert capsys.readouterr().out.strip()


def test_cli_demo(capsys):
    from gradfree.cli import main

    assert main(["demo", "--quick", "--maxfev", "2000", "--no-figure"]) == 0
    out = capsys.readouterr().out
    assert "2000 evaluations each" in out and "budget 2000 evaluations" in out
    with pytest.raises(SystemExit):
        main(["demo", "--maxfev", "0"])


def test_readme_quickstart_runs(capsys):
    import re

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    namespace = {"__name__": "__readme__"}
    for code in re.findall(r"```python\n(.*?)```", readme, re.S):  # in order, one namespace
        exec(compile(code, "README.md", "exec"), namespace)
    assert "tolfun" in capsys.readouterr().out  # the default CMA-ES stopped by itself
