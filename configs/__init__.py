"""The shipped run configs, installed as ``ddnn_tf.configs``: ``--config NAME`` finds each by its file name."""
