"""Doctest namespace: examples may use ``np`` without importing it."""

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _doctest_np(doctest_namespace: dict) -> None:
    doctest_namespace["np"] = np
