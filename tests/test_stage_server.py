"""The stage server (pipeline/orchestration/stage_server.py): a stage's `pm2gan` handed to a
process forked from one that has imported everything behaves as the stage's own process would:
its streams, directory, environment, exit status and Ctrl+C. Run here with small test commands
(tests/stage_commands.py) in a real server and real client processes; the end-to-end run serves
every stage of the smoke run with the real `pm2gan` (tests/test_e2e.py)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from pipeline.orchestration.stage_server import SERVER_ENV
from tests.conftest import ROOT

# The client's side of a stage's `pm2gan`. Where it is not served it says so, and how many sockets
# it still holds open: none, as the stage then runs in this process for as long as it takes.
CLIENT = """
import os, sys
from pipeline.orchestration.stage_server import run_served

def open_sockets():
    found = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            found += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:  # the listing's own descriptor, closed by now
            pass
    return found

code = run_served(sys.argv[1:])
print(f"ran here, {open_sockets()} sockets open" if code is None else "", end="")
sys.exit(code or 0)
"""


@pytest.fixture()
def server(tmp_path):
    """A stage server for the test commands, in the project's folder: its socket's path."""
    path = str(tmp_path / "socket")
    proc = subprocess.Popen([sys.executable, "-m", "tests.stage_commands", path], cwd=ROOT, start_new_session=True)
    until(lambda: Path(path).exists(), "the server's socket")
    yield path
    proc.terminate()
    proc.wait(timeout=30)


def until(condition, what: str, deadline: float = 30.0) -> None:
    """Poll `condition` until it holds; fail naming `what` after `deadline` seconds."""
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"waited {deadline:.0f} s for {what}"
        time.sleep(0.05)


def ended(pid: int) -> bool:
    """The process is gone, or a zombie (dead; its parent, gone too, left it to whoever reaps here)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def client(server: str, *argv: str, cwd: Path = ROOT, **popen) -> subprocess.Popen:
    env = {**os.environ, SERVER_ENV: server, "STAGE_TEST_VALUE": "from the client"}
    return subprocess.Popen([sys.executable, "-c", CLIENT, *argv], cwd=cwd, env=env, text=True, **popen)


def test_the_child_has_the_clients_streams_directory_environment_and_exit_code(server, tmp_path):
    seen = tmp_path / "seen.json"
    done = client(server, "echo", str(seen), "3", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = done.communicate(timeout=60)
    assert (done.returncode, out, err) == (3, "to stdout\n", "to stderr\n")
    child = json.loads(seen.read_text())
    assert child["pid"] != done.pid and child["ppid"] != done.pid  # forked by the server, not run by the client
    assert child["cwd"] == str(ROOT) and child["env"] == "from the client"
    assert child["argv"] == ["-c", "echo", str(seen), "3"]


def test_elsewhere_the_client_runs_the_command_itself_and_says_why(server, tmp_path):
    done = client(server, "echo", str(tmp_path / "seen.json"), "0", cwd=tmp_path, stdout=subprocess.PIPE,
                  stderr=subprocess.PIPE)
    out, err = done.communicate(timeout=60)
    assert out == "ran here, 0 sockets open" and not (tmp_path / "seen.json").exists()
    assert f"it runs in {tmp_path}, the server in {ROOT}" in err
    gone = client(str(tmp_path / "no-socket"), "echo", "x", "0", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = gone.communicate(timeout=60)
    assert out == "ran here, 0 sockets open" and "does not answer" in err


def test_ctrl_c_reaches_the_child_once_and_its_exit_code_comes_back(server, tmp_path):
    waiting = client(server, "wait", str(tmp_path / "pid"), stdout=subprocess.PIPE, start_new_session=True)
    assert waiting.stdout.readline() == "ready\n"
    os.killpg(waiting.pid, signal.SIGINT)  # what Ctrl+C sends: the terminal's process group, the client's
    out = waiting.communicate(timeout=60)[0]
    assert (waiting.returncode, out) == (130, "interrupted\n")  # one interruption, handled by the command


def test_a_child_killed_by_ctrl_c_kills_its_client_by_the_same_signal(server):
    done = client(server, "uncaught", stderr=subprocess.PIPE)
    err = done.communicate(timeout=60)[1]
    assert done.returncode == -signal.SIGINT and "KeyboardInterrupt" in err


def test_a_child_killed_by_sigkill_kills_its_client_by_sigkill(server, tmp_path):
    """What Ray does to an idle worker (pipeline/ray_worker.py): the client, whose SIGKILL has no
    handler to reset, dies of it too."""
    pid_file = tmp_path / "pid"
    waiting = client(server, "wait", str(pid_file), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert waiting.stdout.readline() == "ready\n"
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    err = waiting.communicate(timeout=60)[1]
    assert waiting.returncode == -signal.SIGKILL and "Traceback" not in err


def test_a_killed_client_takes_its_child_with_it(server, tmp_path):
    pid_file = tmp_path / "pid"
    waiting = client(server, "wait", str(pid_file), stdout=subprocess.PIPE)
    assert waiting.stdout.readline() == "ready\n"
    child = int(pid_file.read_text())
    waiting.kill()
    waiting.wait()
    until(lambda: ended(child), f"the orphaned child {child} to be stopped")


def test_the_server_stops_its_stages_and_itself_when_its_starter_is_gone(tmp_path):
    """`kill -9` of `pm2gan dvc`, which started the server: the server and the stage it runs go."""
    path, pid_file = tmp_path / "socket", tmp_path / "pid"
    starter = subprocess.Popen(  # stands for `pm2gan dvc`: starts the server, prints its pid, waits
        [sys.executable, "-c", "import subprocess, sys, time; "
         f"s = subprocess.Popen([sys.executable, '-m', 'tests.stage_commands', {str(path)!r}], start_new_session=True); "
         "print(s.pid, flush=True); time.sleep(600)"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    server = int(starter.stdout.readline())
    until(path.exists, "the server's socket")
    waiting = client(str(path), "wait", str(pid_file), stdout=subprocess.PIPE)
    assert waiting.stdout.readline() == "ready\n"
    child = int(pid_file.read_text())
    starter.kill()
    starter.wait()
    until(lambda: ended(server), f"the server {server} to exit")
    until(lambda: ended(child), f"its stage {child} to be stopped")
    waiting.communicate(timeout=60)
    assert waiting.returncode != 0  # its stage was stopped under it: the client does not report success
