"""Runs a multi-worker training on this machine: one process per worker, TF_CONFIG set for each.

    python -m ddnn_tf.launch_local --workers 2 -- --config configs/mnist_resnet34.py \\
        --workdir runs/two_workers --config.strategy=multi_worker

Every worker gets the same training flags and a ``TF_CONFIG`` naming all
workers on 127.0.0.1 (free ports picked here) and its own index; worker 0 is
the chief. Each worker's output goes to ``<workdir>/worker_<i>.log``. Exits
with the first non-zero status of any worker (0 when all succeed); if one
worker fails, the others are stopped. For several machines see
docs/distributed.md.
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from absl import flags

from ddnn_tf import cli, errors, files

_WORKERS = flags.DEFINE_integer("workers", 2, "Worker processes to start.")
_TIMEOUT = flags.DEFINE_float("timeout_s", 0, "Stop every worker after this many seconds (0: no limit).")


def free_ports(count):
    """Ports nobody listens on now, on 127.0.0.1."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def cluster_configs(count, ports=None):
    """The ``TF_CONFIG`` of each of ``count`` local workers."""
    ports = ports or free_ports(count)
    workers = [f"127.0.0.1:{port}" for port in ports]
    return [json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}) for i in range(count)]


def workdir_of(train_args):
    for i, arg in enumerate(train_args):
        if arg.startswith("--workdir="):
            return Path(arg.split("=", 1)[1])
        if arg == "--workdir" and i + 1 < len(train_args):
            return Path(train_args[i + 1])
    raise errors.UsageError("pass the run's --workdir after --: every worker's log goes there")


def main(argv):
    train_args = argv[1:]
    if _WORKERS.value < 1:
        raise errors.UsageError(f"--workers must be at least 1, got {_WORKERS.value}")
    logs = files.writable_dir(workdir_of(train_args), "workdir")
    processes = []
    for index, tf_config in enumerate(cluster_configs(_WORKERS.value)):
        log = (logs / f"worker_{index}.log").open("w")
        env = {**os.environ, "TF_CONFIG": tf_config}
        processes.append(subprocess.Popen([sys.executable, "-m", "ddnn_tf.train", *train_args], env=env,
                                          stdout=log, stderr=subprocess.STDOUT))
    start = time.monotonic()
    status = 0
    while any(p.poll() is None for p in processes):
        time.sleep(0.5)
        failed = [p.returncode for p in processes if p.returncode not in (None, 0)]
        late = _TIMEOUT.value and time.monotonic() - start > _TIMEOUT.value
        if failed or late:
            status = failed[0] if failed else 124
            for p in processes:
                if p.poll() is None:
                    p.kill()
            break
    for index, p in enumerate(processes):
        p.wait()
        status = status or p.returncode
        print(f"worker {index}: exit status {p.returncode}, log {logs / f'worker_{index}.log'}")
    raise SystemExit(status)


if __name__ == "__main__":
    cli.run_cli(main)
