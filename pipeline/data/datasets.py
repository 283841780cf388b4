"""Datasets: makers, fixed splits, and the files the `fetch` stage writes.

Each dataset is one `data/<name>.npz` holding float32 `x_<split>` for the
splits train/val/test, plus `y_<split>` (labels) and `factors_<split>` (true
generating factors) where they exist, and a JSON `meta` (shape, whether
values lie in [0, 1], generator parameters such as the ICA mixing matrix).
Synthetic data are drawn from `data.seed`, so the files are identical on
every machine. MNIST-like data come from a local folder of IDX files or,
when allowed, a torchvision download.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import math
from pathlib import Path
from typing import Callable

import numpy as np

from pipeline.files.atomic import atomic_file

SPLITS = ("train", "val", "test")
DATA_DIR = Path("data")
MIN_SPLIT = 50  # examples in the smallest split: fewer leave the metrics undefined (NaN), not small
CLASSES = 10  # digits, mnist, fashion_mnist


class DataError(ValueError):
    """A data file that cannot be used; the message names it and what to run."""


@dataclasses.dataclass
class Dataset:
    """One dataset in memory: arrays per split and its metadata."""

    name: str
    x: dict[str, np.ndarray]  # split -> (N, *shape) float32
    y: dict[str, np.ndarray] | None = None  # split -> (N,) int64 labels
    factors: dict[str, np.ndarray] | None = None  # split -> (N, K) true factors
    meta: dict = dataclasses.field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x["train"].shape[1:])

    @property
    def bounded(self) -> bool:
        return bool(self.meta.get("bounded", False))

    @property
    def kind(self) -> str:
        """'toy2d' (mode metrics), 'image' (Fréchet distance) or 'vector'."""
        return self.meta["kind"]


def as_tensor(array: np.ndarray, device):
    """A torch tensor on `device`. Arrays from Ray's object store are read-only: those are
    copied rather than shared with torch, which may write to its tensors."""
    import torch

    return torch.from_numpy(array if array.flags.writeable else array.copy()).to(device)


# --------------------------------------------------------------------------- synthetic makers


def split_sizes(n: int, val: float, test: float) -> dict[str, int]:
    n_test, n_val = int(round(n * test)), int(round(n * val))
    return {"train": n - n_test - n_val, "val": n_val, "test": n_test}


def _split(n: int, val: float, test: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    order = rng.permutation(n)
    n_test, n_val = int(round(n * test)), int(round(n * val))
    return {"test": order[:n_test], "val": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}


def _gaussian_mixture(centres: np.ndarray, std: float, n: int, rng: np.random.Generator):
    labels = rng.integers(0, len(centres), n)
    return (centres[labels] + rng.normal(0, std, (n, 2))).astype(np.float32), labels


# The 2-D toys exactly as PacGAN's code draws them (fjxmlzn/PacGAN, synthetic_data_experiments,
# `2DRing_GAN&PacGAN/config.py` and `2DGrid_GAN&PacGAN/config.py`): 8 modes at (cos 2pi k/8,
# sin 2pi k/8) with std 0.01, and 25 modes at {-4, -2, 0, 2, 4}^2 with std 0.05, equal weights.
# The layout travels in each file's meta, so every mode metric is computed against it.
RING8_RADIUS, RING8_STD = 1.0, 0.01
GRID25_AXIS, GRID25_STD = (-4.0, -2.0, 0.0, 2.0, 4.0), 0.05
TOY_SOURCE = "PacGAN (Lin et al. 2018), fjxmlzn/PacGAN synthetic_data_experiments"


def make_ring8(n: int, rng: np.random.Generator) -> tuple[np.ndarray, dict, dict]:
    angles = np.arange(8) * (2 * math.pi / 8)  # 8 distinct angles (linspace(0, 2pi, 8) would repeat one)
    centres = RING8_RADIUS * np.stack([np.cos(angles), np.sin(angles)], 1)
    x, labels = _gaussian_mixture(centres, RING8_STD, n, rng)
    return x, {"y": labels}, {"kind": "toy2d", "centres": centres.tolist(), "std": RING8_STD, "source": TOY_SOURCE}


def make_grid25(n: int, rng: np.random.Generator):
    centres = np.array([(a, b) for a in GRID25_AXIS for b in GRID25_AXIS], dtype=np.float64)
    x, labels = _gaussian_mixture(centres, GRID25_STD, n, rng)
    return x, {"y": labels}, {"kind": "toy2d", "centres": centres.tolist(), "std": GRID25_STD, "source": TOY_SOURCE}


def make_bars(n: int, rng: np.random.Generator):
    """Földiák's bars: 8x8 images, each of 8 horizontal and 8 vertical bars on with p = 1/8."""
    factors = (rng.random((n, 16)) < 1 / 8).astype(np.float32)  # 8 rows then 8 columns
    img = np.maximum(factors[:, :8, None].repeat(8, 2), factors[:, None, 8:].repeat(8, 1))
    return img[:, None].astype(np.float32), {"factors": factors}, {"kind": "image", "bounded": True, "discrete": True}


