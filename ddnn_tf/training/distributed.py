"""Strategies for one or several devices and machines, and the rendezvous that keeps a cluster from hanging."""

import json
import os
import socket
import time

import tensorflow as tf

from ddnn_tf import errors

def make_strategy(config):
    """The ``tf.distribute`` strategy a config names; call before any TensorFlow op runs."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    configured = tf.config.get_logical_device_configuration(cpu) or []
    if config.cpu_replicas > 0 and len(configured) != config.cpu_replicas:
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(config.cpu_replicas)]
            )
        except RuntimeError:
            raise errors.UsageError("cpu_replicas can only be set before TensorFlow has started") from None
    if config.strategy == "mirrored":
        if tf.config.list_physical_devices("GPU") or config.cpu_replicas == 0:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(config.cpu_replicas)])
    if config.strategy == "multi_worker":  # cluster and task from TF_CONFIG
        wait_for_peers(json.loads(os.environ["TF_CONFIG"]), config.cluster_timeout_s)
        return tf.distribute.MultiWorkerMirroredStrategy()
    if config.strategy == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=config.tpu or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    return tf.distribute.get_strategy()


def wait_for_peers(tf_config, timeout_s):
    """Returns once every task of the cluster has reached every other one, or raises a UsageError.

    MultiWorkerMirroredStrategy waits for its peers with no limit, holding the
    interpreter and ignoring SIGTERM: a missing or unreachable worker would
    hang the others for good. So each worker first listens on its own port
    (which the strategy's server takes over right after), connects to every
    other one and tells it its address, for at most ``timeout_s`` seconds. A
    worker keeps listening until every peer has also reached it: one that
    left as soon as it had reached the others could close its port before a
    slower peer got through, and that peer would wait for nothing.
    """
    task = tf_config["task"]
    members = [(job, index, address) for job, addresses in tf_config["cluster"].items()
               for index, address in enumerate(addresses)]
    own = next(address for job, index, address in members if (job, index) == (task["type"], int(task["index"])))
    unreached = [address for _, _, address in members if address != own]
    unheard = set(unreached)
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(("", int(own.rsplit(":", 1)[1])))
        except OSError as error:
            raise errors.UsageError(f"cannot listen on this worker's address {own} from TF_CONFIG: {error.strerror}") from None
        listener.listen(len(members))
        listener.settimeout(0.2)
        deadline = time.monotonic() + timeout_s
        while unreached or unheard:
            unreached = [address for address in unreached if not _announce(address, own)]
            unheard.discard(_hear(listener))
            if (unreached or unheard) and time.monotonic() > deadline:
                missing = sorted(set(unreached) | unheard)
                raise errors.UsageError(
                    f"the cluster did not come up within cluster_timeout_s={timeout_s:g} s: no answer from "
                    f"{', '.join(missing)}; start every worker of TF_CONFIG and check that each can reach the others"
                )


def _announce(address, own):
    """Connects to a peer's address and sends it ours; False if the peer is not listening yet."""
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1) as connection:
            connection.sendall(own.encode() + b"\n")
        return True
    except OSError:
        return False


def _hear(listener):
    """The address a peer announced on ``listener``, or None if none came within its timeout."""
    try:
        connection, _ = listener.accept()
    except OSError:  # socket.timeout included
        return None
    with connection:
        connection.settimeout(1)
        try:
            return connection.recv(256).decode(errors="replace").strip()
        except OSError:
            return None


def is_chief(strategy):
    """Whether this process writes the run's files: always, but for the non-chief workers of a cluster.

    The chief is the task of type "chief", or worker 0 when the cluster names none.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return True
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().jobs
