"""What one image costs a network, read from its layers: multiply-accumulates of its convolutions and dense layers."""

import math

import keras


def multiply_accumulates(model):
    """Multiply-accumulates of one image through a functional ``keras.Model`` (its Conv2D and Dense layers).

    Read from the built layers (kernel shape and output size), so that it
    describes exactly the network that runs, and for a DDNN depth exactly its
    ``subnet``. Batch-norm, activations, additions and pooling are left out,
    as in the published counts of ResNets.
    """
    total = 0
    # The graph's own nodes: a layer a DDNN shares between depths has a call (a node) in each.
    for nodes in model._nodes_by_depth.values():
        for node in nodes:
            layer = node.operation
            if isinstance(layer, keras.layers.Conv2D):
                _, height, width, _ = node.outputs[0].shape
                total += height * width * math.prod(layer.kernel.shape)
            elif isinstance(layer, keras.layers.Dense):
                total += math.prod(layer.kernel.shape)
    return int(total)