ICA_SOURCES = 4


def make_ica(n: int, rng: np.random.Generator):
    """ICA_SOURCES independent unit-variance non-Gaussian sources (Laplace and uniform in turn),
    mixed by a random well-conditioned matrix A: x = s A^T. A is kept for the Amari distance."""
    k = ICA_SOURCES
    sources = np.empty((n, k))
    for i in range(k):
        sources[:, i] = rng.laplace(0, 1 / math.sqrt(2), n) if i % 2 == 0 else rng.uniform(-math.sqrt(3), math.sqrt(3), n)
    while True:
        mixing = rng.normal(size=(k, k))
        if np.linalg.cond(mixing) < 10:  # keep the problem well-posed
            break
    x = (sources @ mixing.T).astype(np.float32)
    return x, {"factors": sources.astype(np.float32)}, {"kind": "vector", "mixing": mixing.tolist()}


# Schmidhuber 1992, sec. 7: the uniform ensemble of 4 local (one-hot) patterns (experiment 1 of
# "uniformly distributed inputs"), and the non-uniform one of 4 distributed 2-bit patterns
# x^a..x^d = 00, 01, 10, 11 with probabilities 1/9, 2/9, 2/9, 4/9 (experiment 1 of
# "non-uniformly distributed inputs").
PM92_PATTERNS = np.eye(4, dtype=np.float32)
PM92_PROBS = (0.25, 0.25, 0.25, 0.25)
PM92_NONUNIFORM_PATTERNS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
PM92_NONUNIFORM_PROBS = (1 / 9, 2 / 9, 2 / 9, 4 / 9)


def _ensemble(patterns: np.ndarray, probs: tuple[float, ...], n: int, rng: np.random.Generator, factorial: bool):
    """`factorial`: the patterns' bits are themselves independent, hence the known factors (the
    non-uniform ensemble: P(bit = 1) = 2/3 each). The uniform ensemble's 4 local patterns have no
    such factors: each of the 3 ways to pair them into two bits is an equally factorial code."""
    labels = rng.choice(len(patterns), size=n, p=probs)
    extra = {"y": labels, **({"factors": patterns[labels]} if factorial else {})}
    return patterns[labels], extra, {"kind": "vector", "bounded": True, "discrete": True,
                                             "patterns": patterns.tolist(), "probs": list(probs)}


def make_pm92(n: int, rng: np.random.Generator):
    return _ensemble(PM92_PATTERNS, PM92_PROBS, n, rng, factorial=False)


def make_pm92_nonuniform(n: int, rng: np.random.Generator):
    return _ensemble(PM92_NONUNIFORM_PATTERNS, PM92_NONUNIFORM_PROBS, n, rng, factorial=True)


SYNTHETIC: dict[str, tuple[Callable, int]] = {  # name -> (maker, default size)
    "ring8": (make_ring8, 10000),
    "grid25": (make_grid25, 10000),
    "bars": (make_bars, 10000),
    "ica": (make_ica, 10000),
    "pm92": (make_pm92, 2000),
    "pm92_nonuniform": (make_pm92_nonuniform, 2000),
}


