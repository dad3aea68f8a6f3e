"""Sphinx configuration of the gradfree documentation (built offline, warnings are errors).

``sphinx-build -W -b html docs docs/_build/html`` (or ``tox -e docs``). The API
reference is generated here from each public module's ``__all__``, so every public
name has a page and a new one appears without editing the docs.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gradfree  # noqa: E402

project = "gradfree"
author = "the gradfree developers"
copyright = "the gradfree developers"
release = version = gradfree.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
templates_path = ["_templates"]
html_theme = "alabaster"
html_title = f"gradfree {release}"
html_static_path: list[str] = []
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]

autosummary_generate = True
autodoc_default_options = {"members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
suppress_warnings = ["autosummary.import_cycle"]

# The public modules, in the order of the reference; each page lists the module's
# ``__all__`` (the names it exports), one generated page per name.
PUBLIC = {
    "gradfree": "The face: minimize, Optimizer, run / resume and the registry",
    "gradfree.wrappers": "Wrappers: bounds, constraints, integers, restarts, noise, surrogate",
    "gradfree.es": "Evolution strategies",
    "gradfree.kalman": "Ensemble Kalman methods",
    "gradfree.tensor": "Tensor methods of moments",
    "gradfree.altmin": "Alternating minimization",
    "gradfree.local": "Local learning rules",
    "gradfree.models": "Networks and their objectives",
    "gradfree.estimators": "The estimator machinery: input checks, the fit loop, networks",
    "gradfree.datasets": "Bundled data sets",
    "gradfree.evaluators": "Evaluators: how a population is evaluated",
    "gradfree.shaping": "Fitness shaping",
    "gradfree.updates": "Gradient-style updates for the natural-gradient ES",
    "gradfree.testing": "Test problems and checks",
    "gradfree.demo": "The demo",
}


def _documented_here(module_name: str, module: object, name: str) -> bool:
    """False for dunders, submodules, and re-exports of another public module's names."""
    obj = getattr(module, name)
    if name.startswith("__") or inspect.ismodule(obj):
        return False
    home = getattr(obj, "__module__", None) or module_name
    others = [m for m in PUBLIC if m != module_name and m.startswith(module_name)]
    return not any(home == m or home.startswith(m + ".") for m in others)


def _write_api(folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    for name, title in PUBLIC.items():
        module = importlib.import_module(name)
        names = sorted(n for n in module.__all__ if _documented_here(name, module, n))
        lines = [
            f"``{name}``: {title}",
            "=" * (len(name) + 6 + len(title)),
            "",
            f".. automodule:: {name}",
            "   :no-members:",
            "",
            f".. currentmodule:: {name}",
            "",
            ".. autosummary::",
            "   :toctree: generated",
            "",
            *(f"   {n}" for n in names),
            "",
        ]
        text = "\n".join(lines)
        path = folder / f"{name}.rst"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    index = ["API reference", "=============", "", ".. toctree::", "   :maxdepth: 1", ""]
    index += [f"   {name}" for name in PUBLIC]
    (folder / "index.rst").write_text("\n".join(index) + "\n")


_write_api(Path(__file__).resolve().parent / "api")
