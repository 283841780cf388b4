"""Datasets: reproducible, split without overlap, factors kept, IDX files read from a
local folder (small files written here), and clear errors when data are missing."""
from __future__ import annotations

import gzip
import shutil
import struct
import subprocess

import numpy as np
import pytest

from pipeline.data import datasets as data
from pipeline.settings.config import DataConfig, DatasetSpec


def test_synthetic_data_are_fixed_by_the_seed():
    a = data.make_synthetic("ica", 500, seed=1, val=0.1, test=0.2)
    b = data.make_synthetic("ica", 500, seed=1, val=0.1, test=0.2)
    c = data.make_synthetic("ica", 500, seed=2, val=0.1, test=0.2)
    assert all(np.array_equal(a.x[s], b.x[s]) for s in data.SPLITS)
    assert not np.array_equal(a.x["train"], c.x["train"])


@pytest.mark.parametrize("name", sorted(data.SYNTHETIC))
def test_splits_partition_the_data(name):
    ds = data.make_synthetic(name, 1000, seed=0, val=0.1, test=0.2)
    assert [len(ds.x[s]) for s in data.SPLITS] == [700, 100, 200]
    rows = np.concatenate([ds.x[s].reshape(len(ds.x[s]), -1) for s in data.SPLITS])
    assert rows.dtype == np.float32 and len(rows) == 1000


def test_bars_images_are_the_union_of_their_factors():
    ds = data.make_synthetic("bars", 500, seed=0, val=0.1, test=0.2)
    x, f = ds.x["train"][:, 0], ds.factors["train"]
    assert x.shape[1:] == (8, 8) and f.shape[1] == 16
    assert np.array_equal(x[:, 3, :].min(1) == 1, (f[:, 3] == 1) | (f[:, 8:].sum(1) == 8))
    assert 0.08 < f.mean() < 0.17  # each bar on with p = 1/8


def test_the_nonuniform_1992_ensemble_has_its_two_independent_bits_as_factors():
    ds = data.make_synthetic("pm92_nonuniform", 9000, seed=0, val=0.1, test=0.2)
    f = ds.factors["train"]
    assert np.array_equal(f, ds.x["train"])  # the patterns are the bits
    assert np.allclose(f.mean(0), 2 / 3, atol=0.02)
    assert abs(np.mean(f[:, 0] * f[:, 1]) - (2 / 3) ** 2) < 0.02  # P(11) = 4/9 = P(1) P(1): independent
    assert data.make_synthetic("pm92", 1000, seed=0, val=0.1, test=0.2).factors is None  # no unique pairing


def test_ica_keeps_the_true_mixing():
    ds = data.make_synthetic("ica", 2000, seed=0, val=0.1, test=0.2)
    mixing = np.array(ds.meta["mixing"])
    assert np.allclose(ds.factors["train"] @ mixing.T, ds.x["train"], atol=1e-4)


def test_save_load_round_trip_and_version(tmp_path):
    ds = data.make_synthetic("ring8", 300, seed=0, val=0.1, test=0.2)
    data.save(ds, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ring8.npz"]  # no temp file left behind
    back = data.load("ring8", tmp_path)
    assert np.array_equal(back.x["test"], ds.x["test"]) and np.array_equal(back.y["val"], ds.y["val"])
    assert back.kind == "toy2d" and len(back.meta["version"]) == 12


def test_missing_dataset_file_says_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="dvc repro fetch"):
        data.load("ring8", tmp_path)


