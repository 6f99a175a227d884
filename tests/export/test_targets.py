"""Export targets: named objects with their folder, output type and the test images they write."""

import json

import numpy as np
import pytest

from ddnn_tf import errors
from ddnn_tf.export import targets
from ddnn_tf.run import Run


def test_each_target_names_its_folder_and_a_bad_name_lists_them(tmp_path):
    assert Run(tmp_path).export_dir() == tmp_path / "export"
    assert Run(tmp_path).export_dir("web") == tmp_path / "export_web"
    assert targets.get("web").float_output and not targets.get("device").float_output
    with pytest.raises(errors.UsageError, match="^unknown target 'phone'; valid choices: device, web$"):
        Run(tmp_path).export_dir("phone")


def test_test_image_files_hold_the_pixels_and_labels_as_the_app_reads_them():
    pixels = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)
    written = targets.test_image_files(pixels, [7, 1], ["a"] * 8, "mnist", "test")
    description = json.loads(json.dumps(written["test_images.json"]))
    assert description == {"format": "ddnn_tf.test_images/1", "count": 2, "height": 3, "width": 4, "channels": 3,
                           "images": "test_images.bin", "labels": "test_labels.bin", "label_names": ["a"] * 8,
                           "dataset": "mnist", "split": "test"}
    np.testing.assert_array_equal(np.frombuffer(written["test_images.bin"], np.uint8).reshape(pixels.shape), pixels)
    assert np.frombuffer(written["test_labels.bin"], "<i4").tolist() == [7, 1]
