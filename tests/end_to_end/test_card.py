"""The design card's path: the default run holds ResNet-18, and `export_tflite --depth 18` needs no other flag."""

import json

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from conftest import run_cli

from ddnn_tf import cli
from ddnn_tf.run import Run


def test_card_export_command_writes_a_validated_resnet18_after_the_default_run(tmp_path):
    # The default config, shrunk to seconds; trained where the CLIs look by default.
    workdir = tmp_path / cli.DEFAULT_WORKDIR
    result = run_cli("ddnn_tf.train", f"--workdir={workdir}", "--config.model.width=0.25",
                     "--config.data.train_examples=2048", "--config.data.eval_examples=500",
                     "--config.data.validation_examples=500", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert Run(workdir).config["model"]["arch"] == "resnet34"

    result = run_cli("ddnn_tf.export_tflite", "--depth", "18", cwd=tmp_path)  # the card's command, as written
    assert result.returncode == 0, result.stderr
    exported = workdir / "export" / "resnet34_depth18_int8.tflite"
    meta = json.loads(exported.with_suffix(".json").read_text())
    assert (meta["arch"], meta["depth"], meta["quantize"]) == ("resnet34", 18, "int8")
    assert meta["blocks_per_stage"] == [2, 2, 2, 2]
    assert meta["tflite_accuracy"] > 0.5 and meta["keras_accuracy"] - meta["tflite_accuracy"] <= 0.01

    interpreter = Interpreter(model_path=str(exported))
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    assert list(detail["shape"]) == [1, 32, 32, 3] and detail["dtype"] == np.uint8  # pixels in
    interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], np.uint8))
    interpreter.invoke()
    assert interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).shape == (1, 10)
