"""Multi-worker training for real: two workers on loopback, chief-only files, the same result as one process."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, run_cli

from ddnn_tf import files, launch_local
from ddnn_tf.config import base_config
from ddnn_tf.training import distributed

TINY = ["--config.model.width=0.125", "--config.data.train_examples=256", "--config.data.eval_examples=256",
        "--config.data.validation_examples=256", "--config.data.batch_size=64", "--config.epochs=2", "--config.seed=5"]


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("two_workers") / "run"
    result = run_cli("ddnn_tf.launch_local", "--workers=2", "--timeout_s=600", "--", f"--workdir={workdir}",
                     "--config.strategy=multi_worker", *TINY, timeout=700)
    assert result.returncode == 0, result.stdout + result.stderr + (workdir / "worker_1.log").read_text()
    return workdir


def _worker_pids(workdir):
    """{worker index: pid} of the training processes of ``workdir``, read from their TF_CONFIG."""
    pids = {}
    for line in subprocess.run(["pgrep", "-f", f"ddnn_tf.train.*{workdir}"], capture_output=True, text=True).stdout.split():
        environ = Path(f"/proc/{line}/environ").read_bytes().split(b"\0")
        tf_config = next((v[len(b"TF_CONFIG="):] for v in environ if v.startswith(b"TF_CONFIG=")), None)
        if tf_config:
            pids[json.loads(tf_config)["task"]["index"]] = int(line)
    return pids


@pytest.mark.slow
def test_two_workers_finish_and_only_the_chief_writes(two_workers):
    files = sorted(str(p.relative_to(two_workers)) for p in two_workers.rglob("*") if p.is_file())
    events = [f for f in files if "tfevents" in f]
    assert len(events) == 2, events  # one train and one validation file: the chief's alone
    assert not [f for f in files if "worker_1_tmp" in f or f.startswith(".worker")]
    with open(two_workers / "log.csv") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["0", "1"]
    assert json.loads((two_workers / "checkpoints" / "state.json").read_text())["epoch"] == 2
    # Metrics are reduced over the workers: both logs end with the same numbers
    # (all but each worker's own clock, train_seconds).
    last = [(two_workers / f"worker_{i}.log").read_text().split("Epoch 2/2")[-1].splitlines()[1] for i in (0, 1)]
    metrics = [[m for m in line.split("step - ")[1].split(" - ") if not m.startswith("train_seconds")] for line in last]
    assert metrics[0] == metrics[1] and len(metrics[0]) > 5


@pytest.mark.slow
def test_two_workers_match_one_process_with_two_replicas(two_workers, tmp_path):
    # Data sharding of MNIST hands worker i the i-th half of every global batch, as
    # MirroredStrategy hands it to replica i: the runs see the same examples per
    # replica, so the weights agree to float tolerance (all-reduce order aside).
    result = run_cli("ddnn_tf.train", f"--workdir={tmp_path}", "--config.strategy=mirrored",
                     "--config.cpu_replicas=2", *TINY)
    assert result.returncode == 0, result.stderr
    distributed = files.load_model(two_workers / "model.keras").get_weights()
    single = files.load_model(tmp_path / "model.keras").get_weights()
    for a, b in zip(distributed, single):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_a_killed_worker_loses_at_most_the_epoch_in_progress(tmp_path):
    workdir = tmp_path / "run"
    command = [sys.executable, "-m", "ddnn_tf.launch_local", "--workers=2", "--timeout_s=600", "--",
               f"--workdir={workdir}", "--config.strategy=multi_worker", *TINY[:-2], "--config.epochs=3",
               "--config.data.train_examples=1024"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
    launcher = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    state = workdir / "checkpoints" / "state.json"
    deadline = time.monotonic() + 500
    while not (state.exists() and json.loads(state.read_text())["epoch"] >= 1):
        assert launcher.poll() is None and time.monotonic() < deadline, launcher.communicate()[0]
        time.sleep(0.5)
    os.kill(_worker_pids(workdir)[1], signal.SIGKILL)  # worker 1 dies during epoch 2
    assert launcher.wait(timeout=120) != 0  # the launcher stops the chief too
    epoch_at_kill = json.loads(state.read_text())["epoch"]
    assert epoch_at_kill in (1, 2)

    result = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(state.read_text())["epoch"] == 3
    with open(workdir / "log.csv") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["0", "1", "2"]
    assert f"epochs {epoch_at_kill + 1}-3" in (workdir / "worker_0.log").read_text()
    files.load_model(workdir / "model.keras")


def test_tpu_strategy_connects_to_the_configured_tpu(monkeypatch):
    import tensorflow as tf

    calls = []
    resolver = object()
    monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver",
                        lambda tpu: calls.append(("resolve", tpu)) or resolver)
    monkeypatch.setattr(tf.config, "experimental_connect_to_cluster", lambda r: calls.append(("connect", r)))
    monkeypatch.setattr(tf.tpu.experimental, "initialize_tpu_system", lambda r: calls.append(("initialize", r)))
    monkeypatch.setattr(tf.distribute, "TPUStrategy", lambda r: calls.append(("strategy", r)) or "tpu strategy")
    config = base_config()
    config.strategy, config.tpu = "tpu", "grpc://10.1.2.3:8470"
    assert distributed.make_strategy(config) == "tpu strategy"
    assert calls == [("resolve", "grpc://10.1.2.3:8470"), ("connect", resolver), ("initialize", resolver),
                     ("strategy", resolver)]


def test_a_worker_waits_for_its_peers_then_goes_on():
    configs = [json.loads(c) for c in launch_local.cluster_configs(2)]
    errors = []

    def worker(config):
        try:
            distributed.wait_for_peers(config, timeout_s=20)
        except Exception as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(config,)) for config in configs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and not any(thread.is_alive() for thread in threads)


@pytest.mark.slow
def test_a_worker_stays_reachable_until_a_slow_peer_has_reached_it():
    """Worker 1 reaches worker 0 at once; worker 0 (played here by hand) reaches back a second later."""
    configs = [json.loads(c) for c in launch_local.cluster_configs(2)]
    own, peer = configs[0]["cluster"]["worker"]
    finished = []
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", int(own.rsplit(":", 1)[1])))
        listener.listen(1)
        thread = threading.Thread(target=lambda: finished.append(distributed.wait_for_peers(configs[1], timeout_s=10)))
        thread.start()
        listener.accept()[0].close()  # worker 1 got through to us
    time.sleep(1.0)
    with socket.create_connection(tuple(peer.rsplit(":", 1)), timeout=2) as connection:  # still listening
        connection.sendall(own.encode() + b"\n")
    thread.join(5)
    assert finished == [None] and not thread.is_alive()
