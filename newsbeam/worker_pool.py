"""Beam's SDK worker pool as a process of its own, for ``--environment_type EXTERNAL``.

``python -m apache_beam.runners.worker.worker_pool_main --service_port P`` starts a Python
SDK worker process for every worker a runner asks for (Flink: one per slot with
``--sdk_worker_parallelism``; Prism: one per job), with ``python`` from ``PATH``.
``SdkWorkerPool`` starts it with this interpreter's folder first on ``PATH`` (so the
workers import this environment's newsbeam), in a session of its own, so ``kill`` takes
the pool and every worker it started; ``start`` again reuses the port. ``make bench``
uses it for Flink replay at parallelism 2 (with ``LOOPBACK`` every slot shares the
launching process), the reliability suite to kill SDK workers apart from the job.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["SdkWorkerPool"]


class SdkWorkerPool:
    """``address`` (``localhost:PORT``) goes to ``--environment_config``."""

    def __init__(self, log: str | os.PathLike | None = None, start_timeout: float = 60.0) -> None:
        with socket.socket() as probe:
            probe.bind(("localhost", 0))
            self.port = probe.getsockname()[1]
        self._log, self._timeout = log, start_timeout
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"localhost:{self.port}"

    def __enter__(self) -> SdkWorkerPool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    def start(self) -> None:
        env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}"
                                     f"{os.environ.get('PATH', '')}"}
        output = Path(self._log).open("ab") if self._log else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
                 "--service_port", str(self.port)], env=env, stdout=output,
                stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            if output is not subprocess.DEVNULL:
                output.close()
        deadline = time.monotonic() + self._timeout
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("localhost", self.port), 1):
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                code = self.process.poll()
                self.kill()
                raise RuntimeError(f"Beam's SDK worker pool did not start (exit {code})")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL the pool and every SDK worker it started."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None
