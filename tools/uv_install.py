"""Install packages into this Python's environment with uv, from where pip would take them.

    .venv/bin/python tools/uv_install.py torch==2.14.1 -e '.[test]'

`make setup` installs with uv (about three times faster than pip: benchmarks/setup_time.py). uv
does not read pip's configuration, so on a machine whose pip is pointed at local wheels or a
company index uv would look elsewhere: this passes pip's index, extra indexes, find-links folders
and constraints (from pip's files and PIP_* variables) to uv. Standard library only: it runs
before anything is installed."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

# pip's setting -> uv's option
OPTIONS = {"index-url": "--index-url", "extra-index-url": "--extra-index-url", "find-links": "--find-links",
           "constraint": "--constraint"}


def pip_settings(python: str) -> dict[str, list[str]]:
    """The values `pip install` would use, by setting: pip lists its files' and PIP_* variables'
    settings in the order they override one another, and for each setting the last one listed
    (of the sections `global`, `install` and the environment's) wins whole."""
    listed = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    found: dict[str, list[str]] = {}
    for line in listed.splitlines():
        key, sep, raw = line.partition("=")
        section, _, name = key.rpartition(".")
        if not sep or name not in OPTIONS or section not in ("global", "install", ":env:"):
            continue
        try:
            value = ast.literal_eval(raw)  # pip prints each value quoted
        except (ValueError, SyntaxError):
            value = raw
        found[name] = str(value).split()  # several, space-separated, where pip takes several
    return found


def uv_options(settings: dict[str, list[str]]) -> list[str]:
    options = [part for name, values in settings.items() for value in values for part in (OPTIONS[name], value)]
    # pip takes the best version across every index; uv by default takes the first index that has
    # the package, which would pin an old release found in a local folder
    return [*options, "--index-strategy", "unsafe-best-match"]


def main(packages: list[str]) -> int:
    uv = Path(sys.executable).parent / "uv"
    # --compile-bytecode: pip writes each module's .pyc as it installs, uv does not. Without them a
    # machine that sets PYTHONDONTWRITEBYTECODE (these do) compiles torch, Ray and MLflow from source
    # in every process it starts: `make test` on a fresh clone took 25 min 14 s without them and
    # 15 min 48 s with them (the same tests); the set-up takes 39 s with them instead of 19 s.
    command = [str(uv), "pip", "install", "--quiet", "--compile-bytecode", "--python", sys.executable,
               *uv_options(pip_settings(sys.executable)), *packages]
    return subprocess.run(command).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
