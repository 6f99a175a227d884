"""The DDNN backbone: sub-nets of one weight set, BN modes, gradients, serialisation, bad arguments."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import (
    TINY_DEPTHS,
    build_tiny,
    trainable_parameters,
    variables_of_blocks_beyond,
)

import ddnn_tf
from ddnn_tf.models.backbones import options


@pytest.mark.parametrize("bn", options.BN_MODES)
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
    assert trainable_parameters(model.subnet(8)) < trainable_parameters(model.subnet(14))


def test_private_bn_shares_the_common_prefix_only():
    model = build_tiny(bn="private")
    names = {layer.name for layer in model.subnet(8).layers}
    # Block 1 of stage 1 sees the same input in every depth: one BN.
    assert "stage1_block1_bn1" in names
    # Block 1 of stage 2 follows a different number of blocks per depth.
    assert "stage2_block1_bn1_depth8" in names
    assert "stage2_block1_bn1_depth14" in {layer.name for layer in model.subnet(14).layers}
    shared = build_tiny(bn="shared")
    assert trainable_parameters(model.subnet(8)) == trainable_parameters(shared.subnet(8))


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
    merged = sum(trainable_parameters(private.backbone._layer_table[f"stage1_block2_bn{unit}_depth14"]) for unit in (1, 2))
    assert merged == 2 * 2 * path.backbone._widths[0]
    assert trainable_parameters(private) - trainable_parameters(path) == merged


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


@pytest.mark.parametrize("bn", options.BN_MODES)
def test_subnet_matches_dynamic_call(bn, mnist_batch):
    model = build_tiny(bn=bn)
    images = mnist_batch[0]
    for depth in model.depths:
        np.testing.assert_allclose(
            model.subnet(depth)(images), model(images, depth=depth, training=False), rtol=1e-5, atol=1e-5
        )
    np.testing.assert_allclose(model(images), model(images, depth=model.full_depth), rtol=1e-6)


def test_private_heads_give_each_depth_its_own_classifier_and_the_standard_network(mnist_batch):
    shared, private = build_tiny(), build_tiny(heads="private")
    heads = sorted(layer.name for layer in private.backbone._layer_table.values() if "classifier" in layer.name)
    assert heads == ["classifier", "classifier_depth14", "classifier_depth8"]
    for depth in private.depths:
        subnet = private.subnet(depth)
        assert [layer.name for layer in subnet.layers if isinstance(layer, keras.layers.Dense)] == [
            "classifier" if depth == private.full_depth else f"classifier_depth{depth}"]
        # One head per standalone network: the same parameters and multiply-accumulates as with a shared head.
        assert private.parameter_count(depth) == shared.parameter_count(depth)
        assert private.multiply_accumulates(depth) == shared.multiply_accumulates(depth)
        np.testing.assert_allclose(subnet(mnist_batch[0]), private(mnist_batch[0], depth=depth), rtol=1e-5, atol=1e-5)


def test_a_sub_net_s_losses_move_the_full_net_s_head_only_with_shared_heads(mnist_batch):
    images, labels = mnist_batch
    for heads, moved in (("shared", True), ("private", False)):
        model = build_tiny(heads=heads)
        head = model.backbone._layer_table["classifier"].kernel
        with tf.GradientTape() as tape:
            logits = model(images, depth=8, training=True)
            loss = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        gradient = tape.gradient(loss, head)
        assert (gradient is not None) == moved


def test_private_heads_leave_every_other_initial_weight_as_shared_heads_draw_it():
    def weights(**options):
        keras.utils.set_random_seed(3)
        # Paths without the model's own name, which Keras makes unique per instance.
        return {w.path.split("/", 1)[1]: np.asarray(w) for w in build_tiny(**options).weights}

    shared, private = weights(), weights(heads="private")
    assert set(shared) < set(private)
    for path, value in shared.items():
        np.testing.assert_array_equal(private[path], value, err_msg=path)


def test_subnet_loss_gives_no_gradient_to_skipped_blocks(mnist_batch):
    model = build_tiny()
    images, labels = mnist_batch
    skipped = variables_of_blocks_beyond(model, TINY_DEPTHS[8])
    assert skipped
    with tf.GradientTape() as tape:
        logits = model(images, depth=8, training=True)
        loss = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    gradients = tape.gradient(loss, skipped)
    assert all(g is None for g in gradients)


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


@pytest.mark.parametrize("bn", options.BN_MODES)
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
        bn="private", heads="private", temperature=3.0, teacher="ensemble", label_smoothing=0.1, width=0.5,
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
                             "zero_init_residual", "bn_momentum", "heads"} and "kd_weight" not in backbone


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
        ({"heads": "per_stage"}, "unknown heads 'per_stage'; valid choices: shared, private"),
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
