"""TFLite export on a tiny DDNN trained on real MNIST: every quantize mode, pixels in, bundles, all-or-nothing sets."""

import json
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from conftest import assert_matches_schema, error_lines, run_cli

import ddnn_tf
from ddnn_tf import files, runtime
from ddnn_tf.data import normalization, pipeline
from ddnn_tf.export import convert, writer
from ddnn_tf.run import Run
from ddnn_tf.runtime import timing

DEPTHS = (20, 32)


@pytest.fixture(scope="module")
def trained(ekd_run):
    run = Run.open(ekd_run)
    return files.load_model(run.model_file()), run


def _export(trained, out, quantize, bundle=False, max_drop=100.0):
    model, run = trained
    options = writer.Options(quantize, calibration_steps=64, eval_examples=200, max_drop=max_drop, bundle=bundle)
    return writer.export_depths(run, model, list(DEPTHS), out, options)


@pytest.mark.slow
@pytest.mark.parametrize("quantize", runtime.QUANTIZE_MODES)
def test_every_quantize_mode_exports_and_validates(trained, tmp_path, quantize):
    rows = _export(trained, tmp_path, quantize)
    assert [row["depth"] for row in rows] == list(DEPTHS)
    for row in rows:
        path = tmp_path / row["file"]
        meta = json.loads(path.with_suffix(".json").read_text())
        assert_matches_schema("export_metadata", meta)
        assert meta["file_bytes"] == path.stat().st_size
        assert meta["sha256"] == __import__("hashlib").sha256(path.read_bytes()).hexdigest()
        assert meta["examples"] == 200 and meta["agreement"] > 0.9
        assert meta["blocks_per_stage"] == list(trained[0].backbone.block_counts[meta["depth"]])
        assert set(meta) >= {"label_names", "input", "output", "multiply_accumulates", "parameters",
                             "keras_accuracy", "tflite_accuracy", "tensorflow", "ddnn_tf"}
        assert meta["input"] == {"dtype": "uint8", "scale": 0.0, "zero_point": 0}, "every file takes pixels"
        if quantize == "float32":
            assert meta["max_relative_difference"] <= 1e-4
    sizes = [row["file_bytes"] for row in rows]
    assert sizes[0] < sizes[1], "the shallower depth's file holds fewer weights"


@pytest.mark.slow
def test_int8_file_takes_uint8_pixels_and_is_int8_inside_without_flex_ops(trained, tmp_path):
    rows = _export(trained, tmp_path, "int8")
    flatbuffer = (tmp_path / rows[0]["file"]).read_bytes()
    interpreter = Interpreter(model_content=flatbuffer)
    assert interpreter.get_input_details()[0]["dtype"] == np.uint8
    assert interpreter.get_input_details()[0]["quantization"] == (0.0, 0), "raw pixels, not quantized values"
    assert interpreter.get_output_details()[0]["dtype"] == np.int8
    ops = runtime.op_names(flatbuffer)
    # The pixels are cast once, quantized, then normalised in int8 by one depthwise convolution, not MUL ops.
    assert {"CAST", "QUANTIZE", "DEPTHWISE_CONV_2D", "CONV_2D"} <= set(ops) and "MUL" not in ops
    assert not [op for op in ops if "Flex" in op or "DELEGATE" in op]
    meta = json.loads((tmp_path / rows[0]["file"]).with_suffix(".json").read_text())
    assert meta["output"]["dtype"] == "int8" and meta["output"]["scale"] > 0


@pytest.mark.slow
def test_a_file_normalises_pixels_as_training_did(trained, tmp_path):
    """The float32 file on raw pixels gives the Keras model's logits, which normalise the pixels as training did."""
    model, run = trained
    _, held_out, _ = run.datasets()
    pixels, _ = pipeline.take_examples(held_out, 50)
    assert pixels.min() >= 0 and pixels.max() > 200 and np.array_equal(pixels, np.round(pixels))
    # Training's arithmetic, by hand: the backbone on the pipeline's formula, to the bit.
    images = normalization.normalize(pixels, np.float32(run.data["mean"]), np.float32(run.data["std"]))
    reference = model.backbone(images, depth=20, training=False).numpy()
    np.testing.assert_array_equal(model(pixels, depth=20, training=False).numpy(), reference)
    # The Keras model the file is converted from takes the bytes of the image.
    on_pixels = model.subnet(20)(pixels.astype(np.uint8), training=False).numpy()
    np.testing.assert_array_equal(on_pixels, reference)
    runner = runtime.Runner(convert.convert_depth(model, 20, "float32", []))
    logits = np.stack([runner(image) for image in pixels.astype(np.uint8)])
    assert np.max(np.abs(logits - reference)) <= 1e-4 * np.max(np.abs(reference))
    with pytest.raises(ValueError, match="whole numbers from 0 to 255"):
        runner.prepare(images[0])  # a normalised image where pixels belong