def make_synthetic(name: str, size: int, seed: int, val: float, test: float) -> Dataset:
    maker, default_size = SYNTHETIC[name]
    # One stream per dataset name, so adding a dataset never changes another's data.
    rng = np.random.default_rng([seed, int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)])
    x, extra, meta = maker(size or default_size, rng)
    parts = _split(len(x), val, test, rng)
    ds = Dataset(name, {s: x[i] for s, i in parts.items()}, meta=meta)
    if "y" in extra:
        ds.y = {s: extra["y"][i].astype(np.int64) for s, i in parts.items()}
    if "factors" in extra:
        ds.factors = {s: extra["factors"][i] for s, i in parts.items()}
    ds.meta.setdefault("bounded", False)
    ds.meta["seed"] = seed
    return ds


# --------------------------------------------------------------------------- real data


def make_digits(seed: int, val: float, test: float) -> Dataset:
    """scikit-learn's 1,797 real 8x8 digits (UCI), scaled to [0, 1]; ships with scikit-learn."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8)
    parts = _split(len(x), val, test, np.random.default_rng(seed))
    return Dataset("digits", {s: x[i] for s, i in parts.items()},
                   y={s: bunch.target[i].astype(np.int64) for s, i in parts.items()},
                   meta={"kind": "image", "bounded": True, "seed": seed, "source": "sklearn.datasets.load_digits"})


IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (LeCun's MNIST format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path}: truncated IDX header")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != math.prod(dims):
        raise DataError(f"{path}: header says {dims}, file holds {data.size} values")
    if data.size == 0:
        raise DataError(f"{path}: holds no examples")
    return data.reshape(dims)


def _find(folder: Path, stem: str) -> Path:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{folder}: missing IDX file {stem} (or {stem}.gz)")


def _torchvision_class(name: str):
    import torchvision.datasets as tvd

    return {"mnist": tvd.MNIST, "fashion_mnist": tvd.FashionMNIST}[name]


def make_mnist_like(name: str, local_dir: str | None, download: bool, seed: int, val: float, cache: Path) -> Dataset:
    """mnist / fashion_mnist: the 60k/10k split of the IDX files, 10% of train held out as val
    (the `val` fraction), images (N, 1, 28, 28) in [0, 1]."""
    raw: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if local_dir and Path(local_dir).is_dir():
        folder = Path(local_dir)
        for split, (images, labels) in IDX_FILES.items():
            raw[split] = (read_idx(_find(folder, images)), read_idx(_find(folder, labels)))
            if len(raw[split][0]) != len(raw[split][1]):
                raise DataError(f"{folder}: {images} holds {len(raw[split][0])} images, {labels} "
                                f"{len(raw[split][1])} labels")
            if raw[split][1].max() >= CLASSES:
                raise DataError(f"{folder}: {labels} has label {raw[split][1].max()}; labels must be 0-{CLASSES - 1}")
        source = f"local IDX files in {folder}"
    elif download:
        cls = _torchvision_class(name)
        for split in IDX_FILES:
            tv = cls(root=str(cache), train=(split == "train"), download=True)
            raw[split] = (tv.data.numpy(), tv.targets.numpy())
        source = f"torchvision.datasets.{cls.__name__} download"
    else:
        where = f"local_dir {local_dir!r} does not exist" if local_dir else "no local_dir is set"
        raise FileNotFoundError(
            f"dataset {name}: {where} and download is false. Set datasets.{name}.local_dir in params.yaml "
            f"to a folder holding the four IDX files, or datasets.{name}.download: true (needs network)"
            + (". `make .cache/fashion-mnist` puts Debian's dataset-fashion-mnist there (`make repro` does it first)"
               if name == "fashion_mnist" else "") + ".")
    train_x, train_y = raw["train"]
    parts = _split(len(train_x), val, 0.0, np.random.default_rng(seed))
    to_float = lambda a: (a.astype(np.float32) / 255.0)[:, None]  # noqa: E731
    x = {"train": to_float(train_x[parts["train"]]), "val": to_float(train_x[parts["val"]]), "test": to_float(raw["test"][0])}
    y = {"train": train_y[parts["train"]].astype(np.int64), "val": train_y[parts["val"]].astype(np.int64),
         "test": raw["test"][1].astype(np.int64)}
    return Dataset(name, x, y=y, meta={"kind": "image", "bounded": True, "seed": seed, "source": source})


DATASETS = {*SYNTHETIC, "digits", "mnist", "fashion_mnist"}

# One example's shape and whether values lie in [0, 1], known before any file is made: the
# config checks with it that every family's settings can work on every dataset of its studies.
SHAPES: dict[str, tuple[tuple[int, ...], bool]] = {
    "ring8": ((2,), False), "grid25": ((2,), False), "bars": ((1, 8, 8), True), "ica": ((ICA_SOURCES,), False),
    "pm92": ((PM92_PATTERNS.shape[1],), True), "pm92_nonuniform": ((PM92_NONUNIFORM_PATTERNS.shape[1],), True), "digits": ((1, 8, 8), True), "mnist": ((1, 28, 28), True),
    "fashion_mnist": ((1, 28, 28), True),
}


def make(name: str, spec, data_cfg, cache: Path = Path(".cache") / "downloads") -> Dataset:
    """Build dataset `name` from its params (`spec`: config.DatasetSpec; `data_cfg`: config.DataConfig)."""
    if name in SYNTHETIC:
        return make_synthetic(name, spec.size, data_cfg.seed, data_cfg.val_fraction, data_cfg.test_fraction)
    if name == "digits":
        return make_digits(data_cfg.seed, data_cfg.val_fraction, data_cfg.test_fraction)
    if name in ("mnist", "fashion_mnist"):
        return make_mnist_like(name, spec.local_dir, spec.download, data_cfg.seed, data_cfg.val_fraction, cache)
    raise KeyError(f"unknown dataset {name!r}")


# --------------------------------------------------------------------------- files


def save(ds: Dataset, folder: Path = DATA_DIR) -> Path:
    """Write atomically: a half-written file never carries the final name."""
    arrays = {f"x_{s}": ds.x[s] for s in SPLITS}
    for prefix, parts in (("y", ds.y), ("factors", ds.factors)):
        if parts is not None:
            arrays.update({f"{prefix}_{s}": parts[s] for s in SPLITS})
    arrays["meta"] = np.array(json.dumps(ds.meta))
    target = folder / f"{ds.name}.npz"
    with atomic_file(target) as tmp, open(tmp, "wb") as f:  # a file object: np.savez would append '.npz' to a name
        np.savez(f, **arrays)
    return target


def load(name: str, folder: Path = DATA_DIR) -> Dataset:
    """The saved dataset, or a DataError naming the file and what to run: a missing, corrupt or
    truncated file, or one whose values are not finite, never reaches a trial."""
    path = Path(folder) / f"{name}.npz"
    again = "run `dvc repro fetch` (or `pm2gan fetch`) to write it again"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `dvc repro fetch` (or `pm2gan fetch`) first")
    try:
        with np.load(path) as z:
            def parts(prefix):
                return {s: z[f"{prefix}_{s}"] for s in SPLITS} if f"{prefix}_train" in z else None

            ds = Dataset(name, parts("x"), parts("y"), parts("factors"), json.loads(str(z["meta"])))
    except Exception as err:  # zipfile, pickle, EOF, key and JSON errors all mean the same here
        raise DataError(f"{path}: cannot be read ({type(err).__name__}: {err}); {again}") from None
    for split in SPLITS:
        if not np.isfinite(ds.x[split]).all():
            raise DataError(f"{path}: the {split} split holds NaN or inf values; {again}")
        if len(ds.x[split]) == 0:
            raise DataError(f"{path}: the {split} split is empty; {again}")
    ds.meta["version"] = file_digest(path)
    return ds


def file_digest(path: Path) -> str:
    """Short content hash: the data version recorded with every trial."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]
