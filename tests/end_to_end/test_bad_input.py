"""Every bad input to a CLI: one `error:` line naming the problem, exit status 2, nothing left on disk."""

import pytest
from conftest import file_tree, run_cli, tiny_run_flags

from ddnn_tf import train

TRAIN = ["ddnn_tf.train", *tiny_run_flags(), "--workdir={tmp}/w"]


CLUSTER = '{"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": %s}}'


# (command and flags, environment additions, what the one error line must say)
CASES = {
    "missing config file": (["ddnn_tf.train", "--config={tmp}/inputs/none.py", "--workdir={tmp}/w"], {},
                            "no config file {tmp}/inputs/none.py and no shipped config of that name; shipped "
                            "configs: cifar100_resnet34, cifar10_mobilenetv2, cifar10_resnet20,"),
    "config with a syntax error": (["ddnn_tf.train", "--config={tmp}/inputs/broken.py", "--workdir={tmp}/w"], {},
                                   "has a syntax error at line 1"),
    "config without get_config": (["ddnn_tf.train", "--config={tmp}/inputs/empty.py", "--workdir={tmp}/w"], {},
                                  "defines no get_config()"),
    "unknown nested key": ([*TRAIN, "--config.optimizer.lr=1"], {}, "unknown config key optimizer.lr"),
    "batch size 0": ([*TRAIN, "--config.data.batch_size=0"], {}, "data.batch_size must be at least 1, got 0"),
    "negative train_examples": ([*TRAIN, "--config.data.train_examples=-5"], {}, "data.train_examples must be 0"),
    "too many train_examples": ([*TRAIN, "--config.data.train_examples=9999999"], {},
                                "the mnist train split holds 50000 images"),
    "unknown bn": ([*TRAIN, "--config.model.bn=foo"], {}, "unknown model.bn 'foo'; valid choices: shared, private, path"),
    "unknown family": ([*TRAIN, "--config.model.family=foo"], {},
                       "unknown model.family 'foo'; valid choices: resnet, mobilenet_v2"),
    "another family's key": ([*TRAIN, "--config.model.family=mobilenet_v2", "--config.model.arch=mobilenet_v2"], {},
                             "model.zero_init_residual is not an option of the mobilenet_v2 family; its options: "
                             "family, arch, depths, stem, bn, width, bn_momentum, heads"),
    "unknown teacher": ([*TRAIN, "--config.ekd.teacher=foo"], {}, "valid choices: full, ensemble"),
    "negative temperature": ([*TRAIN, "--config.ekd.temperature=-1"], {}, "ekd.temperature must be above 0"),
    "warm-up as long as training": ([*TRAIN, "--config.epochs=1", "--config.optimizer.warmup_epochs=1"], {},
                                    "optimizer.warmup_epochs must be at least 0 and below epochs (1)"),
    "multi_worker without TF_CONFIG": ([*TRAIN, "--config.strategy=multi_worker"], {"TF_CONFIG": ""},
                                       "reads the cluster from TF_CONFIG, which is not set"),
    "malformed TF_CONFIG": ([*TRAIN, "--config.strategy=multi_worker"], {"TF_CONFIG": "{cluster"},
                            "TF_CONFIG is malformed"),
    "worker index out of range": ([*TRAIN, "--config.strategy=multi_worker"], {"TF_CONFIG": CLUSTER % 5},
                                  "task index 5 is out of range: the cluster has 2 worker entries"),
    "unreachable peer": ([*TRAIN, "--config.strategy=multi_worker", "--config.cluster_timeout_s=5"],
                         {"TF_CONFIG": CLUSTER % 0}, "the cluster did not come up within cluster_timeout_s=5 s"),
    "evaluate a mistyped workdir": (["ddnn_tf.evaluate", "--workdir={tmp}/w"], {}, "holds no run (no run.json)"),
    "export with no calibration": (["ddnn_tf.export_tflite", "--workdir={tmp}/w", "--calibration_steps=0"], {},
                                   "--calibration_steps must be at least 1"),
    "export with no validation": (["ddnn_tf.export_tflite", "--workdir={tmp}/w", "--eval_examples=0"], {},
                                  "--eval_examples must be at least 1"),
    "export with a negative drop": (["ddnn_tf.export_tflite", "--workdir={tmp}/w", "--max_drop=-1"], {},
                                    "--max_drop must be 0 or more"),
    "benchmark a missing file": (["ddnn_tf.benchmark", "{tmp}/w/none.tflite"], {}, "{tmp}/w/none.tflite does not exist"),
}


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "broken.py").write_text("def get_config(:\n    return 1 +\n")
    (folder / "empty.py").write_text('"""A config file that forgot get_config."""\n')
    return tmp_path


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(case, inputs):
    args, env, message = CASES[case]
    tmp = str(inputs)
    before = file_tree(inputs)
    result = run_cli(*(arg.replace("{tmp}", tmp) for arg in args), env=env)
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and message.replace("{tmp}", tmp) in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert file_tree(inputs) == before, "a bad input left something on disk"


def test_the_default_config_is_found_from_any_directory():
    assert train.DEFAULT_CONFIG.is_absolute() and train.DEFAULT_CONFIG.is_file()
