"""Under `pm2gan dvc`, the stages' `pm2gan` commands run in processes forked from one that has
already imported torch, Ray, MLflow and the pipeline.

Each stage of dvc.yaml is a `pm2gan` command in a new Python process, and each such process spent
about 3.5 s of CPU importing those libraries before it did any work: 21 processes in the smoke
run, about 75 of its 242 s, one after another. `pm2gan dvc` starts a stage server once
(`python -m pipeline.stage_server`), which imports them and then forks a child for each stage
command. The stage's own `pm2gan` process (the client) hands the server its arguments, working
directory, environment and standard streams (their file descriptors, over a Unix socket),
forwards to the child every signal it gets (Ctrl+C included) and exits as the child exits. Each
stage still has a process of its own, forked afresh from the same imported state: no stage sees
what another left behind, and no result depends on the order of the stages.

The client runs the command itself, as before, where no server is named (plain `dvc repro`,
`PM2GAN_STAGE_SERVER=0`) and where the server cannot take it: gone, or in another working
directory or Python. It says why on stderr.

The local Ray's workers are served the same way (pipeline/ray_worker.py is their client):
each is a child forked from the server running Ray's worker script.

Only the standard library here: the client is imported by every `pm2gan` start.
"""
from __future__ import annotations

import atexit
import collections
import contextlib
import json
import os
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator

SERVER_ENV = "PM2GAN_STAGE_SERVER"  # the socket's path; "0": no server (`pm2gan dvc` starts none)
# The socket of a stage server that also forks the Ray workers of the local instance `pm2gan dvc`
# started (pipeline/ray_worker.py); not set where Ray is another's (a cluster: RAY_ADDRESS given).
WORKERS_ENV = "PM2GAN_RAY_WORKER_SERVER"
STREAMS = (0, 1, 2)  # stdin, stdout, stderr: the child reads and writes the client's own
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


# --------------------------------------------------------------------------- the client: a stage's `pm2gan`

def run_served(argv: list[str], forwarded=FORWARDED) -> int | None:
    """`pm2gan argv` run by the stage server named in the environment: its exit code (a child
    killed by a signal kills this process with the same signal). The `forwarded` signals this
    process gets go to the child. None where there is no server to run it, or it cannot: the
    caller runs the command itself."""
    path = os.environ.get(SERVER_ENV, "0")
    if path == "0":
        return None
    request = {"argv": argv, "argv0": sys.argv[0], "cwd": os.getcwd(), "env": dict(os.environ),
               "python": os.path.realpath(sys.executable)}
    child: int | None = None
    pending: list[int] = []  # signals that came before the child's pid: the child may already run

    def forward(signum, frame):
        if child is None:
            pending.append(signum)
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)

    previous = {s: signal.signal(s, forward) for s in forwarded}  # before the request: no Ctrl+C is lost
    try:
        with contextlib.ExitStack() as closing:  # the connection, closed either way: a refused stage runs on here
            try:
                conn = closing.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
                conn.connect(path)
                socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], list(STREAMS))
                reader = closing.enter_context(conn.makefile("rb"))
                started = _message(reader)
            except OSError as err:
                started = {"refused": f"it does not answer ({err})"}
            if "pid" not in started:
                print(f"pm2gan: the stage server ({path}) cannot run this stage: {started.get('refused', 'it closed')}; "
                      "it runs in a process of its own", file=sys.stderr, flush=True)
                return None
            child = started["pid"]
            for signum in pending:
                forward(signum, None)
            ended = _message(reader)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if child is None:  # not served: what came meanwhile acts on this process, which runs the stage
            for signum in pending:
                os.kill(os.getpid(), signum)
    if "status" not in ended:
        print(f"pm2gan: the stage server ({path}) stopped before this stage's process (pid {child}) ended",
              file=sys.stderr, flush=True)
        return 1
    code = ended["status"]
    if code < 0:  # killed by a signal: so is this process, as DVC would have seen the stage die
        with contextlib.suppress(OSError, ValueError):  # SIGKILL's and SIGSTOP's cannot be set, nor need be
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


def ray_runtime_env() -> dict[str, str] | None:
    """The runtime environment in which Ray starts a driver's workers through pipeline/ray_worker.py,
    forked from the stage server named by WORKERS_ENV; None where none is."""
    path = os.environ.get(WORKERS_ENV)
    if not path:
        return None
    return {"py_executable": " ".join(shlex.quote(a) for a in (sys.executable, "-m", "pipeline.ray_worker", path))}


def _message(reader) -> dict:
    line = reader.readline()
    return json.loads(line) if line else {}


# --------------------------------------------------------------------------- the server

