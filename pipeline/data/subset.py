"""The first images of a dataset of files: a smaller Fashion-MNIST or MNIST for a smoke run.

`datasets.<name>.size` makes a synthetic dataset that size; on a dataset read from files it keeps
at most `size` training images and cuts the validation and test splits in the same proportion
(the 60,000/10,000 split's shape, smaller). `pm2gan fetch` applies it before the file is saved,
so the data version, and everything keyed on it, is that of the smaller set."""
from __future__ import annotations

import dataclasses
import math

from pipeline.data.datasets import SPLITS, Dataset


def first(ds: Dataset, size: int) -> Dataset:
    """`ds` with its first `size` training examples and the same share of every other split."""
    share = min(1.0, size / len(ds.x["train"]))
    if share == 1.0:
        return ds
    keep = {s: max(1, math.ceil(share * len(ds.x[s]))) for s in SPLITS}
    cut = lambda arrays: None if arrays is None else {s: arrays[s][:keep[s]] for s in SPLITS}  # noqa: E731
    return dataclasses.replace(ds, x=cut(ds.x), y=cut(ds.y), factors=cut(ds.factors),
                               meta={**ds.meta, "source": f"{ds.meta.get('source', '')}, first {size} training images"})