def write_idx(path, array: np.ndarray, gz: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_from_a_local_folder_of_idx_files(tmp_path, gz):
    rng = np.random.default_rng(0)
    train_x, test_x = rng.integers(0, 256, (50, 28, 28)), rng.integers(0, 256, (20, 28, 28))
    train_y, test_y = rng.integers(0, 10, 50), rng.integers(0, 10, 20)
    for stem, arr in (("train-images-idx3-ubyte", train_x), ("train-labels-idx1-ubyte", train_y),
                      ("t10k-images-idx3-ubyte", test_x), ("t10k-labels-idx1-ubyte", test_y)):
        write_idx(tmp_path / stem, arr, gz)
    ds = data.make("mnist", DatasetSpec(code_dim=8, local_dir=str(tmp_path)), DataConfig(seed=2026, val_fraction=0.2, test_fraction=0.2))
    assert ds.x["train"].shape == (40, 1, 28, 28) and len(ds.x["val"]) == 10
    assert np.allclose(ds.x["test"][:, 0] * 255, test_x) and np.array_equal(ds.y["test"], test_y)
    assert ds.x["train"].max() <= 1.0 and ds.kind == "image"


def test_mnist_without_folder_or_download_is_a_clear_error(tmp_path):
    spec = DatasetSpec(code_dim=8, local_dir=str(tmp_path / "nowhere"), download=False)
    with pytest.raises(FileNotFoundError, match="datasets.fashion_mnist.local_dir"):
        data.make("fashion_mnist", spec, DataConfig(seed=2026, val_fraction=0.1, test_fraction=0.2))


def test_the_first_images_keep_the_splits_proportions_and_their_labels():
    from pipeline.data import subset

    ds = data.make_digits(seed=0, val=0.1, test=0.2)  # 1,257 / 180 / 360
    small = subset.first(ds, 300)
    assert [len(small.x[s]) for s in data.SPLITS] == [300, 43, 86]
    assert all(np.array_equal(small.x[s], ds.x[s][:len(small.x[s])]) and len(small.y[s]) == len(small.x[s])
               for s in data.SPLITS)
    assert subset.first(ds, 10_000) is ds  # more than it has: all of it


def debian_package_file(folder, package: str, files: dict[str, np.ndarray]):
    """A real .deb (built by dpkg-deb) holding `files` as gzipped IDX files under /usr/share/datasets."""
    root = folder / "pkg"
    share = root / "usr" / "share" / "datasets" / package.removeprefix("dataset-")
    share.mkdir(parents=True)
    for stem, arr in files.items():
        write_idx(share / stem, arr, gz=True)
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN" / "control").write_text(f"Package: {package}\nVersion: 1.0\nArchitecture: all\n"
                                             "Maintainer: pm2gan <dev@pm2gan>\nDescription: test IDX files\n")
    deb = folder / f"{package}_1.0_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(deb)], check=True, capture_output=True)
    return deb


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="dpkg-deb is Debian's: not on this machine")
def test_a_debian_package_unpacks_into_the_folder_whole_or_not_at_all(tmp_path):
    from pipeline.data import debian

    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28))
    deb = debian_package_file(tmp_path, "dataset-tiny", {"train-images-idx3-ubyte": images})
    debian.unpack(deb, tmp_path / "tiny")
    assert np.array_equal(data.read_idx(tmp_path / "tiny" / "train-images-idx3-ubyte.gz"), images)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset-tiny_1.0_all.deb", "pkg", "tiny"]  # no scratch left

    labels_only = debian_package_file(tmp_path / "other", "dataset-labels", {"train-labels-idx1-ubyte": images[:, 0, 0]})
    with pytest.raises(debian.DebianError, match="holds no train-images-idx3-ubyte"):
        debian.unpack(labels_only, tmp_path / "labels")
    assert not (tmp_path / "labels").exists() and sorted(p.name for p in (tmp_path / "other").iterdir()) == [
        "dataset-labels_1.0_all.deb", "pkg"]  # nothing half-made


def debian_reachable(package: str = "dataset-fashion-mnist") -> bool:
    """Whether apt-get can fetch `package` from Debian's archive here (it names the file it would get)."""
    if not shutil.which("apt-get"):
        return False
    probe = subprocess.run(["apt-get", "download", "--print-uris", package], capture_output=True, text=True)
    return probe.returncode == 0 and ".deb" in probe.stdout


def test_fashion_mnist_is_made_from_debian_s_package_when_its_folder_is_missing(tmp_path):
    """The real package, from Debian's archive (what `pm2gan fetch` does on a fresh clone)."""
    from pipeline.data import debian

    if not debian_reachable():
        pytest.skip("apt-get cannot reach Debian's dataset-fashion-mnist from here")
    spec = DatasetSpec(code_dim=8, local_dir=str(tmp_path / "cache" / "fashion"), debian_package="dataset-fashion-mnist")
    made = debian.ensure("fashion_mnist", spec.local_dir, spec.debian_package)  # what `pm2gan fetch` does first
    assert made.endswith("made from Debian package dataset-fashion-mnist, downloaded by apt-get")
    assert debian.ensure("fashion_mnist", spec.local_dir, spec.debian_package) is None  # there now: nothing to do
    ds = data.make("fashion_mnist", spec, DataConfig(seed=2026, val_fraction=0.1, test_fraction=0.2))
    assert [len(ds.x[s]) for s in data.SPLITS] == [54000, 6000, 10000] and sorted(set(ds.y["test"])) == list(range(10))
    assert debian.idx_folder(tmp_path / "cache" / "fashion") == tmp_path / "cache" / "fashion"
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["fashion"]  # the download's scratch is gone

    with pytest.raises(FileNotFoundError, match="could not be made from Debian's dataset-no-such-package"):
        debian.ensure("fashion_mnist", str(tmp_path / "none"), "dataset-no-such-package")
    assert not (tmp_path / "none").exists()


