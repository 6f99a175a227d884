"""BN recalibration: re-estimating a depth's moving statistics from training images."""

import keras
import numpy as np


def _batch_norms(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


def _reestimate(layers, run, dataset, num_batches):
    """Replaces the moving statistics of ``layers`` by their average over ``num_batches`` of ``dataset``.

    ``run(images)`` runs the network in training mode. Eager on purpose: the
    momentum changes every batch so that the moving statistics end as the
    plain average of the batch statistics.
    """
    if num_batches < 1:
        raise ValueError(f"num_batches must be at least 1, got {num_batches}.")
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.moving_mean.assign(np.zeros(layer.moving_mean.shape, "float32"))
        layer.moving_variance.assign(np.ones(layer.moving_variance.shape, "float32"))
    images_seen = 0
    try:
        for step, batch in enumerate(dataset.take(num_batches)):
            images = batch[0] if isinstance(batch, (tuple, list)) else batch
            for layer in layers:
                layer.momentum = step / (step + 1)
            run(images)
            images_seen += int(images.shape[0])
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    if images_seen == 0:
        raise ValueError("The recalibration dataset is empty.")
    return images_seen


def recalibrate_bn(model, dataset, depth=None, num_batches=20):
    """Re-estimates the BN moving statistics of a private- or path-BN DDNN, one depth or every depth.

    The moving averages kept during training blend what a BN layer saw over
    the last steps. As once-for-all and US-Nets do before evaluating a
    sub-net, this resets the statistics of the BN layers a depth runs and
    replaces them with the plain average over ``num_batches`` training batches
    run through that depth. With ``bn="private"`` or ``"path"`` every BN that
    serves several depths sees the same input in each of them, so every depth
    keeps its own statistics.

    A shared-BN DDNN has one set of statistics for every depth: recalibrating
    one depth in place would break the others, so it is refused; use
    ``recalibrated_subnet`` instead.

    Args:
        model: a ``ddnn_tf.DDNN``; its variables are updated in place.
        dataset: batches of ``(images, labels)`` or images, from the training set.
        depth: the depth to recalibrate, or None for every depth.
        num_batches: how many batches to average over.

    Returns:
        The number of images the statistics were estimated from (per depth).
    """
    if model.bn == "shared" and len(model.depths) > 1:
        raise ValueError(
            "With bn='shared' one set of BN statistics serves every depth: recalibrating one in place breaks "
            "the others. Use ddnn_tf.recalibrated_subnet(model, dataset, depth), which returns that depth as "
            "its own keras.Model with its own statistics."
        )
    depths = model.depths if depth is None else (model.check_depth(depth),)
    images_seen = 0
    for current in depths:
        images_seen = _reestimate(
            _batch_norms(model.subnet(current)),
            lambda images, current=current: model(images, depth=current, training=True),
            dataset, num_batches,
        )
    return images_seen


def recalibrated_subnet(model, dataset, depth, num_batches=20):
    """One depth as its own ``keras.Model``, with BN statistics re-estimated for that depth alone.

    The returned model has copies of the depth's weights; ``model`` is left
    as it was, so every other depth keeps working. This is how to use one
    depth of a shared-BN DDNN (for a private-BN DDNN it works too).

    Example:
    >>> resnet20 = ddnn_tf.recalibrated_subnet(model, train_ds, depth=20)
    >>> resnet20.predict(images)
    """
    source = model.subnet(model.check_depth(depth))
    copy = keras.models.clone_model(source)
    copy.set_weights(source.get_weights())
    _reestimate(_batch_norms(copy), lambda images: copy(images, training=True), dataset, num_batches)
    return copy
