"""What the device and host-sync tests run over, derived from the packages' exports."""

from __future__ import annotations

import inspect

from sklearn.base import ClassifierMixin

import gradfree.altmin
import gradfree.local

# (method, wrapper) combinations the wrapper refuses, with the error that says why
REFUSED = {
    ("openai-es", "noise"): (TypeError, "sigma"),  # UH-CMA-ES adapts a step size
    ("lm-ma-es", "integrality"): (TypeError, "marginal_std"),  # the margin needs them
    ("lq-cma-es", "noise"): (ValueError, "surrogate"),  # noisy values defeat the model
}


def classifiers() -> list[type]:
    """Every network classifier of the altmin and local families."""
    found = []
    for module in (gradfree.altmin, gradfree.local):
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) and issubclass(obj, ClassifierMixin):
                if "hidden_layer_sizes" in inspect.signature(obj).parameters:
                    found.append(obj)
    return found


def has_epochs(cls: type) -> bool:
    """Whether `cls` trains for `max_iter` epochs (sweeps)."""
    return "max_iter" in inspect.signature(cls).parameters
