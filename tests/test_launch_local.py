"""A local multi-worker cluster's configs."""

import json

from ddnn_tf import config as config_module
from ddnn_tf import launch_local


def test_local_cluster_configs_name_every_worker_and_its_index():
    configs = [json.loads(c) for c in launch_local.cluster_configs(3, ports=[1001, 1002, 1003])]
    assert [c["task"] for c in configs] == [{"type": "worker", "index": i} for i in range(3)]
    assert all(c["cluster"] == {"worker": ["127.0.0.1:1001", "127.0.0.1:1002", "127.0.0.1:1003"]} for c in configs)
    for config in configs:
        config_module.check_cluster(json.dumps(config))
