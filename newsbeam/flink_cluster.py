"""A local Flink session cluster (a JobManager and TaskManagers as processes of their own),
so ``newsbeam run --runner FlinkRunner --flink_master HOST:PORT`` meets real Flink failover.

With ``--flink_master [local]`` Beam's job server runs the job in an embedded mini-cluster
that lives and dies with it, and Beam 2.62's job server applies ``--savepoint_path`` only
for a remote master, so neither a checkpoint restore after a TaskManager loss nor a
savepoint restore can be tried there. This starts Flink 1.19's own entry points
(``StandaloneSessionClusterEntrypoint``, ``TaskManagerRunner``, what ``bin/start-cluster.sh``
runs) from the jars of the job server ``newsbeam.flink`` assembled, with checkpoints and
savepoints on local disk, retained on cancellation, and a fixed-delay restart strategy.

``FlinkSessionCluster`` (a context manager) is what the reliability tests use;
``python -m newsbeam.flink_cluster [--taskmanagers N] [--dir DIR]`` runs one until Ctrl-C
and prints the ``--flink_master`` address. The SDK worker still runs in the launching
``newsbeam run`` process (``--environment_type LOOPBACK``), so that process must outlive
the job; for workers of their own use Beam's worker pool (``EXTERNAL``, deploy/README).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from newsbeam.flink import resolve_flink_job_server

__all__ = ["FlinkSessionCluster", "main"]

_log = logging.getLogger("newsbeam.flink_cluster")

_ENTRY = {"jobmanager": "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint",
          "taskmanager": "org.apache.flink.runtime.taskexecutor.TaskManagerRunner"}

# bin/taskmanager.sh derives these from taskmanager.memory.process.size (BashJavaUtils);
# started directly, a TaskManager needs every component spelled out (about 1.2 GiB).
_CONFIG = """\
jobmanager.rpc.address: localhost
jobmanager.rpc.port: {rpc_port}
jobmanager.bind-host: localhost
jobmanager.memory.process.size: 1024m
taskmanager.host: localhost
taskmanager.bind-host: localhost
taskmanager.numberOfTaskSlots: {slots}
taskmanager.cpu.cores: {slots}
taskmanager.memory.framework.heap.size: 128m
taskmanager.memory.framework.off-heap.size: 128m
taskmanager.memory.task.heap.size: 384m
taskmanager.memory.task.off-heap.size: 0m
taskmanager.memory.network.min: 64m
taskmanager.memory.network.max: 64m
taskmanager.memory.managed.size: 128m
taskmanager.memory.jvm-metaspace.size: 256m
taskmanager.memory.jvm-overhead.min: 192m
taskmanager.memory.jvm-overhead.max: 192m
rest.address: localhost
rest.bind-address: localhost
rest.port: {rest_port}
parallelism.default: {slots}
state.checkpoints.dir: file://{home}/checkpoints
state.savepoints.dir: file://{home}/savepoints
execution.checkpointing.externalized-checkpoint-retention: RETAIN_ON_CANCELLATION
restart-strategy.type: fixed-delay
restart-strategy.fixed-delay.attempts: 100
restart-strategy.fixed-delay.delay: 2 s
heartbeat.interval: 2000
heartbeat.timeout: 10000
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


