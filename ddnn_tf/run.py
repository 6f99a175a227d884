"""A training run's workdir: the one place that knows its layout, and what later stages read from it.

    workdir/
        run.json                  the record: config, the data's statistics, labels and source, versions
        model.keras               the trained DDNN (independent mode: depth_N/model.keras, one per depth)
        checkpoints/              epoch_N.keras, best.keras, state.json
        log.csv, tensorboard/
        results.json              python -m ddnn_tf.evaluate
        export/, export_web/      python -m ddnn_tf.export_tflite (--target web)

Training writes a run (``Run.write_record``); evaluation, export, the
benchmarks and the mobile tools open it (``Run(workdir)``) for its model,
its stored data config and the exact images it held out. Opening imports
no TensorFlow; ``models`` and ``datasets`` do.
"""

import functools
import hashlib
import json
from pathlib import Path

from ddnn_tf import errors, files
from ddnn_tf.config import stored_data_config

RECORD = "run.json"
MODEL = "model.keras"
CHECKPOINTS = "checkpoints"
# In CHECKPOINTS: the last completed epoch's record, the best epoch on validation, and each epoch's model.
CHECKPOINT_STATE = "state.json"
BEST_CHECKPOINT = "best.keras"


def epoch_checkpoint(epoch):
    """The file name of epoch ``epoch``'s model (counted from 1) in CHECKPOINTS."""
    return f"epoch_{epoch}.keras"


class Run:
    """The run in ``workdir``; ``Run(workdir).record`` raises a UsageError when there is none."""

    def __init__(self, workdir):
        self.workdir = Path(workdir)

    @classmethod
    def open(cls, workdir):
        """The run in ``workdir``, or a UsageError saying there is none (before anything is written)."""
        run = cls(workdir)
        run.record
        return run

    def __repr__(self):
        return f"Run({str(self.workdir)!r})"

    # ------------------------------------------------------------------ layout

    @property
    def record_file(self):
        return self.workdir / RECORD

    def model_file(self, depth=None):
        """The trained model; with ``depth``, that depth's own in an independent run."""
        return self.part(depth) / MODEL

    def part(self, depth=None):
        """The folder one fitted model lives in: the workdir, or ``depth_N`` of an independent run."""
        return self.workdir if depth is None else self.workdir / f"depth_{depth}"

    def checkpoints(self, depth=None):
        return self.part(depth) / CHECKPOINTS

    def all_checkpoints(self):
        """Every checkpoint folder of the run (one per depth in independent mode)."""
        return sorted(self.workdir.glob(f"**/{CHECKPOINTS}"))

    def log_file(self, depth=None):
        return self.part(depth) / "log.csv"

    def tensorboard_dir(self, depth=None):
        return self.part(depth) / "tensorboard"

    def export_dir(self, target="device"):
        """Where an export for ``target`` (a name in ``ddnn_tf.export.targets.TARGETS``) goes by default."""
        from ddnn_tf.export import targets

        return self.workdir / targets.get(target).folder

    @property
    def results_file(self):
        return self.workdir / "results.json"

    # ------------------------------------------------------------------ record

    def exists(self):
        return self.record_file.is_file()

    @functools.cached_property
    def record(self):
        if not self.exists():
            raise errors.UsageError(f"{self.workdir} holds no run (no {RECORD}); train one with python -m ddnn_tf.train")
        return files.read_json(self.record_file, "run record")

    def write_record(self, config, info, versions):
        """Writes ``run.json``: the config (a ConfigDict), the data's ``DataInfo`` and the library versions."""
        files.write_json(self.record_file, {"config": config.to_dict(), "data": info.to_json(), **versions})
        self.__dict__.pop("record", None)

    def add_to_record(self, key, name, entry):
        """Sets ``run.json``'s ``key`` entry ``name`` (``{key: {name: entry}}``), keeping the rest of the record."""
        record = files.read_json(self.record_file, "run record")
        record.setdefault(key, {})[name] = entry
        files.write_json(self.record_file, record)
        self.__dict__.pop("record", None)

    @property
    def config(self):
        """The stored config, as a dict."""
        return self.record["config"]

    @property
    def config_sha256(self):
        """The sha256 of the stored config: the files exported from a run carry it, so a cascade can tell
        files of one run (and one held-out split) from files of another."""
        return hashlib.sha256(json.dumps(self.config, sort_keys=True).encode()).hexdigest()

    @property
    def seed(self):
        return int(self.config.get("seed", 0))

    @property
    def data(self):
        """What the run stored of its data: statistics, label names, image shape and source."""
        return self.record["data"]

    # ------------------------------------------------------------------ contents

    def model(self, checkpoint=None):
        """The trained DDNN, ``model.keras`` or the file ``checkpoint`` names, or a UsageError saying what is wrong."""
        import ddnn_tf.models  # noqa: F401 (registers DDNN and every backbone family with Keras before loading)

        return files.load_model(checkpoint or self.model_file())

    def models(self, checkpoint=None):
        """``{depth: (DDNN, depth within it)}``: one DDNN holding every depth, or one per depth if independent.

        ``checkpoint`` loads that file instead of ``model.keras`` (a run that is not independent).
        """
        if self.config["mode"] != "independent" or checkpoint:
            model = self.model(checkpoint)
            return {depth: (model, depth) for depth in model.depths}
        models = {}
        for path in sorted(self.workdir.glob(f"depth_*/{MODEL}")):
            model = self.model(path)
            models[model.full_depth] = (model, model.full_depth)
        if not models:
            raise errors.UsageError(f"{self.workdir} holds no trained depth_*/{MODEL} yet")
        return dict(sorted(models.items()))

    def datasets(self, role="eval"):
        """``(training batches, held-out batches, DataInfo)``: the images the run trained on and held out."""
        from ddnn_tf.data import pipeline

        return pipeline.load_stored(stored_data_config(self.config["data"]), self.seed, role, stored=self.data)
