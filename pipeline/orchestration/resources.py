"""Ray for a sweep: the cluster it joins (RAY_ADDRESS) or the private local one it starts, and
what each trial asks of it (params.yaml's `resources`), checked against the nodes Ray has."""
from __future__ import annotations

import os

from pipeline.orchestration import ray_reaper, stage_server
from pipeline.settings.config import Config, ConfigError


def ray_init(cfg: Config) -> None:
    import ray

    # Each trial's final checkpoint forces a snapshot of the experiment state (it is what makes
    # an interrupted sweep resumable); Tune warns about that every few seconds. Expected here.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if ray.is_initialized():
        return
    address = os.environ.get("RAY_ADDRESS")
    if address:  # where pm2gan dvc started it, its stage server forks the workers (ray_worker.py)
        ray.init(address=address, runtime_env=stage_server.ray_runtime_env())
    else:  # a private local cluster for this run; no dashboard: it costs seconds and memory. Ray binds
        # it to the node's address (it turns 127.0.0.1 into that on purpose) and, since 2.5x, guards
        # its services with a token it generates (RAY_AUTH_MODE=token, the default). Not its metrics
        # exporter: the DashboardAgent's listened on 0.0.0.0 and answered anyone; pm2gan reads no
        # Ray metric, so it is off (read by Ray's processes from their environment).
        os.environ.setdefault("RAY_enable_metrics_collection", "0")
        ray_reaper.start_for(os.getpid())  # Ray's agents outlived a SIGKILLed driver by up to a minute
        ray.init(include_dashboard=False, log_to_driver=True)


def trial_resources(cfg: Config) -> dict[str, float]:
    """What each trial asks Ray for, checked against the nodes Ray has: a request that no node
    can meet would leave Tune waiting forever."""
    import ray

    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    most_cpus = max((n.get("CPU", 0) for n in nodes), default=0)
    most_gpus = max((n.get("GPU", 0) for n in nodes), default=0)
    r = cfg.resources
    if r.cpus_per_trial > most_cpus:
        raise ConfigError(cfg.file, "resources.cpus_per_trial",
                          f"{r.cpus_per_trial:g} CPUs per trial, but the largest node of the Ray cluster has {most_cpus:g}")
    if most_gpus == 0:
        if r.device == "cuda":
            raise ConfigError(cfg.file, "resources.device", "cuda, but the Ray cluster has no GPU (use auto or cpu)")
        if r.gpus_per_trial > 0:
            print(f"pm2gan: the Ray cluster has no GPU: trials run on CPU (resources.gpus_per_trial "
                  f"{r.gpus_per_trial:g} applies where there are GPUs)", flush=True)
        return {"cpu": r.cpus_per_trial}
    if r.gpus_per_trial > most_gpus:
        raise ConfigError(cfg.file, "resources.gpus_per_trial",
                          f"{r.gpus_per_trial:g} GPUs per trial, but the largest node of the Ray cluster has {most_gpus:g}")
    if r.device == "cuda" and r.gpus_per_trial == 0:
        raise ConfigError(cfg.file, "resources.device", "cuda needs resources.gpus_per_trial > 0")
    return {"cpu": r.cpus_per_trial, **({"gpu": r.gpus_per_trial} if r.gpus_per_trial > 0 else {})}


def take_trial_threads() -> None:
    """Torch's and BLAS's thread counts from OMP_NUM_THREADS, which Ray sets to the trial's CPUs as
    the trial starts. A fresh worker's libraries load after that and take it themselves; a worker
    forked from the stage server (pipeline/ray_worker.py) loaded them before, with a thread per
    core: a 1-CPU trial would run on every core and add its sums in another order."""
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if not threads.isdigit() or int(threads) < 1:
        return
    import torch
    from threadpoolctl import threadpool_limits

    if torch.get_num_threads() != int(threads):
        torch.set_num_threads(int(threads))
    threadpool_limits(int(threads))  # numpy's and scikit-learn's OpenBLAS, and OpenMP
