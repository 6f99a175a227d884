"""The DDNN: architectures, parameter counts, sub-nets, gradients, serialisation."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import TINY_DEPTHS, build_tiny, ekd_terms

import ddnn_tf
from ddnn_tf.models import architectures


def _trainable_parameters(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


# torchvision.models.resnet{18,34,50,101,152}(): sum of p.numel() over parameters().
TORCHVISION_PARAMETERS = {
    18: 11_689_512,
    34: 21_797_672,
    50: 25_557_032,
    101: 44_549_160,
    152: 60_192_808,
}


@pytest.mark.parametrize("arch,depths", [("resnet34", (18, 34)), ("resnet152", (50, 101, 152))])
def test_imagenet_parameter_counts_equal_torchvision(arch, depths):
    # Shared BN: only then does the whole model hold exactly the full net's parameters.
    model = ddnn_tf.build_ddnn(arch, 1000, (224, 224, 3), bn="shared")
    assert model.depths == depths
    assert model.backbone.stem == "imagenet"
    for depth in depths:
        assert _trainable_parameters(model.subnet(depth)) == TORCHVISION_PARAMETERS[depth]
        assert model.parameter_count(depth) == TORCHVISION_PARAMETERS[depth]
    assert _trainable_parameters(model) == TORCHVISION_PARAMETERS[model.full_depth]


def test_resnet101_holds_resnet50():
    assert architectures.standard_subdepths("resnet101") == (50, 101)


def test_cifar_parameter_counts_match_he_et_al():
    # He et al. 2016, table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M.
    model = ddnn_tf.build_ddnn("resnet110", 10, (32, 32, 3))
    assert model.depths == (20, 32, 44, 56, 110)
    assert model.backbone.stem == "cifar"
    counts = {depth: _trainable_parameters(model.subnet(depth)) for depth in model.depths}
    expected = {20: 0.27e6, 32: 0.46e6, 44: 0.66e6, 56: 0.85e6, 110: 1.7e6}
    for depth, millions in expected.items():
        assert abs(counts[depth] - millions) <= 0.005e6 if depth < 110 else 0.05e6, (depth, counts)


@pytest.mark.parametrize("bn", ddnn_tf.models.architectures.BN_MODES)
def test_subnet_variables_are_a_subset_and_calls_create_none(bn, mnist_batch):
    model = build_tiny(bn=bn)
    full_ids = {id(v) for v in model.weights}
    count = len(model.weights)
    for depth in model.depths:
        subnet = model.subnet(depth)
        assert {id(v) for v in subnet.weights} <= full_ids
        model(mnist_batch[0], depth=depth, training=True)
    assert len(model.weights) == count
    # Sub-nets are standard ResNets whatever the BN mode: 8 and 14 layers deep.
    assert _trainable_parameters(model.subnet(8)) < _trainable_parameters(model.subnet(14))


def test_private_bn_shares_the_common_prefix_only():
    model = build_tiny(bn="private")
    names = {layer.name for layer in model.subnet(8).layers}
    # Block 1 of stage 1 sees the same input in every depth: one BN.
    assert "stage1_block1_bn1" in names
    # Block 1 of stage 2 follows a different number of blocks per depth.
    assert "stage2_block1_bn1_depth8" in names
    assert "stage2_block1_bn1_depth14" in {layer.name for layer in model.subnet(14).layers}
    shared = build_tiny(bn="shared")
    assert _trainable_parameters(model.subnet(8)) == _trainable_parameters(shared.subnet(8))


def test_path_bn_is_one_bn_where_depths_share_the_input_and_private_elsewhere():
    path, private, shared = (build_tiny(bn=bn) for bn in ("path", "private", "shared"))
    names = {depth: {layer.name for layer in path.subnet(depth).layers} for depth in path.depths}
    # Stage 1 block 2: depths 14 and 20 both ran stage 1 block 1 alone before it.
    assert "stage1_block2_bn1_depths14_20" in names[14] & names[20]
    # Stage 2 block 1: one, two or three blocks of stage 1 before it.
    assert [f"stage2_block1_bn1_depth{d}" in names[d] for d in path.depths] == [True] * 3
    # Every depth is a standard ResNet; the DDNN holds one BN copy fewer than
    # private BN in stage 1 block 2, and the same as private BN elsewhere.
    for depth in path.depths:
        assert path.parameter_count(depth) == shared.parameter_count(depth)
    merged = sum(_trainable_parameters(private.backbone._layer_table[f"stage1_block2_bn{unit}_depth14"]) for unit in (1, 2))
    assert merged == 2 * 2 * path.backbone._widths[0]
    assert _trainable_parameters(private) - _trainable_parameters(path) == merged


def test_path_bn_round_trips_through_a_keras_file(tmp_path, mnist_batch):
    model = build_tiny(bn="path")
    rng = np.random.default_rng(0)
    for variable in model.weights:  # every BN copy different, so a mix-up on loading shows
        variable.assign(np.abs(rng.normal(size=variable.shape)).astype("float32") * 0.1 + 0.5)
    model.save(tmp_path / "path.keras")
    loaded = keras.models.load_model(tmp_path / "path.keras")
    assert loaded.bn == "path"
    for depth in model.depths:
        np.testing.assert_array_equal(loaded(mnist_batch[0], depth=depth, training=False),
                                      model(mnist_batch[0], depth=depth, training=False))


@pytest.mark.parametrize("bn", ddnn_tf.models.architectures.BN_MODES)
def test_subnet_matches_dynamic_call(bn, mnist_batch):
    model = build_tiny(bn=bn)
    images = mnist_batch[0]
    for depth in model.depths:
        np.testing.assert_allclose(
            model.subnet(depth)(images), model(images, depth=depth, training=False), rtol=1e-5, atol=1e-5
        )
    np.testing.assert_allclose(model(images), model(images, depth=model.full_depth), rtol=1e-6)


def _variables_of_blocks_beyond(model, counts):
    """Variables of the blocks a sub-net with ``counts`` skips."""
    skipped = tuple(
        f"stage{stage + 1}_block{block + 1}_"
        for stage, (kept, full) in enumerate(zip(counts, model.backbone.block_counts[model.full_depth]))
        for block in range(kept, full)
    )
    return [v for v in model.trainable_variables if v.path.split("/")[-2].startswith(skipped)]


def test_subnet_loss_gives_no_gradient_to_skipped_blocks(mnist_batch):
    model = build_tiny()
    images, labels = mnist_batch
    skipped = _variables_of_blocks_beyond(model, TINY_DEPTHS[8])
    assert skipped
    with tf.GradientTape() as tape:
        logits = model(images, depth=8, training=True)
        loss = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    gradients = tape.gradient(loss, skipped)
    assert all(g is None for g in gradients)


@pytest.mark.parametrize("detach", [True, False])
def test_detached_teacher_gets_no_distillation_gradient(detach, mnist_batch):
    model = build_tiny(detach_teacher=detach)
    images, labels = mnist_batch
    teacher_only = _variables_of_blocks_beyond(model, TINY_DEPTHS[14])
    with tf.GradientTape() as tape:
        terms = ekd_terms(model, model.run_depths(images, model.depths, training=True), labels)
        distillation = sum(terms[f"{kind}_{depth}"] for kind in ("kd", "at") for depth in TINY_DEPTHS)
    gradients = tape.gradient(distillation, teacher_only)
    if detach:
        assert all(g is None for g in gradients)
    else:
        assert any(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in gradients)


@pytest.mark.parametrize("bn, stage1_block2_calls", [("shared", 1), ("path", 1), ("private", 2)])
def test_blocks_reached_by_one_path_are_computed_once_per_step(bn, stage1_block2_calls, mnist_batch):
    model = build_tiny(bn=bn)
    calls = []
    names = ("stem_conv", "stage1_block1_conv1", "stage1_block2_conv1", "stage1_block3_conv1", "stage2_block1_conv1")
    for name in names:
        layer = model.backbone._layer_table[name]
        original = layer.call
        layer.call = lambda *args, _name=name, _call=original, **kwargs: (calls.append(_name), _call(*args, **kwargs))[1]
    model.run_depths(mnist_batch[0], model.depths, training=True)
    # The stem and stage 1 block 1 are shared by all three depths; block 2 by
    # depths 14 and 20 (same path: once, unless private BN gives each its own
    # BN); block 3 is run by the full net alone; stage 2 block 1 follows one,
    # two or three blocks, so is run once per depth in every mode.
    assert [calls.count(name) for name in names] == [1, 1, stage1_block2_calls, 1, 3]


def test_last_stage_attention_uses_only_the_last_stage(mnist_batch):
    images, labels = mnist_batch
    every = build_tiny(attention="zscored_sum")
    last = build_tiny(attention="zscored_sum", attention_stages="last")
    last.set_weights(every.get_weights())
    outputs = every.run_depths(images, every.depths, training=True)
    expected = ddnn_tf.distill.losses.attention_loss(outputs[8][1][-1], outputs[20][1][-1], "zscored_sum")
    np.testing.assert_allclose(float(ekd_terms(last, outputs, labels)["at_8"]), float(expected), rtol=1e-6)
    assert float(ekd_terms(every, outputs, labels)["at_8"]) > float(expected)


def test_ensemble_teacher_distils_every_depth(mnist_batch):
    model = build_tiny(teacher="ensemble")
    terms = ekd_terms(model, model.run_depths(mnist_batch[0], model.depths, training=True), mnist_batch[1])
    assert {f"kd_{depth}" for depth in model.depths} <= set(terms)
    assert f"at_{model.full_depth}" not in terms


def test_ekd_total_is_the_weighted_sum_of_its_terms(mnist_batch):
    model = build_tiny(kd_weight=0.5, at_weight=7.0)
    terms = ekd_terms(model, model.run_depths(mnist_batch[0], model.depths, training=True), mnist_batch[1])
    expected = sum(terms[f"ce_{d}"] for d in model.depths)
    expected += sum(0.5 * terms[f"kd_{d}"] + 7.0 * terms[f"at_{d}"] for d in TINY_DEPTHS)
    np.testing.assert_allclose(float(terms["loss"]), float(expected), rtol=1e-6)


def _cifar_parameters(widths, blocks, classes=10, in_channels=3):
    """Trainable parameters of a CIFAR ResNet (zero-pad shortcuts), counted by hand."""
    total = 9 * in_channels * widths[0] + 2 * widths[0]  # stem conv and BN
    channels = widths[0]
    for width, count in zip(widths, blocks):
        for block in range(count):
            total += 9 * channels * width + 9 * width * width + 4 * width  # two convs, two BNs
            channels = width
    return total + channels * classes + classes


@pytest.mark.parametrize("width,widths", [(0.25, (4, 8, 16)), (0.5, (8, 16, 32)), (1.0, (16, 32, 64))])
def test_width_multiplier_and_small_depths_have_exact_parameter_counts(width, widths):
    model = ddnn_tf.build_ddnn("resnet20", 10, (32, 32, 3), depths=(8, 14), width=width)
    assert model.depths == (8, 14, 20)
    for depth, n in ((8, 1), (14, 2), (20, 3)):
        assert model.parameter_count(depth) == _cifar_parameters(widths, (n, n, n)), depth
    assert model.parameter_count(20) == {0.25: 17_326, 0.5: 68_050, 1.0: 269_722}[width]
    # ResNet-8 and -14 exist as plain archs too, for independent training.
    assert ddnn_tf.build_ddnn("resnet8", 10, (32, 32, 3), width=width).parameter_count() == _cifar_parameters(widths, (1, 1, 1))
    # They are held only when asked for: an arch's default depths stay the published ones.
    assert ddnn_tf.build_ddnn("resnet56", 10, (32, 32, 3)).depths == (20, 32, 44, 56)


@pytest.mark.parametrize("bn", ddnn_tf.models.architectures.BN_MODES)
def test_zero_init_residual_makes_every_depth_the_same_function(bn, mnist_batch):
    images = mnist_batch[0]
    model = build_tiny(bn=bn, zero_init_residual=True)
    for training in (False, True):
        outputs = model.run_depths(images, model.depths, training=training)
        for depth in model.depths:
            np.testing.assert_allclose(outputs[depth][0], outputs[model.full_depth][0], rtol=1e-5, atol=1e-6)
    plain = build_tiny(bn=bn).run_depths(images, model.depths, training=False)
    assert not np.allclose(plain[8][0], plain[20][0], atol=1e-3)


def test_get_config_round_trips():
    model = build_tiny(
        bn="private", temperature=3.0, teacher="ensemble", label_smoothing=0.1, width=0.5,
        zero_init_residual=True, attention="zscored_sum", attention_stages="last",
        distill_warmup_steps=7, distill_ramp_steps=3,
    )
    config = model.get_config()
    clone = ddnn_tf.DDNN.from_config(config)
    assert clone.get_config() == config
    assert clone.depths == model.depths and clone.objective == model.objective
    assert config["dtype"]["config"]["name"] == "float32", "the dtype policy is saved"
    backbone = model.backbone.get_config()
    assert set(backbone) >= {"arch", "num_classes", "input_shape", "depths", "stem", "bn", "width",
                             "zero_init_residual", "bn_momentum"} and "kd_weight" not in backbone


def test_a_ddnn_saved_by_version_0_2_fails_to_load_with_a_message_naming_it():
    old = {"name": "ddnn", "trainable": True, "arch": "resnet20", "num_classes": 10, "input_shape": [32, 32, 3],
           "depths": [[8, [1, 1, 1]], [20, [3, 3, 3]]], "kd_weight": 0.0}
    with pytest.raises(ValueError, match=r"saved by ddnn_tf 0.2 or earlier.*pip install ddnn_tf==0.2.0"):
        ddnn_tf.DDNN.from_config(old)


def test_compile_takes_the_optimizer_only_and_a_loaded_model_resumes_with_its_optimizer(tmp_path, mnist_batch):
    model = build_tiny()
    with pytest.raises(ValueError, match="computes its own loss and metrics from its objective"):
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9))
    model.fit(tf.data.Dataset.from_tensors(mnist_batch).repeat(2), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert int(loaded.optimizer.iterations) == 2
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(a, b)


def test_standard_depth_subset_and_custom_names():
    model = ddnn_tf.build_ddnn("resnet56", 10, (32, 32, 3), depths=(20,))
    assert model.depths == (20, 56)
    assert model.full_depth == 56


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"arch": "resnet35"}, "valid choices: resnet18, resnet34"),
        ({"arch": "resnet56", "depths": (18,)}, "valid choices: 8, 14, 20, 32, 44, 56"),
        ({"depths": {6: (0, 1, 1)}}, "each from 1 to (3, 3, 3)"),
        ({"depths": {9: (1, 1)}}, "needs 3 counts"),
        ({"depths": {9: (4, 1, 1)}}, "each from 1 to (3, 3, 3)"),
        ({"stem": "tiny"}, "valid choices: auto, imagenet, cifar"),
        ({"bn": "switchable"}, "valid choices: shared, private, path"),
        ({"teacher": "oracle"}, "valid choices: full, ensemble"),
        ({"attention": "cosine"}, "valid choices: squared_mean, zscored_sum"),
        ({"attention_stages": "first"}, "valid choices: all, last"),
        ({"width": 0}, "width must be a positive multiplier"),
        ({"distill_warmup_steps": -1}, "distill_warmup_steps must be at least 0, got -1"),
        ({"pixel_mean": (0.5,) * 3}, "pixel_mean and pixel_std go together"),
        ({"kd_weight": 1.0, "objective": ddnn_tf.Objective()}, "or an objective, not both"),
        ({"input_shape": (32, 32)}, "(height, width, channels)"),
    ],
)
def test_bad_construction_raises_a_clear_value_error(kwargs, message):
    arguments = {"arch": "resnet20", "num_classes": 10, "input_shape": (32, 32, 3), **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)):
        ddnn_tf.build_ddnn(**arguments)


def test_bad_calls_raise_a_clear_value_error(mnist_batch):
    model = build_tiny()
    with pytest.raises(ValueError, match=r"Depth 18 is not in this resnet20 DDNN; valid choices: 8, 14, 20"):
        model(mnist_batch[0], depth=18)
    with pytest.raises(ValueError, match="valid choices: 8, 14, 20"):
        model.subnet(34)
    with pytest.raises(ValueError, match=r"Expected images of shape \(batch, height, width, 3\)"):
        model(mnist_batch[0][0])


def test_pixel_normalization_is_the_pipeline_s_formula_and_round_trips_its_config():
    from ddnn_tf.data import normalization
    from ddnn_tf.models import PixelNormalization

    layer = PixelNormalization(mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 0.2))
    again = PixelNormalization.from_config(layer.get_config())
    pixels = np.random.default_rng(0).integers(0, 256, (2, 4, 4, 3)).astype(np.uint8)
    expected = normalization.normalize(pixels.astype(np.float32), np.float32([0.1, 0.2, 0.3]),
                                       np.float32([0.5, 0.25, 0.2]))
    for candidate in (layer, again):
        out = candidate(pixels)
        assert out.dtype == "float32"
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(out), expected)
