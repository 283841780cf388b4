"""Debian's dataset packages as an offline source of IDX files.

`dataset-fashion-mnist` holds Zalando's four gzipped IDX files. These machines reach Debian's
archive but not the dataset's own host, so `pm2gan fetch` makes a dataset's `local_dir` from the
package when the folder is missing: a link to the installed files where the package is installed,
else the package downloaded with `apt-get download` (no root needed) and unpacked with
`dpkg-deb`. The folder appears whole or not at all: it is unpacked beside its place and renamed."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

TRAIN_IMAGES = "train-images-idx3-ubyte"


class DebianError(RuntimeError):
    """The package could not be found, downloaded or unpacked; the message says which and how to fix it."""


def idx_folder(root: Path) -> Path | None:
    """The folder under `root` that holds the training images' IDX file (gzipped or not)."""
    found = sorted(p.parent for p in root.rglob(f"{TRAIN_IMAGES}*") if p.name in (TRAIN_IMAGES, f"{TRAIN_IMAGES}.gz"))
    return found[0] if found else None


def installed_folder(package: str) -> Path | None:
    """Where an installed package put its IDX files (`dpkg-query -L`), or None when it is not installed."""
    if shutil.which("dpkg-query") is None:
        return None
    listed = subprocess.run(["dpkg-query", "-L", package], capture_output=True, text=True)
    if listed.returncode != 0:
        return None
    files = [Path(line) for line in listed.stdout.splitlines() if Path(line).name.startswith(TRAIN_IMAGES)]
    return files[0].parent if files else None


def unpack(deb: Path, target: Path) -> None:
    """Unpack the IDX files of the package file `deb` into the new folder `target`."""
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as tmp:
        root = Path(tmp) / "root"
        _run(["dpkg-deb", "-x", str(deb), str(root)], f"unpacking {deb.name}")
        folder = idx_folder(root)
        if folder is None:
            raise DebianError(f"{deb.name} holds no {TRAIN_IMAGES} file: not a dataset package of IDX files")
        folder.rename(target)  # same file system: the folder appears whole


def provide(package: str, target: Path) -> str:
    """Make `target` (missing) a folder of `package`'s IDX files; return where they came from."""
    target.parent.mkdir(parents=True, exist_ok=True)
    installed = installed_folder(package)
    if installed is not None:
        target.symlink_to(installed, target_is_directory=True)
        return f"Debian package {package}, installed in {installed}"
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise DebianError(f"Debian package {package} is not installed and apt-get/dpkg-deb are not on this machine")
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".deb-") as tmp:
        _run(["apt-get", "download", package], f"downloading {package} from Debian's archive", cwd=tmp)
        (deb,) = Path(tmp).glob("*.deb")
        unpack(deb, target)
    return f"Debian package {package}, downloaded by apt-get"


def ensure(dataset: str, local_dir: str | None, package: str | None) -> str | None:
    """Make `dataset`'s `local_dir` from `package` when the folder is missing (`pm2gan fetch` does
    this first); what was done, or None when there was nothing to do."""
    if not local_dir or not package or Path(local_dir).exists():
        return None
    try:
        return f"{local_dir} made from {provide(package, Path(local_dir))}"
    except DebianError as e:
        raise FileNotFoundError(
            f"dataset {dataset}: local_dir {local_dir!r} does not exist and could not be made from Debian's {package}: "
            f"{e}. Set datasets.{dataset}.local_dir in params.yaml to a folder holding the four IDX files, or "
            f"datasets.{dataset}.download: true (needs the dataset's own host).") from e


def _run(command: list[str], doing: str, cwd: str | None = None) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise DebianError(f"{doing} failed ({' '.join(command)}, exit {done.returncode}): "
                          f"{(done.stderr or done.stdout).strip()[-500:]}")


if __name__ == "__main__":  # `make .cache/fashion-mnist`: python -m pipeline.data.debian PACKAGE FOLDER
    import sys

    package, folder = sys.argv[1:3]
    print(ensure(Path(folder).name, folder, package) or f"{folder}: already there")
