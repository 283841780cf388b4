"""Where each dataset and its evaluation classifier lie, as the data stages of dvc.yaml make them.

A dataset made here (drawn from `data.seed`, or scikit-learn's bundled digits) is made by the
`fetch` stage, every one of them every time (seconds), into `data/<name>.npz`; its classifier,
where it has labels, by `evalnet` into `evalnets/<name>.pt`. A dataset whose files come from
outside (IDX files: a local folder, Debian's archive, a torchvision download) has stages of its
own, `fetch-<name>` and `evalnet-<name>`, each writing one folder, `data/<name>/` and
`evalnets/<name>/`: so a study that does not read it never waits for it, nor fails for want of
it (`dvc repro generation` on a machine without Fashion-MNIST). Such a stage, under a profile none
of whose studies read its dataset, writes `unused.txt` in its folder instead, saying so: DVC needs
a stage's output, and a file that says why there is no dataset is not mistaken for one.
"""
from __future__ import annotations

from pathlib import Path

from pipeline.data.datasets import DATA_DIR, SYNTHETIC, DataError, Dataset
from pipeline.data.datasets import load as load_file

MADE_HERE = frozenset({*SYNTHETIC, "digits"})
LABELLED = frozenset({"digits", "mnist", "fashion_mnist"})  # image datasets with classes: an evaluation classifier each
EVALNET_DIR = Path("evalnets")  # pipeline.evaluation.evalnet.EVALNET_DIR (that module imports torch)
UNUSED_FILE = "unused.txt"


def from_outside(name: str) -> bool:
    return name not in MADE_HERE


def fetch_stage(name: str) -> str:
    return f"fetch-{name}" if from_outside(name) else "fetch"


def evalnet_stage(name: str) -> str:
    return f"evalnet-{name}" if from_outside(name) else "evalnet"


def data_folder(name: str, root: Path = DATA_DIR) -> Path:
    """The folder that holds `<name>.npz`."""
    return Path(root) / name if from_outside(name) else Path(root)


def data_file(name: str, root: Path = DATA_DIR) -> Path:
    return data_folder(name, root) / f"{name}.npz"


def evalnet_folder(name: str, root: Path = EVALNET_DIR) -> Path:
    """The folder that holds `<name>.pt` and `<name>.json`."""
    return Path(root) / name if from_outside(name) else Path(root)


def data_output(name: str) -> str:
    """What dataset `name`'s fetch stage writes, as dvc.yaml names it: its folder, or its file."""
    return (data_folder(name) if from_outside(name) else data_file(name)).as_posix()


def classifier_outputs(name: str) -> list[str]:
    """What its evalnet stage writes for it, as dvc.yaml names them (none for an unlabelled set)."""
    if name not in LABELLED:
        return []
    if from_outside(name):
        return [evalnet_folder(name).as_posix()]
    return [(EVALNET_DIR / f"{name}{suffix}").as_posix() for suffix in (".pt", ".json")]


def fresh(folder: Path) -> Path:
    """`folder`, made empty: a stage's own folder holds what this run writes, never a file of
    the run before (DVC empties it first; `pm2gan fetch mnist` by hand does not)."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    return folder


def unused(folder: Path, name: str, why: str) -> Path:
    """Mark `folder` as holding no dataset `name`: `unused.txt` says why."""
    marker = fresh(folder) / UNUSED_FILE
    marker.write_text(f"{name} was not made: {why}\n")
    return marker


def load(name: str, root: Path = DATA_DIR) -> Dataset:
    """Dataset `name` from where its stage put it, or an error naming the stage to run."""
    folder = data_folder(name, root)
    if (folder / UNUSED_FILE).exists():
        raise DataError(f"{folder / UNUSED_FILE}: {(folder / UNUSED_FILE).read_text().strip()} "
                        f"(`dvc repro {fetch_stage(name)}` makes it once a study of the profile reads it)")
    if not data_file(name, root).exists():
        raise FileNotFoundError(f"{data_file(name, root)} not found: run `dvc repro {fetch_stage(name)}` "
                                f"(or `pm2gan fetch {name}`) first")
    return load_file(name, folder)
