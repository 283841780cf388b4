"""A multi-node Ray cluster on this one machine, from the real processes: a head
(`ray start --head`) and worker nodes (`ray start --address ...`), each with its own temp
dir, its own ports and its own CPUs, all on 127.0.0.1, with token authentication on as
Ray 2.60 starts it, and an MLflow server beside it. Used by tests/test_cluster.py and by
benchmarks/cluster_overhead.py.

Why each node has its own temp dir: it is what separate machines have. Two raylets that
share one (Ray's default, /tmp/ray) share one runtime-env cache, and one node's clean-up
removes the job's unpacked working directory from under the driver on the other.
Why every port is chosen here: a second Ray instance on the host (another test's
`ray.init()`) would take Ray's default ports, e.g. the dashboard agent's, and job submission
then answers "No available agent to submit job".

A node is stopped by killing its own processes (found by its temp dir), never by `ray stop`,
which would stop every Ray instance on the host.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from pipeline.tracking import mlflow_api as tracking

HOST = "127.0.0.1"
BIN = Path(sys.executable).parent


def _free_ports(n: int) -> list[int]:
    """n distinct ports that are free now (held open together so none is handed out twice)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _port_block(size: int) -> tuple[int, int]:
    """A run of `size` consecutive free ports for a node's workers."""
    for _ in range(50):
        start = secrets.randbelow(20000) + 30000
        try:
            socks = []
            for p in range(start, start + size):
                s = socket.socket()
                socks.append(s)
                s.bind((HOST, p))
            return start, start + size - 1
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no block of free ports for Ray's workers")


@dataclass
class Node:
    name: str
    temp_dir: Path
    cpus: int
    head: bool

    def processes(self) -> list[psutil.Process]:
        """Every process of this node: those whose command line names its temp dir (raylet, GCS,
        dashboard, agents, log monitor) and their descendants (the workers)."""
        roots = []
        for p in psutil.process_iter(["cmdline"]):
            with contextlib.suppress(psutil.Error):
                if str(self.temp_dir) in " ".join(p.info["cmdline"] or []):
                    roots.append(p)
        found = {p.pid: p for p in roots}
        for p in roots:
            with contextlib.suppress(psutil.Error):
                found.update({c.pid: c for c in p.children(recursive=True)})
        return list(found.values())

    def kill(self) -> int:
        """SIGKILL every process of the node, as a machine that loses power: nothing says goodbye."""
        procs = self.processes()
        for p in procs:
            with contextlib.suppress(psutil.Error):
                p.send_signal(signal.SIGKILL)
        psutil.wait_procs(procs, timeout=10)
        return len(procs)


