"""`python -m pipeline.ray_worker SOCKET WORKER_SCRIPT ARGS...`: how Ray starts a worker process on
the local instance that `pm2gan dvc` owns (the py_executable of its stages' runtime environment,
set by resources.ray_init).

A fresh worker spends about 5 s of CPU importing torch, torch._dynamo (loaded by the first Adam),
torchmetrics, MLflow and the pipeline before its first trial, and every study stage starts its
own workers. Here the worker is instead forked from the stage server (stage_server.py), which has
imported all of that once, and runs Ray's worker script (WORKER_SCRIPT ARGS, exactly as Ray would
have run it) in the child. Where the server cannot take it, this process becomes the worker
itself. Only the standard library and the stage server's client here: nothing to import first."""
from __future__ import annotations

import os
import runpy
import signal
import sys

from pipeline.orchestration import stage_server

REQUEST = "ray-worker"  # what the server reads as "Ray's worker script", not a `pm2gan` command
IGNORE_SIGINT = "sigint-ignored"


def main(argv: list[str]) -> int:
    """In the process Ray started: have the worker forked from the server at SOCKET, and exit as
    it exits; without a server that takes it, become the worker (exec: the same pid Ray knows)."""
    socket_path, script, *args = argv
    # Ray's processes ignore Ctrl+C where `pm2gan dvc` started them (an interrupted stage still
    # needs its workers to close its sweep): so does the forked worker, and none is forwarded to it.
    ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    os.environ[stage_server.SERVER_ENV] = socket_path
    code = stage_server.run_served([REQUEST, IGNORE_SIGINT if ignored else "", script, *args],
                                   forwarded=[s for s in stage_server.FORWARDED if not (ignored and s == signal.SIGINT)])
    if code is None:
        os.environ.pop(stage_server.SERVER_ENV)
        os.execv(sys.executable, [sys.executable, script, *args])
    return code


def become(argv: list[str]) -> int:
    """In the forked child: run Ray's worker script as its own process would (`python SCRIPT ARGS`),
    with Ctrl+C ignored where Ray's launcher ignored it."""
    sigint, script, *args = argv
    if sigint == IGNORE_SIGINT:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.argv = [script, *args]
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
