"""What one image costs a network, read from its layers: multiply-accumulates of its convolutions and dense layers."""

import math

import keras


def multiply_accumulates(model):
    """Multiply-accumulates of one image through a functional ``keras.Model`` (its convolutions and Dense layers).

    Read from the built layers (kernel shape and output size), so that it
    describes exactly the network that runs, and for a DDNN depth exactly its
    ``subnet``. Batch-norm, activations, additions and pooling are left out,
    as in the published counts of convolutional networks. A layer with a
    kernel of any other class raises a ValueError: it is never left out silently.
    """
    total = 0
    # The graph's own nodes: a layer a DDNN shares between depths has a call (a node) in each.
    for nodes in model._nodes_by_depth.values():
        for node in nodes:
            layer = node.operation
            # A depthwise kernel is (k, k, channels, multiplier): each output pixel costs its size, as a conv's does.
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
                _, height, width, _ = node.outputs[0].shape
                total += height * width * math.prod(layer.kernel.shape)
            elif isinstance(layer, keras.layers.Dense):
                total += math.prod(layer.kernel.shape)
            elif getattr(layer, "kernel", None) is not None:
                raise ValueError(f"multiply_accumulates cannot count layer {layer.name!r}, a {type(layer).__name__}")
    return int(total)
