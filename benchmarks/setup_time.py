"""`make setup` on a fresh venv with each installer, in the same run: pip alone (INSTALLER=pip) and
uv (the default), each into a new folder with an empty uv cache, as on a fresh clone.

    python benchmarks/setup_time.py [--keep]

Needs about 12 GB free beside the project (two venvs). Prints each installer's wall time,
whether both installed the same packages (name and version, `pip list`) and how many modules
each left compiled (.pyc): without them every process compiles its imports again where
PYTHONDONTWRITEBYTECODE is set."""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup(venv: Path, installer: str) -> float:
    started = time.monotonic()
    subprocess.run(["make", "-s", "setup", f"VENV={venv}", f"INSTALLER={installer}", f"UV_CACHE_DIR={venv}/.uv-cache"],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def packages(venv: Path) -> set[str]:
    listed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
                            capture_output=True, text=True, check=True).stdout
    return {line for line in listed.splitlines() if not line.startswith(("pip==", "uv==", "pm2gan"))}


def compiled(venv: Path) -> int:
    return sum(1 for _ in venv.glob("lib/python3*/site-packages/**/__pycache__/*.pyc"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the two venvs (their folder is printed)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pm2gan-setup-", dir=ROOT.parent))  # the project's file system
    try:
        times = {installer: setup(folder / f"venv-{installer}", installer) for installer in ("pip", "uv")}
        for installer, seconds in times.items():
            print(f"make setup, INSTALLER={installer}: {seconds:.1f} s")
        print(f"uv / pip: {times['uv'] / times['pip']:.2f}")
        differ = packages(folder / "venv-pip") ^ packages(folder / "venv-uv")
        print("same packages and versions" if not differ else f"packages that differ: {sorted(differ)}")
        print("compiled modules (.pyc): " + ", ".join(f"{i} {compiled(folder / f'venv-{i}')}" for i in times))
    finally:
        if args.keep:
            print(f"kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
