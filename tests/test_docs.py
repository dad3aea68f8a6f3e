"""The documentation's code runs, and its reference covers every public name."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).parent.parent / "docs"
PAGES = sorted([DOCS / "quickstart.md", *(DOCS / "guide").glob("*.md")])


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_the_code_of_each_page_runs(page, capsys):
    namespace = {"__name__": "__docs__"}
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
    for code in blocks:  # in order, one namespace per page
        exec(compile(code, str(page), "exec"), namespace)
    capsys.readouterr()


def test_the_reference_lists_every_public_module_and_name():
    conf = {"__file__": str(DOCS / "conf.py"), "__name__": "conf"}
    exec(compile((DOCS / "conf.py").read_text(), "conf.py", "exec"), conf)
    for name in conf["PUBLIC"]:
        module = importlib.import_module(name)
        page = (DOCS / "api" / f"{name}.rst").read_text()
        listed = set(re.findall(r"^   (\w+)$", page, re.M))
        for attr in module.__all__:
            if conf["_documented_here"](name, module, attr):
                assert attr in listed, (name, attr)
    packages = {p.parent.name for p in (DOCS.parent / "gradfree").glob("*/__init__.py")}
    assert {f"gradfree.{p}" for p in packages} <= set(conf["PUBLIC"])
    text = (DOCS / "benchmarks.md").read_text()
    assert "**COCO bbob**" in text and "| gradfree `lq-cma-es`, IPOP |" in text
