"""`mlflow server ARGS` in one process: `python -m pipeline.tracking.server_process ARGS`.

`mlflow server` imports MLflow's server (3.4 s of CPU here), prepares the store and the environment,
then starts `python -m uvicorn ... mlflow.server.fastapi_app:app`, a second process that imports all of
it again. pm2gan starts a server for every command that records runs, and the test suite starts dozens:
run here, uvicorn serves from the process that `mlflow server` prepared, with the very options MLflow
chose for it. Everything else is MLflow's own `server` command, unchanged. Where a future MLflow starts
its server otherwise, the substitution steps aside and the two processes run as before.
"""
from __future__ import annotations

import os
import sys

# MLflow's server decides at import whether it runs as a server (and so guards its routes with its
# security middleware) by looking for uvicorn among the loaded modules: as in uvicorn's own process.
from uvicorn.main import main as uvicorn_command


class _Served:
    """What `mlflow server` expects back from starting uvicorn (a Popen to wait on), for a server that
    has run and stopped, in this process, by the time it is returned."""

    returncode = 0

    def wait(self, timeout=None) -> int:
        return self.returncode

    def poll(self) -> int:
        return self.returncode

    def send_signal(self, signum) -> None:
        pass


def uvicorn_arguments(cmd) -> list[str] | None:
    """The arguments of `cmd` when it is `python -m uvicorn ARGS` run by this interpreter, else None."""
    if isinstance(cmd, list) and len(cmd) > 3 and cmd[:3] == [sys.executable, "-m", "uvicorn"]:
        return [str(arg) for arg in cmd[3:]]
    return None


def _serve_here(start_process):
    def start(cmd, *, extra_env=None, synchronous=True, **kwargs):
        args = uvicorn_arguments(cmd)
        if args is None or synchronous:
            return start_process(cmd, extra_env=extra_env, synchronous=synchronous, **kwargs)
        os.environ.update(extra_env or {})
        # uvicorn's command line, run here: it serves until SIGTERM or Ctrl+C, then returns; when it
        # cannot start (a port taken, an app that fails to load) it exits with its code, and so does this.
        uvicorn_command.main(args=args, prog_name="uvicorn", standalone_mode=False)
        return _Served()
    return start


def main(argv: list[str]) -> None:
    import mlflow.server
    from mlflow.cli import cli

    start_process = getattr(mlflow.server, "_exec_cmd", None)
    if start_process is not None:
        mlflow.server._exec_cmd = _serve_here(start_process)
    cli.main(args=["server", *argv], prog_name="mlflow")


if __name__ == "__main__":
    main(sys.argv[1:])