@contextlib.contextmanager
def serving(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """A stage server for `pm2gan dvc`'s stages, started with `env` (theirs) in this working
    directory and stopped, with any stage it still runs, on leaving: the variable that names it to
    them. In a session of its own, so that only the clients pass Ctrl+C on to its children."""
    folder = tempfile.mkdtemp(prefix="pm2gan-stages-")  # 0700: only this user's stages connect
    path = os.path.join(folder, "socket")
    server = subprocess.Popen([sys.executable, "-m", "pipeline.stage_server", path], env=env,
                              stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        yield {SERVER_ENV: path}
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(folder, ignore_errors=True)


def listen(path: str) -> socket.socket:
    """The server's socket, listening: clients that connect before `serve` starts wait in its
    queue, so the server can import while DVC starts its first stage."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    return listener


def serve(listener: socket.socket, run: Callable[[list[str]], int | None]) -> collections.Counter:
    """Fork a child that runs `run(argv)` for each client, until SIGTERM or until the process that
    started this one is gone; then stop the children still running. How many it ran, by the
    first word of their argv.

    One thread and no other: a process that forks must not hold locks another thread could own."""
    parent = os.getppid()
    children: dict[int, socket.socket] = {}  # pid -> its client's connection
    gone: set[int] = set()  # children whose client is gone: stopped, not yet reaped
    served: collections.Counter = collections.Counter()

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        while os.getppid() == parent:
            waiting = [c for p, c in children.items() if p not in gone]
            ready, _, _ = select.select([listener, *waiting], [], [], 0.2)
            for conn in ready:
                if conn is listener:
                    client = _accept(listener, children, run)
                    if client is not None:
                        pid, connection, argv = client
                        children[pid] = connection
                        served[argv[0] if argv else ""] += 1
                elif not _still_there(conn):  # the client is gone (killed): its stage goes too
                    pid = next(p for p, c in children.items() if c is conn)
                    gone.add(pid)
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGTERM)
            _reap(children)
            gone &= children.keys()
    except SystemExit:
        pass
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
        listener.close()
    return served


def _accept(listener: socket.socket, children: dict[int, socket.socket],
            run: Callable[[list[str]], int | None]) -> tuple[int, socket.socket, list[str]] | None:
    """Take one client's request and fork its child: (the child's pid, the connection, its argv)."""
    conn, _ = listener.accept()
    fds: list[int] = []
    try:
        data, fds, _, _ = socket.recv_fds(conn, 1 << 20, len(STREAMS))
        while not data.endswith(b"\n"):
            more = conn.recv(1 << 20)
            if not more:
                raise OSError("the request was cut short")
            data += more
        request = json.loads(data)
        refused = _refusal(request, fds)
    except (OSError, ValueError) as err:
        refused = f"its request could not be read ({err})"
    if refused:
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps({"refused": refused}).encode() + b"\n")
        conn.close()
        for fd in fds:
            os.close(fd)
        return None
    try:
        pid = os.fork()
    except OSError as err:  # out of processes or memory: this stage runs in its client's process
        pid, refused = -1, f"it could not fork ({err})"
    if pid == 0:
        _child(request, fds, [listener, conn, *children.values()], run)  # never returns
    for fd in fds:
        os.close(fd)
    reply = {"refused": refused} if pid < 0 else {"pid": pid}
    with contextlib.suppress(OSError):  # a client gone meanwhile: the next select finds it gone
        conn.sendall(json.dumps(reply).encode() + b"\n")
    if pid < 0:
        conn.close()
        return None
    return pid, conn, request["argv"]


def _still_there(conn: socket.socket) -> bool:
    """Whether a client whose connection select found readable is still there: a client sends
    nothing after its request, so readable means closed (end of file, or reset)."""
    try:
        return bool(conn.recv(1))
    except OSError:
        return False


def _refusal(request: dict, fds: list[int]) -> str | None:
    """Why this server cannot run the request as the client's own process would, if it cannot:
    its modules were imported from its working directory by its Python."""
    if len(fds) != len(STREAMS):
        return "it did not pass its standard streams"
    if request["cwd"] != os.getcwd():
        return f"it runs in {request['cwd']}, the server in {os.getcwd()}"
    if request["python"] != os.path.realpath(sys.executable):
        return f"it runs {request['python']}, the server {os.path.realpath(sys.executable)}"
    return None


def _reap(children: dict[int, socket.socket]) -> None:
    """Tell each client whose child has ended how it ended (os.waitstatus_to_exitcode's code:
    negative for a signal)."""
    while children:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            return
        conn = children.pop(pid, None)
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps({"status": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
            conn.close()


def _child(request: dict, fds: list[int], inherited: list[socket.socket], run: Callable[[list[str]], int | None]):
    """In the forked child: become the client's process (its streams, directory, environment,
    arguments, default signal handling), run the command, and exit as `pm2gan` would."""
    code = 1
    try:
        for sock in inherited:
            sock.close()
        os.setpgid(0, 0)  # a group of its own: the server stops it and whatever it started together
        for target, fd in zip(STREAMS, fds):
            os.dup2(fd, target)
            os.close(fd)
        for stream in (sys.stdout, sys.stderr):  # buffered as a new process's would be on these streams
            stream.reconfigure(line_buffering=os.isatty(stream.fileno()),
                               write_through=bool(request["env"].get("PYTHONUNBUFFERED")))
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ.pop(SERVER_ENV)  # what this stage starts runs its own `pm2gan`s
        sys.argv = [request["argv0"], *request["argv"]]
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for s in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_DFL)
        if "numpy" in sys.modules:  # a new process seeds numpy's global generator afresh; so does this one
            sys.modules["numpy"].random.seed()
        code = run(request["argv"]) or 0
    except SystemExit as exit_:  # argparse's usage errors, sys.exit(): as the interpreter treats them
        code = exit_.code if isinstance(exit_.code, int) else 0 if exit_.code is None else 1
        if not isinstance(exit_.code, (int, type(None))):
            print(exit_.code, file=sys.stderr)
    except KeyboardInterrupt:
        traceback.print_exc()
        code = -signal.SIGINT  # an uncaught Ctrl+C ends a Python process by SIGINT
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(BaseException):
            atexit._run_exitfuncs()  # noqa: SLF001 - what interpreter exit runs: Ray's and MLflow's shutdowns
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        if code < 0:
            signal.signal(-code, signal.SIG_DFL)
            os.kill(os.getpid(), -code)
        os._exit(code)
