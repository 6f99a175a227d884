"""Quantization-aware training through tf_keras + tfmot, on a tiny DDNN trained on real MNIST.

tf_keras and tfmot live only in the worker subprocess; these tests check that
the rest of ddnn_tf never loads them, that the worker's tf_keras replica
computes what the Keras 3 sub-net computes, and that a short QAT gives a
valid int8 file through the export CLI."""

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from conftest import REPO, assert_matches_schema, error_lines, run_cli

import ddnn_tf
from ddnn_tf import errors, files, runtime
from ddnn_tf.data import normalization, pipeline
from ddnn_tf.export import convert, qat, writer
from ddnn_tf.run import Run

DEPTH = 20


KERAS_2_MODULES = ("tf_keras", "tensorflow_model_optimization")


# Skip only when not installed; an installed but broken tf_keras/tfmot fails the tests below.
requires_qat = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in KERAS_2_MODULES),
    reason=f"tf_keras and tensorflow-model-optimization are not installed ({qat.INSTALL_HINT})",
)


def _python(code, legacy_keras):
    """Runs Python code in a fresh process; ``legacy_keras`` sets TF_USE_LEGACY_KERAS=1 as the worker has it."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
    env.pop("TF_USE_LEGACY_KERAS", None)
    if legacy_keras:
        env["TF_USE_LEGACY_KERAS"] = "1"
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          timeout=300, cwd=REPO)


@pytest.fixture(scope="module")
def trained(ekd_run):
    run = Run.open(ekd_run)
    return files.load_model(run.model_file()), run


@pytest.fixture(scope="module")
def held_out(trained):
    _, run = trained
    _, eval_data, _ = run.datasets()
    images, labels = pipeline.take_examples(eval_data, 200)
    return images.astype(np.uint8), labels


def _randomize_batch_norms(model):
    """Moving statistics and affine terms far from 0 and 1, so that a swapped or missing one shows."""
    rng = np.random.default_rng(0)
    for variable in model.variables:
        leaf = variable.path.split("/")[-1]
        if leaf in ("gamma", "moving_variance"):
            variable.assign(rng.uniform(0.5, 2.0, variable.shape).astype("float32"))
        elif leaf in ("beta", "moving_mean"):
            variable.assign(rng.normal(0.0, 0.5, variable.shape).astype("float32"))


def test_importing_ddnn_tf_loads_neither_tf_keras_nor_tfmot():
    result = _python(f"""
        import json, os, sys
        import ddnn_tf, ddnn_tf.export.convert, ddnn_tf.export_tflite, ddnn_tf.export.qat
        loaded = sorted(name for name in sys.modules if name.split(".")[0] in {KERAS_2_MODULES!r})
        print(json.dumps({{"loaded": loaded, "legacy": os.environ.get("TF_USE_LEGACY_KERAS")}}))
    """, legacy_keras=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {"loaded": [], "legacy": None}


@pytest.mark.parametrize("prefer,ptq,qat_accuracy,kept", [
    ("better", 0.90, 0.91, "qat"), ("better", 0.91, 0.90, "ptq"), ("better", 0.90, 0.90, "ptq"),
    ("ptq", 0.80, 0.95, "ptq"), ("qat", 0.95, 0.80, "qat"),
])
def test_choose_keeps_the_more_accurate_file_unless_told(prefer, ptq, qat_accuracy, kept):
    assert writer.choose(prefer, ptq, qat_accuracy) == kept


def test_options_reject_bad_values():
    for bad in ({"epochs": 0}, {"epochs": 1, "examples": 0}, {"epochs": 1, "learning_rate": 0.0},
                {"epochs": 1, "prefer": "best"}):
        with pytest.raises(errors.UsageError):
            qat.Options(**bad)


def test_missing_tfmot_is_a_usage_error_naming_the_install(monkeypatch):
    monkeypatch.setattr(qat, "REQUIRED_MODULES", ("tf_keras", "tensorflow_model_optimization_absent"))
    with pytest.raises(errors.UsageError, match=r"tensorflow_model_optimization_absent.*pip install 'ddnn_tf\[qat\]'"):
        qat.check_request("int8", bundle=False)


@pytest.mark.slow
def test_the_int8_file_is_chosen_on_validation_images_and_scored_on_test_images(trained, tmp_path, monkeypatch):
    """A file chosen by its test accuracy would report a test accuracy biased upward: the choice sees validation
    images only. The depth-32 int8 file stands in for the QAT file (this test is about the choice, not QAT)."""
    model, run = trained
    train_data, test_data, _ = run.datasets()
    _, validation_data, _ = run.datasets(role="validation")
    calibration = pipeline.take_examples(train_data, 32)[0].astype(np.uint8)
    stand_in = convert.convert_depth(model, 32, "int8", calibration)
    handed = {}

    def quantization_aware_int8(*args, check_images, check_logits, **kwargs):
        handed["check_images"] = check_images
        return stand_in, {"steps": 0}

    chosen = []
    real_choose = writer.choose
    monkeypatch.setattr(qat, "check_installed", lambda: None)  # the stand-in needs neither tf_keras nor tfmot
    monkeypatch.setattr(qat, "quantization_aware_int8", quantization_aware_int8)
    monkeypatch.setattr(writer, "choose", lambda *args: chosen.append(args) or real_choose(*args))
    # prefer="ptq": the written file is the PTQ one, so both files' accuracies can be measured here.
    options = writer.Options("int8", calibration_steps=32, eval_examples=200, max_drop=100.0,
                             qat=qat.Options(1, examples=16, prefer="ptq", without_attention=True))
    (row,) = writer.export_depths(run, model, [DEPTH], tmp_path, options)
    meta = json.loads((tmp_path / row["file"]).with_suffix(".json").read_text())
    assert_matches_schema("export_metadata", meta)

    def accuracy(flatbuffer, data):
        images, labels = pipeline.take_examples(data, 200)
        tflite = runtime.Runner(flatbuffer)
        return float(np.mean([tflite(image).argmax() for image in images.astype(np.uint8)] == labels))

    written = (tmp_path / row["file"]).read_bytes()
    validation_accuracies = (accuracy(written, validation_data), accuracy(stand_in, validation_data))
    assert chosen == [("ptq", *validation_accuracies)], "the choice is made on the validation images"
    validation_images = pipeline.take_examples(validation_data, 200)[0].astype(np.uint8)
    np.testing.assert_array_equal(handed["check_images"], validation_images[:qat.CHECK_IMAGES])
    assert meta["qat"]["chosen_on"] == {"images": "validation", "examples": 200,
                                        "ptq_int8_accuracy": validation_accuracies[0],
                                        "qat_int8_accuracy": validation_accuracies[1]}
    # What the metadata reports is the test images' score, of the kept file and of the other.
    assert meta["int8_method"] == "ptq" and meta["examples"] == 200
    assert meta["tflite_accuracy"] == meta["ptq_int8_accuracy"] == accuracy(written, test_data)
    assert meta["qat_int8_accuracy"] == accuracy(stand_in, test_data)


@pytest.mark.slow
@requires_qat
def test_tf_keras_replica_matches_the_keras_3_subnet_before_qat(trained, held_out, tmp_path):
    model, run = trained
    # The trained CIFAR-family run (zero-pad shortcuts, private BN), and an
    # ImageNet-stem ResNet-18 (max-pool, 1x1 shortcut convs with their own BN).
    imagenet = ddnn_tf.build_ddnn("resnet34", 10, (32, 32, 3), depths=(18, 34), stem="imagenet")
    _randomize_batch_norms(imagenet)
    mean, std = (np.asarray(run.data[key], np.float32) for key in ("mean", "std"))
    images = normalization.normalize(held_out[0][:64].astype(np.float32), mean, std)  # what the sub-nets take
    cases = {"cifar": model.backbone.subnet(DEPTH), "imagenet": imagenet.subnet(18)}
    for name, subnet in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        qat.write_subnet(folder, subnet, settings={})
        np.save(folder / "keras3_logits.npy", subnet.predict(images, verbose=0))
    np.save(tmp_path / "images.npy", images)

    result = _python(f"""
        import importlib.util, json, sys
        from pathlib import Path
        import numpy as np
        spec = importlib.util.spec_from_file_location("qat_worker", {str(qat.WORKER)!r})
        worker = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(worker)
        root = Path({str(tmp_path)!r})
        images = np.load(root / "images.npy")
        report = {{}}
        for name in {list(cases)!r}:
            folder = root / name
            replica = worker.build_replica(json.loads((folder / "spec.json").read_text()),
                                           np.load(folder / "weights.npz"))
            keras3_logits = np.load(folder / "keras3_logits.npy")
            np.save(folder / "replica_logits.npy", replica.predict(images, verbose=0))
            try:  # the worker's own guard must refuse logits 0.1% off
                worker.check_replica(replica, images, keras3_logits * 1.001, 1e-5)
                refused = False
            except worker.WorkerError:
                refused = True
            report[name] = {{"check": worker.check_replica(replica, images, keras3_logits, 1e-5),
                             "refused": refused, "module": type(replica).__module__,
                             "layers": sorted(layer.name for layer in replica.layers)}}
        print(json.dumps(report))
    """, legacy_keras=True)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.splitlines()[-1])
    for name, subnet in cases.items():
        keras3_logits = np.load(tmp_path / name / "keras3_logits.npy")
        replica_logits = np.load(tmp_path / name / "replica_logits.npy")
        assert np.max(np.abs(replica_logits - keras3_logits)) <= 1e-5 * np.max(np.abs(keras3_logits)), name
        assert report[name]["check"] <= 1e-5 and report[name]["refused"], name
        assert report[name]["module"].startswith("tf_keras"), name
        assert report[name]["layers"] == sorted(layer.name for layer in subnet.layers), name
    assert any("_bn1_depth20" in layer for layer in report["cifar"]["layers"])
    assert any(layer.endswith("_shortcut") for layer in report["cifar"]["layers"])
    assert "stem_pool" in report["imagenet"]["layers"]


@pytest.mark.slow
@requires_qat
def test_short_qat_through_the_cli_writes_a_valid_int8_file(ekd_run, trained, held_out, tmp_path):
    _, run = trained
    model = files.load_model(ekd_run / "model.keras")  # a copy: its BN statistics change here
    # The briefly trained run predicts one digit for nearly every image, which
    # would make agreement meaningless: re-estimate the BN statistics of every
    # depth (the full net teaches) first.
    train_data, _, _ = run.datasets()
    ddnn_tf.recalibrate_bn(model, train_data)
    images, labels = held_out
    keras_logits = model.subnet(DEPTH).predict(images, verbose=0)
    assert len(np.unique(keras_logits.argmax(-1))) >= 5
    workdir = tmp_path / "run"
    workdir.mkdir()
    files.save_model(model, workdir / "model.keras")
    files.write_json(Run(workdir).record_file, run.record)

    # A model this weak (about 50% accurate) changes its answers within a few
    # steps at any useful learning rate; a tiny one keeps the file comparable
    # with the float sub-net, so that agreement checks the fake-quant ranges,
    # the weights and the int8 conversion.
    result = run_cli(
        "ddnn_tf.export_tflite", f"--workdir={workdir}", f"--depth={DEPTH}", "--qat_epochs=1", "--qat_examples=128",
        "--qat_learning_rate=1e-6", "--prefer=qat", "--calibration_steps=32", "--eval_examples=200", "--max_drop=5",
        "--qat_without_attention", f"--out={tmp_path / 'out'}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    path = tmp_path / "out" / f"resnet32_depth{DEPTH}_int8.tflite"
    meta = json.loads(path.with_suffix(".json").read_text())
    assert_matches_schema("export_metadata", meta)
    assert meta["int8_method"] == "qat" and meta["tflite_accuracy"] == meta["qat_int8_accuracy"]
    assert 0 <= meta["ptq_int8_accuracy"] <= 1
    chosen_on = meta["qat"]["chosen_on"]
    assert chosen_on["images"] == "validation" and chosen_on["examples"] == 200
    assert (f"on 200 validation images post-training int8 {100 * chosen_on['ptq_int8_accuracy']:.2f}%, "
            f"quantization-aware int8 {100 * chosen_on['qat_int8_accuracy']:.2f}%; kept qat") in result.stdout
    report = meta["qat"]
    # The run's objective for depth 20 (configs/mnist_resnet56.py's ekd terms), attention dropped by the flag.
    assert report["objective"] == {"label_weight": 1.0, "label_smoothing": 0.0, "kd_weight": 1.0,
                                   "temperature": 2.0, "teacher": "full"}
    assert report["replica_max_relative_difference"] <= 1e-5
    assert report["examples"] == 128 and report["steps"] == 2 and np.isfinite(report["epoch_losses"]).all()
    assert report["activation_ranges"] > 0 and report["fake_quant_start_agreement"] > 0.9

    flatbuffer = path.read_bytes()
    assert meta["sha256"] == hashlib.sha256(flatbuffer).hexdigest()
    interpreter = Interpreter(model_content=flatbuffer)
    assert interpreter.get_input_details()[0]["dtype"] == np.uint8, "pixels in, as every exported file"
    assert list(interpreter.get_input_details()[0]["shape"]) == [1, 32, 32, 3]
    assert interpreter.get_output_details()[0]["dtype"] == np.int8
    ops = runtime.op_names(flatbuffer)
    assert "CONV_2D" in ops and not [op for op in ops if "Flex" in op or "DELEGATE" in op or op == "DEQUANTIZE"]
    validation = runtime.validate(runtime.Runner(flatbuffer), keras_logits, labels, images)
    writer._check(validation, "int8", 5.0, "QAT file")  # raises when it lost more than 5 points
    assert validation["agreement"] >= 0.8
    assert validation["tflite_accuracy"] == pytest.approx(meta["tflite_accuracy"])


@pytest.mark.slow
def test_qat_refuses_a_sub_net_of_an_attention_objective_unless_told(ekd_run, tmp_path):
    result = run_cli("ddnn_tf.export_tflite", f"--workdir={ekd_run}", "--depth=20", "--qat_epochs=1",
                     f"--out={tmp_path}")
    assert result.returncode == 2 and not list(tmp_path.iterdir())
    (line,) = error_lines(result)
    assert "attention transfer (at_weight 50)" in line and "--qat_without_attention" in line


def test_the_fine_tuning_terms_are_the_objectives_for_that_depth():
    paper = ddnn_tf.Objective(kd_weight=1.0, at_weight=50.0, temperature=3.0, label_smoothing=0.1,
                              subnet_label_weight=0.5)
    assert paper.single_depth(56, 56) == {"label_weight": 1.0, "label_smoothing": 0.1, "kd_weight": 0.0,
                                          "temperature": 3.0, "teacher": "full"}
    with pytest.raises(ValueError, match="at_weight 50"):
        paper.single_depth(20, 56)
    assert paper.without_attention().single_depth(20, 56)["label_weight"] == 0.5
    ensemble = ddnn_tf.Objective(kd_weight=2.0, teacher="ensemble")
    assert ensemble.single_depth(56, 56)["kd_weight"] == 2.0, "an ensemble teaches the full net too"


@pytest.mark.slow
def test_qat_with_bundle_is_a_usage_error(ekd_run, tmp_path):
    result = run_cli("ddnn_tf.export_tflite", f"--workdir={ekd_run}", "--depth=20", "--qat_epochs=1", "--bundle",
                     f"--out={tmp_path}")
    assert result.returncode == 2
    assert len(error_lines(result)) == 1 and "--bundle" in error_lines(result)[0]