@pytest.mark.slow
def test_a_file_without_pixel_input_is_timed_but_never_fed_pixels(trained, tmp_path):
    model, run = trained
    old = convert.convert_model(model.backbone.subnet(20, batch_size=1), "float32", [])  # normalised input, as before 0.2
    runner = runtime.Runner(old)
    assert not runner.takes_pixels
    with pytest.raises(ValueError, match="not uint8 pixels"):
        runner.prepare(np.zeros((32, 32, 3), np.uint8))
    _, figures = timing.time_file(old, None, threads=1, runs=3, warmup=1)
    assert figures["io_ms"] is None and len(figures["timings_ms"]) == 3 and figures["median_ms"] > 0
    path = tmp_path / "old.tflite"
    path.write_bytes(old)
    path.with_suffix(".json").write_text(json.dumps({"data": run.config["data"], "seed": run.seed}))
    result = run_cli("ddnn_tf.benchmark", path, "--accuracy", "--runs=2", f"--out={tmp_path / 'out'}")
    assert result.returncode == 2 and "takes float32 input, not uint8 pixels" in error_lines(result)[0]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("bn,quantize", [("shared", "float32"), ("shared", "int8"), ("private", "float32")])
def test_bundle_has_a_signature_per_depth_matching_the_single_files(trained, tmp_path, bn, quantize):
    model, run = trained
    if bn == "shared":  # the trained run uses private BN; sharing needs no training to show
        model = ddnn_tf.build_ddnn("resnet32", 10, (32, 32, 3), depths=DEPTHS, bn="shared",
                                   pixel_mean=run.data["mean"], pixel_std=run.data["std"])
    assert model.bn == bn
    rows = _export((model, run), tmp_path, quantize, bundle=True)
    bundle = tmp_path / f"resnet32_bundle_{quantize}.tflite"
    flatbuffer = bundle.read_bytes()
    assert set(Interpreter(model_content=flatbuffer).get_signature_list()) == {"depth_20", "depth_32"}
    meta = json.loads(bundle.with_suffix(".json").read_text())
    assert_matches_schema("export_metadata", meta)
    tolerance = 1e-4 if quantize == "float32" else 0.5
    for signature in ("depth_20", "depth_32"):
        assert meta["signatures"][signature]["single_file_max_difference"] <= tolerance
    separate = sum(row["file_bytes"] for row in rows if "keras_accuracy" in row)
    assert meta["separate_files_bytes"] == separate and meta["bn"] == bn
    if bn == "shared":
        # Each weight is stored once: the bundle is about the size of the deepest file alone.
        assert meta["file_bytes"] < 1.1 * rows[1]["file_bytes"]
    else:
        # Private BN folds a different BN into each depth's convs: little can be shared.
        assert meta["file_bytes"] > 0.8 * separate


@pytest.mark.slow
def test_the_gate_that_keeps_a_file_reads_validation_images_and_the_test_images_only_score_it(trained, tmp_path):
    model, run = trained
    (row,) = writer.export_depths(run, model, [20], tmp_path, writer.Options("int8", calibration_steps=64,
                                                                                eval_examples=150, max_drop=100.0))
    meta = json.loads((tmp_path / row["file"]).with_suffix(".json").read_text())
    assert_matches_schema("export_metadata", meta)
    tflite = runtime.Runner((tmp_path / row["file"]).read_bytes())

    def accuracy(role):
        held_out = run.datasets(role=role)[1]
        images, labels = pipeline.take_examples(held_out, 150)
        return float(np.mean([tflite(image).argmax() for image in images.astype(np.uint8)] == labels))

    assert meta["gate"]["images"] == "validation" and meta["gate"]["examples"] == 150
    assert meta["gate"]["tflite_accuracy"] == accuracy("validation")
    assert meta["tflite_accuracy"] == accuracy("eval"), "the reported accuracy is the test images'"


@pytest.mark.slow
def test_quantized_file_over_the_drop_limit_is_not_written(trained, tmp_path):
    # A limit no file can meet (the CLI refuses a negative --max_drop; the library takes it).
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(writer.ValidationError, match="more than --max_drop -101"):
        _export(trained, out, "int8", max_drop=-101.0)
    assert not list(out.iterdir())


def test_a_killed_export_leaves_none_of_its_set(tmp_path, monkeypatch):
    files = {"a.tflite": b"\x01" * 100, "a.json": {"depth": 8}, "b.tflite": b"\x02" * 100}
    write_bytes = Path.write_bytes

    def killed_after_the_first_file(self, data):
        if any(tmp_path.rglob("*.tflite")):
            raise KeyboardInterrupt  # what SIGINT does mid-export
        return write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", killed_after_the_first_file)
    with pytest.raises(KeyboardInterrupt):
        writer.publish(tmp_path, files)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    writer.publish(tmp_path, files)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.tflite", "b.tflite", writer.MANIFEST]
    manifest = json.loads((tmp_path / writer.MANIFEST).read_text())
    assert set(manifest["files"]) == set(files)
    # A second export into the folder keeps the entries of the files it did not replace.
    writer.publish(tmp_path, {"c.tflite": b"depth 34", "a.json": {"depth": 18, "again": True}})
    listed = json.loads((tmp_path / writer.MANIFEST).read_text())["files"]
    assert set(listed) == {"a.json", "a.tflite", "b.tflite", "c.tflite"}
    assert listed["a.json"] != manifest["files"]["a.json"] and listed["b.tflite"] == manifest["files"]["b.tflite"]
    (tmp_path / "b.tflite").unlink()  # a file that went is no longer listed
    (tmp_path / "a.tflite").write_bytes(b"changed by hand")  # nor one that changed
    writer.publish(tmp_path, {"d.tflite": b"x"})
    assert set(json.loads((tmp_path / writer.MANIFEST).read_text())["files"]) == {"a.json", "c.tflite", "d.tflite"}