class FlinkSessionCluster:
    """A JobManager and ``taskmanagers`` TaskManagers (``slots`` slots each) under ``home``
    (a temporary folder by default): config, logs, checkpoints, savepoints."""

    def __init__(self, home: str | os.PathLike | None = None, *, taskmanagers: int = 1,
                 slots: int = 2, job_server_jar: str | None = None,
                 start_timeout: float = 90.0) -> None:
        self._temporary = None if home else tempfile.TemporaryDirectory(prefix="newsbeam-flink-")
        self.home = Path(home or self._temporary.name).resolve()
        self._taskmanagers, self._slots, self._timeout = taskmanagers, slots, start_timeout
        jar = Path(resolve_flink_job_server(job_server_jar))
        self._classpath = str(jar.parent / "lib" / "*")
        self.rest_port = _free_port()
        self.processes: dict[str, subprocess.Popen] = {}
        self._serial = 0

    @property
    def master(self) -> str:
        """The ``--flink_master`` address (the REST endpoint)."""
        return f"localhost:{self.rest_port}"

    @property
    def checkpoints_dir(self) -> Path:
        return self.home / "checkpoints"

    @property
    def savepoints_dir(self) -> Path:
        return self.home / "savepoints"

    def __enter__(self) -> FlinkSessionCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        conf = self.home / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "flink-conf.yaml").write_text(_CONFIG.format(
            rpc_port=_free_port(), rest_port=self.rest_port, slots=self._slots,
            home=self.home))
        try:
            self._spawn("jobmanager")
            for _ in range(self._taskmanagers):
                self.start_taskmanager()
        except BaseException:
            self.stop()
            raise

    def _spawn(self, role: str) -> str:
        self._serial += 1
        name = f"{role}-{self._serial}"
        log = (self.home / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            ["java", "-Xmx512m" if role == "jobmanager" else "-Xmx640m", "-cp", self._classpath,
             _ENTRY[role], "--configDir", str(self.home / "conf"),
             # the JobManager lists a TaskManager under this id (REST /taskmanagers)
             *(["-D", f"taskmanager.resource-id={name}"] if role == "taskmanager" else [])],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        return name

    def start_taskmanager(self) -> str:
        """Start a TaskManager and wait until the JobManager lists it; its name.

        Waits for this TaskManager's own resource id, not for a count: after a kill the
        JobManager still counts the dead one until its heartbeat times out."""
        name = self._spawn("taskmanager")
        deadline = time.monotonic() + self._timeout
        while name not in self._registered():
            process = self.processes[name]
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Flink {name} did not register (exit {process.poll()}); "
                                   f"log: {self.home / (name + '.log')}")
            time.sleep(0.5)
        _log.info("flink taskmanager up", extra={"name": name, "master": self.master})
        return name

    def _registered(self) -> set[str]:
        """The resource ids of the TaskManagers the JobManager lists."""
        try:
            return {tm["id"] for tm in self.rest("/taskmanagers")["taskmanagers"]}
        except (OSError, ValueError, KeyError):
            if self.processes.get("jobmanager-1") and self.processes["jobmanager-1"].poll() is not None:
                raise RuntimeError(f"the Flink JobManager exited; log: "
                                   f"{self.home / 'jobmanager-1.log'}") from None
            return set()

    def kill(self, name: str) -> None:
        """SIGKILL one of ``processes`` (a TaskManager, say): no shutdown, no cleanup."""
        process = self.processes.pop(name)
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=30)

    def taskmanagers(self) -> list[str]:
        return [n for n, p in self.processes.items()
                if n.startswith("taskmanager") and p.poll() is None]

    def rest(self, path: str, body: dict | None = None) -> Any:
        """Flink's REST API (``/jobs``, ``/jobs/ID/checkpoints`` ...), parsed JSON."""
        request = urllib.request.Request(
            f"http://{self.master}{path}", headers={"Content-Type": "application/json"},
            data=None if body is None else json.dumps(body).encode())
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def running_job(self, timeout: float = 120.0) -> str:
        """The id of the one RUNNING job, once there is one."""
        deadline = time.monotonic() + timeout
        while True:
            with_status = self.rest("/jobs")["jobs"]
            running = [j["id"] for j in with_status if j["status"] == "RUNNING"]
            if running:
                return running[0]
            if time.monotonic() > deadline:
                raise RuntimeError(f"no running Flink job within {timeout:.0f} s: {with_status}")
            time.sleep(0.5)

    def checkpoints(self, job: str) -> dict:
        return self.rest(f"/jobs/{job}/checkpoints")

    def stop_with_savepoint(self, job: str, timeout: float = 120.0) -> str:
        """Flink's stop-with-savepoint (``flink stop``): the savepoint's path."""
        trigger = self.rest(f"/jobs/{job}/stop", {
            "targetDirectory": f"file://{self.savepoints_dir}", "drain": False})["request-id"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.rest(f"/jobs/{job}/savepoints/{trigger}")
            if status["status"]["id"] == "COMPLETED":
                operation = status.get("operation", {})
                if "location" not in operation:
                    raise RuntimeError(f"stop-with-savepoint failed: {operation}")
                return operation["location"]
            time.sleep(0.5)
        raise RuntimeError(f"stop-with-savepoint of {job} not done within {timeout:.0f} s")

    def stop(self) -> None:
        for name in list(self.processes):
            self.kill(name)
        if self._temporary is not None:
            self._temporary.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m newsbeam.flink_cluster",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--taskmanagers", type=int, default=1)
    parser.add_argument("--slots", type=int, default=2, help="task slots per TaskManager")
    parser.add_argument("--dir", help="config, logs, checkpoints and savepoints (default: "
                                      "a temporary folder, removed at exit)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    with FlinkSessionCluster(args.dir, taskmanagers=args.taskmanagers, slots=args.slots) as cluster:
        print(f"Flink session cluster up: --flink_master {cluster.master} "
              f"(web UI http://{cluster.master}; files in {cluster.home}); Ctrl-C stops it",
              flush=True)
        try:
            while all(p.poll() is None for p in cluster.processes.values()):
                time.sleep(1)
        except KeyboardInterrupt:
            return 0
    print("a Flink process exited; see its log", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
