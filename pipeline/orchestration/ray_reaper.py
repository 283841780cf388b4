"""Ray's processes go when the sweep's driver goes, however it goes.

A local Ray instance (no RAY_ADDRESS) is started by the driver, `pm2gan study`. Killed by SIGKILL
(the driver's PID alone, as a supervisor or the OOM killer does it), its GCS and raylet exit
within seconds, but Ray's DashboardAgent and RuntimeEnvAgent live on for 45 to 60 s, listening
on the machine's address. This watcher, started beside the driver in a session of its own (so
the kill does not reach it), notes the Ray processes descended from the driver while it lives;
when the driver is gone it kills those still running, then exits.

Run as a script (`python ray_reaper.py DRIVER_PID`), not imported: it must not load the project.
"""
from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import psutil

POLL_S = 0.5


def is_ray(process: psutil.Process) -> bool:
    """Ray's own processes: its binaries, its Python services and workers (`ray::…`)."""
    with contextlib.suppress(psutil.Error):
        command = " ".join(process.cmdline())
        return command.startswith("ray::") or "/ray/" in command
    return False


def watch(driver_pid: int) -> None:
    """Until the driver `driver_pid` is gone, note the Ray processes under it; then kill them."""
    try:
        driver = psutil.Process(driver_pid)
    except psutil.NoSuchProcess:
        return
    seen: dict[int, psutil.Process] = {}
    me = psutil.Process().pid
    print("watching", flush=True)  # what `start_for` waits for: the driver starts Ray only once watched
    while _alive(driver):
        with contextlib.suppress(psutil.Error):
            for child in driver.children(recursive=True):
                if child.pid not in seen and child.pid != me and is_ray(child):
                    seen[child.pid] = child
        time.sleep(POLL_S)
    # and what those started since the last look (the raylet starts its agents as it comes up, and
    # outlives the driver by a second or more: its children are still its own)
    for process in list(seen.values()):
        with contextlib.suppress(psutil.Error):
            for child in process.children(recursive=True):
                seen.setdefault(child.pid, child)
    for process in seen.values():
        with contextlib.suppress(psutil.Error):
            if process.is_running():  # the same process: psutil checks its start time against reuse of the PID
                process.kill()


_started: set[int] = set()  # the drivers watched from this process: one watcher each


def _alive(process: psutil.Process) -> bool:
    """Running, and not a zombie its parent has yet to reap (a process gone between two questions
    is not alive: never an error that would end the watch before its work)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def start_for(driver_pid: int) -> None:
    """Start the watcher for `driver_pid`, and return once it watches: called before the driver
    starts Ray (a driver killed a moment after Ray came up left agents the watcher never saw).
    Once per driver (a process that starts Ray again keeps its watcher, which goes on noting Ray's
    processes under it); in a session of its own, so a kill of the driver's process group does not
    take it too."""
    if driver_pid in _started:
        return
    _started.add(driver_pid)
    watcher = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), str(driver_pid)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    watcher.stdout.readline()  # "watching" (or nothing, if it could not start: Ray still runs)
    watcher.stdout.close()


if __name__ == "__main__":
    watch(int(sys.argv[1]))
