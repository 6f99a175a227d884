"""The two workarounds a Keras 3 model with its own ``train_step`` needs under ``MultiWorkerMirroredStrategy``."""

import keras
import tensorflow as tf
from keras import ops


class MultiWorkerModel(keras.Model):
    """A ``keras.Model`` that trains under ``MultiWorkerMirroredStrategy``; ``DDNN`` derives from it.

    A subclass returns its step's results through ``step_results``.
    """

    def step_results(self, results):
        """``results`` as Keras can reduce them over workers.

        Keras averages the step's outputs over workers with
        ``strategy.reduce("MEAN", value, axis=0)``, which fails on scalars
        (keras/src/backend/tensorflow/trainer.py, reduce_per_replica): a
        length-1 vector per replica reduces to the scalar mean.
        """
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            return {name: ops.reshape(value, (1,)) for name, value in results.items()}
        return results

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras builds from the first batch and, under a strategy, first reduces
        # that distributed batch with strategy.reduce("MEAN"); the collective
        # all-reduce of MultiWorkerMirroredStrategy cannot do that for input data
        # (keras-team/keras#20585, tensorflow/tensorflow#72388). A model built in
        # its constructor is served by one replica's local batch.
        strategy = self._distribute_strategy
        if iterator is not None and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(
                    lambda x: strategy.experimental_local_results(x)[0]
                    if isinstance(x, tf.distribute.DistributedValues) else x,
                    next(batches),
                )
                break
            iterator = None
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
