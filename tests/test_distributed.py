"""Multi-worker training for real: two workers on loopback, chief-only files, the same result as one process."""

import csv
import json

import numpy as np
import pytest

from conftest import run_cli

from ddnn_tf import io, launch_local, training

TINY = ["--config.model.width=0.125", "--config.data.train_examples=256", "--config.data.eval_examples=256",
        "--config.data.batch_size=64", "--config.epochs=2", "--config.seed=5"]


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("two_workers") / "run"
    result = run_cli("ddnn_tf.launch_local", "--workers=2", "--timeout_s=600", "--", f"--workdir={workdir}",
                     "--config.strategy=multi_worker", *TINY, timeout=700)
    assert result.returncode == 0, result.stdout + result.stderr + (workdir / "worker_1.log").read_text()
    return workdir


def test_two_workers_finish_and_only_the_chief_writes(two_workers):
    files = sorted(str(p.relative_to(two_workers)) for p in two_workers.rglob("*") if p.is_file())
    events = [f for f in files if "tfevents" in f]
    assert len(events) == 2, events  # one train and one validation file: the chief's alone
    assert not [f for f in files if "worker_1_tmp" in f or f.startswith(".worker")]
    with open(two_workers / "log.csv") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["0", "1"]
    assert json.loads((two_workers / "checkpoints" / "state.json").read_text())["epoch"] == 2
    # Metrics are reduced over the workers: both logs end with the same numbers.
    last = [(two_workers / f"worker_{i}.log").read_text().split("Epoch 2/2")[-1].splitlines()[1] for i in (0, 1)]
    assert last[0].split("step - ")[1] == last[1].split("step - ")[1]


def test_two_workers_match_one_process_with_two_replicas(two_workers, tmp_path):
    # Data sharding of MNIST hands worker i the i-th half of every global batch, as
    # MirroredStrategy hands it to replica i: the runs see the same examples per
    # replica, so the weights agree to float tolerance (all-reduce order aside).
    result = run_cli("ddnn_tf.train", f"--workdir={tmp_path}", "--config.strategy=mirrored",
                     "--config.cpu_replicas=2", *TINY)
    assert result.returncode == 0, result.stderr
    distributed = io.load_model(two_workers / "model.keras").get_weights()
    single = io.load_model(tmp_path / "model.keras").get_weights()
    for a, b in zip(distributed, single):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_local_cluster_configs_name_every_worker_and_its_index():
    configs = [json.loads(c) for c in launch_local.cluster_configs(3, ports=[1001, 1002, 1003])]
    assert [c["task"] for c in configs] == [{"type": "worker", "index": i} for i in range(3)]
    assert all(c["cluster"] == {"worker": ["127.0.0.1:1001", "127.0.0.1:1002", "127.0.0.1:1003"]} for c in configs)
    for config in configs:
        training.check_cluster(json.dumps(config))
