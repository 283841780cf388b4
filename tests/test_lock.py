"""The committed dvc.lock is the committed code's: every stage's recorded code and parameter
dependencies are those of the tree, so the committed reports/ provably come from this code. Read
by the real `dvc status`; outputs and data missing from a fresh clone are not dependencies of
the code and do not count."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.checkout import ROOT, dvc_env, make_checkout

pytestmark = pytest.mark.service  # starts real services (Ray, an MLflow server, DVC): not the unit tier


def stale_dependencies(repo: Path) -> dict[str, dict[str, object]]:
    """stage -> {dependency: what changed} for the dependencies git tracks (code, params.yaml)."""
    tracked = subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True).stdout.split()
    done = subprocess.run(["dvc", "status", "--json"], cwd=repo, env=dvc_env(), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    stale: dict[str, dict[str, object]] = {}
    for stage, changes in json.loads(done.stdout or "{}").items():
        for change in changes:
            if not isinstance(change, dict):
                continue  # "always changed" and the like: no dependency named
            for path, what in change.get("changed deps", {}).items():
                if any(name == path or name.startswith(path.rstrip("/") + "/") for name in tracked):
                    stale.setdefault(stage, {})[path] = what
    return stale


def test_the_committed_dvc_lock_records_the_committed_code_and_params():
    assert stale_dependencies(ROOT) == {}, ("dvc.lock does not match the tree: run `dvc repro` and commit dvc.lock "
                                            "and reports/ with the code (never `dvc commit -f` around a change)")


def test_a_code_edit_after_the_lock_was_written_is_found(tmp_path):
    repo = make_checkout(tmp_path / "pm2gan")
    shutil.copyfile(ROOT / "dvc.lock", repo / "dvc.lock")
    rule = repo / "pipeline" / "studies" / "generation.py"
    rule.write_text(rule.read_text() + "\n# edited after dvc.lock was written\n")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    stale = stale_dependencies(repo)
    # the study that reads the module, and the report, which reads every study's
    assert stale == {"generation": {"pipeline/studies/generation.py": "modified"},
                     "report": {"pipeline/studies": "modified"}}
