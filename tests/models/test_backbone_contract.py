"""The contract every backbone family passes (``ddnn_tf.models.backbones``), run once per family.

A new family is its file in ``ddnn_tf/models/backbones/``, its line in
``FAMILIES``, its public name, and a case in ``CASES`` below passing every
test here.
"""

import math
import re

import keras
import numpy as np
import pytest
from conftest import REPO

import ddnn_tf
from ddnn_tf.export import convert, qat, writer
from ddnn_tf.models import backbones, costs
from ddnn_tf.runtime.runner import Runner, validate


def _stock_resnet50_without_conv_biases():
    """keras.applications' ResNet50 less its conv biases (He et al.'s convs have none, the Keras port's do)."""
    stock = keras.applications.ResNet50(weights=None)
    biases = sum(layer.bias.shape[0] for layer in stock.layers
                 if isinstance(layer, keras.layers.Conv2D) and layer.use_bias)
    return stock.count_params() - biases


# Per family: a small DDNN the tests build quickly, and a full-size reference: the backbone at the
# published configuration, the stock Keras parameter count, and the published multiply-accumulates.
CASES = {
    "resnet": {
        "small": dict(arch="resnet20", input_shape=(16, 16, 3), depths={8: (1, 1, 1), 14: (2, 2, 2)}, width=0.5),
        "reference": dict(arch="resnet50", input_shape=(224, 224, 3), num_classes=1000),
        "stock_parameters": _stock_resnet50_without_conv_biases,
        "published_macs": 4.09e9,  # He et al. 2016, table 1: 3.8 GFLOPs counting multiply-adds once; torchvision 4.09
    },
    "mobilenet_v2": {
        "small": dict(arch="mobilenet_v2", input_shape=(32, 32, 3), width=0.35),
        "reference": dict(arch="mobilenet_v2", input_shape=(224, 224, 3), num_classes=1000),
        "stock_parameters": lambda: keras.applications.MobileNetV2(weights=None).count_params(),
        "published_macs": 300e6,  # Sandler et al. 2018, table 3: 300M multiply-adds
    },
}


def test_every_family_has_a_case():
    assert set(CASES) == set(backbones.FAMILIES)


def _build(family, num_classes=10, **changes):
    options = {**CASES[family]["small"], **changes}
    input_shape = options.pop("input_shape")
    keras.utils.set_random_seed(0)
    return backbones.build({"family": family, **options}, num_classes, input_shape)


@pytest.fixture(scope="module", params=sorted(CASES))
def family(request):
    return request.param


@pytest.fixture(scope="module")
def small(family):
    return _build(family)


def _images(backbone, count=4, seed=0):
    return np.random.default_rng(seed).normal(size=(count, *backbone.image_shape)).astype("float32")


def test_get_config_round_trip_rebuilds_the_same_network(small):
    clone = type(small).from_config(small.get_config())
    assert clone.get_config() == small.get_config()
    clone.set_weights(small.get_weights())
    images = _images(small)
    for depth in small.depths:
        np.testing.assert_array_equal(clone(images, depth=depth), small(images, depth=depth))


def test_config_model_keys_are_the_constructor_options(family, small):
    """``config.model`` is the options plus family: nothing restated, nothing missing."""
    assert set(small.options()) == set(small.option_names())
    rebuilt = backbones.build({"family": family, **small.options()}, small.num_classes, small.image_shape)
    assert rebuilt.get_config() == {**small.get_config(), "name": rebuilt.name}