@dataclass
class LocalCluster:
    """`with LocalCluster(workers=[1]) as c:` a head of 1 CPU and one worker node of 1 CPU."""

    head_cpus: int = 1
    workers: list[int] = field(default_factory=lambda: [1])
    mlflow_store: Path | None = None  # where the cluster's MLflow server keeps its runs
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pmc", dir="/tmp")))

    def __post_init__(self):
        # Short paths: Ray's unix sockets live under the temp dir, and a socket path has 107 bytes.
        self.token = secrets.token_hex(32)
        self.gcs_port, self.dashboard_port, self.mlflow_port = _free_ports(3)
        self.nodes: list[Node] = []
        self._server: subprocess.Popen | None = None

    # ---------------------------------------------------------------- addresses and environment

    @property
    def address(self) -> str:
        return f"{HOST}:{self.gcs_port}"

    @property
    def dashboard(self) -> str:
        return f"http://{HOST}:{self.dashboard_port}"

    @property
    def tracking_uri(self) -> str:
        return f"http://{HOST}:{self.mlflow_port}"

    def env(self, **extra: str) -> dict[str, str]:
        """What a user's shell needs to talk to this cluster (and what its nodes run with)."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI", "RAY_AUTH_TOKEN_PATH")}
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.token, PATH=f"{BIN}{os.pathsep}{env['PATH']}",
                   RAY_USAGE_STATS_ENABLED="0", **extra)
        return env

    # ---------------------------------------------------------------- life cycle

    def _ports(self) -> list[str]:
        agent, grpc, runtime_env, metrics, node_manager, object_manager = _free_ports(6)
        low, high = _port_block(40)
        return [f"--dashboard-agent-listen-port={agent}", f"--dashboard-agent-grpc-port={grpc}",
                f"--runtime-env-agent-port={runtime_env}", f"--metrics-export-port={metrics}",
                f"--node-manager-port={node_manager}", f"--object-manager-port={object_manager}",
                f"--min-worker-port={low}", f"--max-worker-port={high}"]

    def _start_node(self, name: str, cpus: int, head: bool, tries: int = 3) -> Node:
        """`ray start` for one node. Ports are chosen free and then bound by Ray: another process on
        the host (a test's `ray.init()`) can take one in between, so a failed start is retried on
        new ports after the node's leftovers are killed."""
        node = Node(name, self.root / name, cpus, head)
        self.nodes.append(node)
        for attempt in range(tries):
            node.temp_dir.mkdir(parents=True, exist_ok=True)
            cmd = [str(BIN / "ray"), "start", f"--node-ip-address={HOST}", f"--num-cpus={cpus}", "--num-gpus=0",
                   f"--temp-dir={node.temp_dir}", "--disable-usage-stats", *self._ports()]
            if head:
                if attempt:
                    self.gcs_port, self.dashboard_port = _free_ports(2)
                (client_port,) = _free_ports(1)
                cmd += ["--head", f"--port={self.gcs_port}", "--include-dashboard=true", f"--dashboard-host={HOST}",
                        f"--dashboard-port={self.dashboard_port}", f"--ray-client-server-port={client_port}"]
            else:
                cmd += [f"--address={self.address}"]
            done = subprocess.run(cmd, env=self.env(), capture_output=True, text=True, timeout=180)
            if done.returncode == 0:
                return node
            node.kill()
            shutil.rmtree(node.temp_dir, ignore_errors=True)
        raise RuntimeError(f"`{' '.join(cmd)}` failed {tries} times; the last:\n{done.stdout[-3000:]}\n"
                           f"{done.stderr[-3000:]}")

    def add_node(self, cpus: int = 1) -> Node:
        return self._start_node(f"node{len(self.nodes)}", cpus, head=False)

    def start(self) -> "LocalCluster":
        try:
            self._start_node("head", self.head_cpus, head=True)
            for cpus in self.workers:
                self.add_node(cpus)
            self.wait_for_nodes(1 + len(self.workers))
            if self.mlflow_store is not None:
                self.mlflow_store.mkdir(parents=True, exist_ok=True)
                self._server = subprocess.Popen(
                    tracking.server_command(self.mlflow_store, HOST, self.mlflow_port),
                    env={**self.env(), **tracking.SERVER_ENV}, stdout=subprocess.DEVNULL,
                    stderr=open(self.root / "mlflow.log", "w"), start_new_session=True)
                deadline = time.monotonic() + 120
                while not tracking.answers(self.tracking_uri):
                    if self._server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"the cluster's MLflow server did not start: {self.root / 'mlflow.log'}")
                    time.sleep(0.5)
        except BaseException:
            self.stop()
            raise
        return self

    def alive_nodes(self) -> int:
        out = subprocess.run([str(BIN / "python"), "-c",
                              "import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
                              "print(sum(1 for n in ray.nodes() if n['Alive']))", self.address],
                             env=self.env(), capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-3000:])
        return int(out.stdout.strip().splitlines()[-1])

    def wait_for_nodes(self, n: int, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while (alive := self.alive_nodes()) != n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{alive} of {n} Ray nodes are up after {timeout_s:.0f} s")
            time.sleep(1)

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._server.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._server.wait(timeout=20)
        for node in reversed(self.nodes):
            node.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
