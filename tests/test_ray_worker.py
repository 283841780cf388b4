"""Ray workers forked from the stage server (pipeline/ray_worker.py): under `pm2gan dvc`, the local
Ray instance starts its workers through the stage server, so a trial starts with torch, MLflow and
the pipeline already imported. The worker must be the one a fresh process would have been: Ray's
own worker script, its environment, the trial's thread count."""
from __future__ import annotations

import os
import subprocess
import sys
import psutil
import pytest

from pipeline.orchestration import shared_services, stage_server
from tests.conftest import ROOT

PROBE_PRELOAD = """
import importlib, sys
import torch
asked = []
for name in ("is_available", "device_count", "init"):  # a CUDA query in the server would break its forked children
    setattr(torch.cuda, name, lambda *a, _n=name, **k: asked.append(_n))
from pipeline.stage_server import PRELOAD
for module in PRELOAD:
    importlib.import_module(module)
print(sorted(m for m in sys.modules if m == "ray" or m.startswith("ray.")), asked)
"""


def test_the_stage_server_loads_neither_ray_nor_cuda():
    """Ray's core reads a worker's job id from the environment once, as it loads: loaded in the
    server, every forked worker would carry the server's (none). CUDA cannot be used in a child
    forked after its parent asked for it."""
    out = subprocess.run([sys.executable, "-c", PROBE_PRELOAD], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, check=True).stdout
    assert out.strip().splitlines()[-1] == "[] []"


def test_without_a_server_the_launcher_becomes_the_worker_itself(tmp_path):
    """Where the server is gone, the process Ray started runs Ray's script itself (exec: the pid Ray
    knows), with the arguments Ray gave."""
    script = tmp_path / "worker.py"
    script.write_text("import os, sys; print(os.getpid(), sys.argv[1:])")
    launcher = subprocess.Popen([sys.executable, "-m", "pipeline.ray_worker", str(tmp_path / "no-socket"), str(script),
                                 "--node-id=x"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = launcher.communicate(timeout=120)
    pid, argv = out.split(" ", 1)
    assert (launcher.returncode, int(pid), argv.strip()) == (0, launcher.pid, "['--node-id=x']")
    assert "cannot run this stage" in err  # says why it was not forked


@pytest.mark.service
def test_ray_workers_are_forked_from_the_stage_server_and_take_the_trial_s_threads(monkeypatch):
    """A real local Ray whose workers start through the real stage server: the actor's process is
    the server's child, found torch already loaded, and after take_trial_threads runs the thread
    count a fresh worker has (Ray's OMP_NUM_THREADS for a 1-CPU actor); the server counts it."""
    # ray_token() sets the token in this process's environment, as `pm2gan dvc` needs. Left there,
    # a later test of this worker started Ray, whose GCS took the token, and its driver none (CI saw
    # "InvalidAuthToken" from a test that ran next): undone after the test.
    for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN"):
        monkeypatch.setenv(key, os.environ.get(key, ""))
    env = {**os.environ, **shared_services.ray_token()}
    code = """
import os, sys, ray
from pipeline.orchestration import stage_server
ray.init(include_dashboard=False, log_to_driver=False, num_cpus=2, runtime_env=stage_server.ray_runtime_env())

@ray.remote(num_cpus=1)
class Trial:
    def where(self):
        loaded = "torch._dynamo" in sys.modules  # before anything here imports it
        import torch
        from pipeline.orchestration.resources import take_trial_threads
        take_trial_threads()
        return os.getppid(), loaded, torch.get_num_threads()

print(*ray.get(Trial.remote().where.remote()), flush=True)
ray.shutdown()
"""
    with stage_server.serving(env) as served:
        socket = served[stage_server.SERVER_ENV]
        server = next(p for p in psutil.process_iter(["cmdline"])
                      if p.info["cmdline"] and socket in p.info["cmdline"])
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                              env={**env, stage_server.WORKERS_ENV: socket})
        assert done.returncode == 0, done.stderr[-3000:]
        parent, loaded, threads = done.stdout.split()
        assert (int(parent), loaded, threads) == (server.pid, "True", "1")