def test_subnet_equals_the_dynamic_call_at_every_depth(small):
    images = _images(small)
    assert len(small.depths) >= 2
    for depth in small.depths:
        np.testing.assert_allclose(small.subnet(depth)(images), small(images, depth=depth), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bn,heads", [("shared", "shared"), ("private", "shared"), ("path", "private")])
def test_every_bn_mode_and_head_option_keeps_each_depth_the_standard_network(family, small, bn, heads):
    """The BN owners and heads change what the depths share, never one depth's own network."""
    other = _build(family, bn=bn, heads=heads)
    images = _images(other)
    for _ in range(2):  # moving statistics away from their initial values, each depth's as its owners hold them
        other.run_depths(images, other.depths, training=True)
    for depth in other.depths:
        assert other.parameter_count(depth) == small.parameter_count(depth)
        np.testing.assert_allclose(other.subnet(depth)(images), other(images, depth=depth), rtol=1e-5, atol=1e-5)


def test_run_depths_gives_each_depth_its_stage_outputs(small):
    outputs = small.run_depths(_images(small), small.depths, training=False)
    stages = {len(stage_outputs) for _, stage_outputs in outputs.values()}
    assert stages == {len(small.block_counts[small.full_depth])}
    for depth, (logits, _) in outputs.items():
        assert logits.shape == (4, small.num_classes)


def test_standalone_network_of_each_depth_has_that_depths_parameters(family, small):
    for depth in small.depths:
        alone = backbones.build({"family": family, **small.standalone_config(depth)}, small.num_classes,
                                small.image_shape)
        assert alone.depths == (depth,)
        assert alone.parameter_count() == small.parameter_count(depth)


def test_parameter_count_at_the_published_size_equals_stock_keras(family):
    reference = CASES[family]["reference"]
    backbone = backbones.build({"family": family, "arch": reference["arch"]}, reference["num_classes"],
                               reference["input_shape"])
    assert backbone.subnet(backbone.full_depth).count_params() == CASES[family]["stock_parameters"]()
    macs = costs.multiply_accumulates(backbone.subnet(backbone.full_depth))
    assert macs == pytest.approx(CASES[family]["published_macs"], rel=0.02)


def test_costs_count_every_layer_that_multiplies(small):
    """Every layer with a kernel is counted, and a conv-by-conv recount from the kernels gives the same total."""
    for depth in small.depths:
        subnet = small.subnet(depth)
        recount = 0
        for layer in subnet.layers:
            if getattr(layer, "kernel", None) is None:
                continue
            out = layer.output.shape
            recount += math.prod(layer.kernel.shape) * (out[1] * out[2] if len(out) == 4 else 1)
        assert costs.multiply_accumulates(subnet) == recount > 0


def test_costs_refuse_a_layer_they_cannot_count():
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, keras.layers.Conv1D(2, 1)(keras.layers.Reshape((16, 3))(inputs)))
    with pytest.raises(ValueError, match="cannot count layer .* a Conv1D"):
        costs.multiply_accumulates(model)


def test_qat_describes_every_layer_of_every_depth(small):
    for depth in small.depths:
        description = qat.describe_subnet(small.subnet(depth))
        assert {layer["class_name"] for layer in description["layers"]} <= set(qat.LAYER_CONFIG_KEYS)


def test_exports_validate_float32_exactly_and_int8_closely(family):
    backbone = _build(family)
    model = ddnn_tf.DDNN(backbone, pixel_mean=[0.5] * 3, pixel_std=[0.25] * 3)
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=(32, *backbone.image_shape), dtype=np.uint8)
    labels = rng.integers(0, backbone.num_classes, size=32)
    depth = backbone.depths[0]
    # BN statistics of these images, as training leaves them: an untrained net's unit statistics
    # would leave activations no int8 range fits.
    for _ in range(40):
        model.run_depths(pixels, backbone.depths, training=True)
    keras_logits = np.asarray(model.subnet(depth)(pixels))
    exact = validate(Runner(convert.convert_depth(model, depth, "float32", pixels)), keras_logits, labels, pixels)
    writer._check(exact, "float32", 0.0, f"depth {depth}")
    int8 = validate(Runner(convert.convert_depth(model, depth, "int8", pixels)), keras_logits, labels, pixels)
    assert int8["max_relative_difference"] < 0.25, int8


# ---------------------------------------------------- a family stays in its file

def test_the_mobilenet_family_lives_in_its_file_the_registry_and_the_public_names():
    """Nothing else in the package knows the family: adding one touched no other code."""
    allowed = {"ddnn_tf/models/backbones/mobilenet_v2.py", "ddnn_tf/models/backbones/__init__.py",
               "ddnn_tf/models/__init__.py", "ddnn_tf/__init__.py"}
    mentions = sorted(str(path.relative_to(REPO)) for path in (REPO / "ddnn_tf").rglob("*.py")
                      if re.search("mobilenet", path.read_text(), re.IGNORECASE))
    assert set(mentions) <= allowed, set(mentions) - allowed


# ------------------------------------------------ the ResNet family as it was

# Recorded by the code before the backbones became families (the same construction
# and training in ddnn_tf.models.backbone.DDNNBackbone): the same seed gives the
# same weights and the same training numbers.
BEFORE_THE_CONTRACT = {"weight_sum": 1282.6951325463842, "loss": [9.627079010009766, 6.994793891906738]}


def test_resnet_family_trains_as_before_the_contract():
    keras.utils.set_random_seed(0)
    model = ddnn_tf.build_ddnn("resnet20", 10, (16, 16, 3), depths=(8, 14), width=0.5, kd_weight=1.0, at_weight=50.0)
    weight_sum = sum(float(np.asarray(v).astype(np.float64).sum()) for v in model.weights)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    rng = np.random.default_rng(0)
    images = rng.normal(size=(32, 16, 16, 3)).astype("float32")
    labels = rng.integers(0, 10, size=(32,))
    history = model.fit(images, labels, batch_size=16, epochs=2, verbose=0, shuffle=False).history
    assert weight_sum == pytest.approx(BEFORE_THE_CONTRACT["weight_sum"], rel=1e-12)
    # Float32 kernels round differently between CPUs' instruction sets (7e-5 after two steps, AVX2 against
    # AVX-512); a changed architecture or initialisation moves the loss by far more.
    np.testing.assert_allclose(history["loss"], BEFORE_THE_CONTRACT["loss"], rtol=3e-4)
