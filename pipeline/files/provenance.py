"""Where a result came from: the code version recorded with every result and MLflow run
(the data version is the hash of the data file: `data.file_digest`)."""
from __future__ import annotations

import os
import subprocess


def code_version() -> str:
    """git commit of the code, '+dirty' when models/ or pipeline/ differ from it; outside git
    (e.g. a `ray job submit --working-dir` upload without .git) PM2GAN_CODE_VERSION, else 'unknown'."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "models", "pipeline"], capture_output=True,
                               text=True, check=True).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get("PM2GAN_CODE_VERSION", "unknown")