def test_corrupt_idx_file_is_refused(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x00\x00\x08\x03" + struct.pack(">III", 2, 28, 28) + b"\x00" * 10)
    with pytest.raises(ValueError, match="header says"):
        data.read_idx(tmp_path / "bad")


# --------------------------------------------------------------------------- where the data stages put each dataset


def test_a_dataset_from_outside_has_its_own_folder_and_stages_one_made_here_shares_fetch():
    from pipeline.data import places
    from pipeline.evaluation import evalnet

    assert places.EVALNET_DIR == evalnet.EVALNET_DIR  # written twice: evalnet.py imports torch, places.py must not
    assert places.MADE_HERE | {"mnist", "fashion_mnist"} == data.DATASETS
    assert (places.data_output("ring8"), places.classifier_outputs("ring8")) == ("data/ring8.npz", [])
    assert (places.data_output("digits"), places.classifier_outputs("digits")) == (
        "data/digits.npz", ["evalnets/digits.pt", "evalnets/digits.json"])
    assert (places.data_output("fashion_mnist"), places.classifier_outputs("fashion_mnist")) == (
        "data/fashion_mnist", ["evalnets/fashion_mnist"])
    assert places.data_file("fashion_mnist").as_posix() == "data/fashion_mnist/fashion_mnist.npz"
    assert (places.fetch_stage("mnist"), places.evalnet_stage("mnist")) == ("fetch-mnist", "evalnet-mnist")
    assert (places.fetch_stage("bars"), places.evalnet_stage("digits")) == ("fetch", "evalnet")


def test_each_study_stage_depends_on_its_own_datasets_only():
    """`dvc repro generation` runs the data stages of generation's datasets (under any profile: a
    profile is picked with -S, after dvc.yaml is written), never Fashion-MNIST's."""
    from pipeline.orchestration import stages
    from pipeline.settings.config import load

    from tests.checkout import ROOT

    dag = stages.stages(load(ROOT / "params.yaml"))
    generation = [d for d in dag["generation"]["deps"] if d.startswith(("data/", "evalnets/"))]
    assert generation == ["data/ring8.npz", "data/grid25.npz", "data/digits.npz", "evalnets/digits.pt",
                          "evalnets/digits.json", "data/mnist", "evalnets/mnist"]
    assert "data/fashion_mnist" in dag["parzen"]["deps"] and "evalnets/fashion_mnist" in dag["parzen"]["deps"]
    assert not any(d.startswith(("data", "evalnets")) for d in dag["theory"]["deps"])
    assert dag["fetch-fashion_mnist"]["outs"] == ["data/fashion_mnist"]
    made_here = dag["fetch"]["outs"]  # every one, whatever the profile: seconds, and no profile reruns them
    assert made_here == [f"data/{d}.npz" for d in ("pm92", "pm92_nonuniform", "ica", "bars", "ring8", "grid25", "digits")]
    assert "profile" not in dag["fetch"]["params"] and "profile" in dag["fetch-mnist"]["params"]


def test_a_dataset_from_outside_no_study_reads_is_marked_unused_not_made(tmp_path):
    """Under the quick profile no study reads MNIST: `pm2gan fetch mnist` (its stage's command)
    needs no network and writes a note saying why there is no dataset, which loading repeats."""
    import sys
    from pathlib import Path

    from pipeline.data import places

    from tests.checkout import ROOT

    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    pm2gan = str(Path(sys.executable).parent / "pm2gan")
    for command in ("fetch", "evalnet"):
        done = subprocess.run([pm2gan, command, "mnist"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "mnist: not read by any study of profile 'quick'" in done.stdout
    note = (tmp_path / "data" / "mnist" / places.UNUSED_FILE).read_text()
    assert note.startswith("mnist was not made: no study of profile 'quick' (nor of reference, where studies pin it)")
    assert [p.name for p in (tmp_path / "evalnets" / "mnist").iterdir()] == [places.UNUSED_FILE]
    with pytest.raises(data.DataError, match=r"mnist was not made.*`dvc repro fetch-mnist` makes it"):
        places.load("mnist", tmp_path / "data")
    with pytest.raises(FileNotFoundError, match=r"data/fashion_mnist/fashion_mnist.npz not found: run `dvc repro "
                                                r"fetch-fashion_mnist`"):
        places.load("fashion_mnist", tmp_path / "data")
    done = subprocess.run([pm2gan, "fetch", "nope"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "datasets.nope: no such dataset" in done.stderr
