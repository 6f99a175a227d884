"""What every command shares: --config by name, one line per config problem, exit status 2."""

import pytest
from conftest import MNIST_CONFIG, REPO

from ddnn_tf import cli, config
from ddnn_tf.errors import UsageError


def test_a_shipped_config_s_name_becomes_its_path_in_either_flag_form():
    path = str(REPO / "configs" / "cifar10_resnet20.py")
    assert cli._config_by_name(["train", "--config=cifar10_resnet20", "--x=1"]) == ["train", f"--config={path}", "--x=1"]
    assert cli._config_by_name(["train", "--config", "cifar10_resnet20"]) == ["train", "--config", path]
    assert cli._config_by_name(["train", f"--config={MNIST_CONFIG}"]) == ["train", f"--config={MNIST_CONFIG}"]


def test_an_unknown_config_name_lists_the_shipped_ones():
    with pytest.raises(UsageError) as raised:
        cli._config_by_name(["train", "--config=cifar11"])
    assert str(raised.value) == ("no config file cifar11 and no shipped config of that name; shipped configs: "
                                 + ", ".join(config.shipped()))
    assert "mnist_resnet34" in config.shipped()


def test_each_config_problem_is_one_line_naming_the_file_or_the_key(tmp_path):
    argv = ["train", f"--config={MNIST_CONFIG}", "--config.model.arch=resnet20", "--config.model.widht=0.5"]
    assert cli._config_problem(KeyError("widht"), argv) == (
        "unknown config key model.widht; see the config file and ddnn_tf/config.py for the valid keys")
    missing = ["train", f"--config={tmp_path / 'none.py'}"]
    assert cli._config_problem(FileNotFoundError(2, "No such file"), missing) == (
        f"cannot read the config file {tmp_path / 'none.py'}: it does not exist or is unreadable")
    broken = SyntaxError("invalid syntax")
    broken.lineno = 3
    assert cli._config_problem(broken, ["train", "--config", "x.py"]) == "config file x.py has a syntax error at line 3"
    assert "defines no get_config()" in cli._config_problem(AttributeError("module has no attribute get_config"), argv)
    with pytest.raises(ZeroDivisionError):  # anything else is a bug, not bad input: it is raised as it is
        cli._config_problem(ZeroDivisionError("x"), argv)


def test_a_failure_is_one_error_line_on_stderr_and_exit_status_2(capsys):
    with pytest.raises(SystemExit) as exited:
        cli._fail("the depth 19 is not one of 18, 34")
    assert exited.value.code == 2
    assert capsys.readouterr() == ("", "error: the depth 19 is not one of 18, 34\n")
