"""BN recalibration: re-estimating a depth's moving statistics from training images."""

import keras
import numpy as np


def _batch_norms(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


def _reestimate(passes, dataset, num_batches):
    """Replaces BN moving statistics by their plain average over ``num_batches`` of ``dataset``.

    ``passes`` holds ``(layers, run)`` pairs: ``run(images)`` runs a network
    in training mode, which updates ``layers``. Each batch goes through every
    pass; a layer several passes update (a shared BN) averages all of them.
    Eager on purpose: each layer's momentum changes before each update, to
    ``n / (n + 1)`` after ``n`` of its own, so that its statistics end as the
    plain average of the batch statistics it saw.
    """
    if num_batches < 1:
        raise ValueError(f"num_batches must be at least 1, got {num_batches}.")
    layers = list({id(layer): layer for pass_layers, _ in passes for layer in pass_layers}.values())
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.moving_mean.assign(np.zeros(layer.moving_mean.shape, "float32"))
        layer.moving_variance.assign(np.ones(layer.moving_variance.shape, "float32"))
    updates = {id(layer): 0 for layer in layers}
    images_seen = 0
    try:
        for batch in dataset.take(num_batches):
            images = batch[0] if isinstance(batch, (tuple, list)) else batch
            for pass_layers, run in passes:
                for layer in pass_layers:
                    layer.momentum = updates[id(layer)] / (updates[id(layer)] + 1)
                    updates[id(layer)] += 1
                run(images)
            images_seen += int(images.shape[0])
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    if images_seen == 0:
        raise ValueError("The recalibration dataset is empty.")
    return images_seen


def recalibrate_bn(model, dataset, depth=None, num_batches=20):
    """Re-estimates the BN moving statistics of a DDNN, one depth or every depth.

    The moving averages kept during training blend what a BN layer saw over
    the last steps. As once-for-all and US-Nets do before evaluating a
    sub-net, this resets the statistics of the BN layers a depth runs and
    replaces them with the plain average over ``num_batches`` training batches
    run through that depth. With ``bn="private"`` or ``"path"`` every BN that
    serves several depths sees the same input in each of them, so every depth
    keeps its own statistics.

    A shared-BN DDNN has one set of statistics for every depth, which
    training keeps as a blend of all of them: ``depth=None`` re-estimates
    that blend, each batch run through every depth. Recalibrating one depth
    in place would break the others, so it is refused; use
    ``recalibrated_subnet`` instead.

    Args:
        model: a ``ddnn_tf.DDNN``; its variables are updated in place.
        dataset: batches of ``(images, labels)`` or images, from the training set.
        depth: the depth to recalibrate, or None for every depth.
        num_batches: how many batches to average over.

    Returns:
        The number of images the statistics were estimated from (per depth).
    """
    if model.bn == "shared" and len(model.depths) > 1 and depth is not None:
        raise ValueError(
            "With bn='shared' one set of BN statistics serves every depth: recalibrating one in place breaks "
            "the others. Use ddnn_tf.recalibrated_subnet(model, dataset, depth), which returns that depth as "
            "its own keras.Model with its own statistics, or depth=None to re-estimate the blend of all."
        )
    depths = model.depths if depth is None else (model.check_depth(depth),)

    def depth_pass(current):
        return _batch_norms(model.subnet(current)), lambda images: model(images, depth=current, training=True)

    if model.bn == "shared":
        return _reestimate([depth_pass(current) for current in depths], dataset, num_batches)
    images_seen = 0
    for current in depths:
        images_seen = _reestimate([depth_pass(current)], dataset, num_batches)
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
    _reestimate([(_batch_norms(copy), lambda images: copy(images, training=True))], dataset, num_batches)
    return copy


# Past this share of stale statistics, a run's end re-estimates them (``statistics_lag``). A judgement, not
# a measurement: far above what cosine decay to 0 leaves (< 0.1 %), far below a 16-step run's 49 %
# (docs/design.md, "Precise BN").
STALE_LIMIT = 0.05


def statistics_lag(relative_rates, momentum):
    """The share of BN's moving statistics that predates the weights a run ends with, from 0 to 1.

    After the steps whose learning rates (relative to the peak) are
    ``relative_rates``, in order, a moving average of momentum ``m`` gives
    the batch statistics of the k-th step before the last the weight
    ``(1 - m) m^k``, and its initial values (mean 0, variance 1) what is
    left. A step's statistics are weighted by its rate, since the weights
    have moved since then in proportion to it; the initial values count in
    full. Cosine decay to 0 over thousands of steps gives about 0; a run of a
    handful of steps, or one that stops at a high rate, gives far more.
    """
    rates = np.asarray(relative_rates, "float64")[::-1]  # the last step first
    weights = (1 - momentum) * momentum ** np.arange(len(rates))
    return float(momentum ** len(rates) + np.sum(weights * rates))
