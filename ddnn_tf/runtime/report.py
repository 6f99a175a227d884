"""A benchmark report read back: checked field by field, its statistics computed here.

Reports come from the host benchmark, the Android app, ``benchmark_model``
over adb and the browser page; ``merge_reports`` and the browser benchmark's
server read them through ``check``.
"""

import math

from ddnn_tf import errors, files
from ddnn_tf.runtime import timing

# The result fields the table and the plot read, with the JSON types each may hold.
_NUMBER_OR_NULL = (int, float, type(None))
_RESULT_FIELDS = {
    "file": (str,),
    "depth": (int, str, type(None)),
    "quantize": (str, type(None)),
    "threads": (int,),
    "median_ms": _NUMBER_OR_NULL,
    "p90_ms": _NUMBER_OR_NULL,
    "accuracy": _NUMBER_OR_NULL,
    "validated_accuracy": _NUMBER_OR_NULL,
}


# Fields a result may lack, checked when it has them.
_OPTIONAL_FIELDS = {
    "mean_ms": _NUMBER_OR_NULL,
    "multiply_accumulates": (int, type(None)),
    "cascade": (dict,),
}


def read(path):
    """One report file, checked (``check``), or a UsageError that says what is wrong with it."""
    return check(files.read_json(path, "benchmark report"), f"benchmark report {path}")


def check(report, where):
    """A ``ddnn_tf.benchmark/1`` report with its statistics completed, or a UsageError naming ``where`` and the fault.

    It checks what reading a report relies on (the schema, the device, each
    result's fields and their types, the timings); the full format is
    docs/schemas/benchmark.schema.json, which the tests hold every producer to.
    """
    if not isinstance(report, dict) or report.get("schema") != timing.SCHEMA:
        schema = report.get("schema") if isinstance(report, dict) else None
        raise errors.UsageError(f"{where} is not a {timing.SCHEMA} report (its schema is {schema!r})")
    device = report.get("device")
    if not isinstance(device, dict) or not isinstance(device.get("name"), str):
        raise errors.UsageError(f"{where}: device must be an object with a name")
    results = report.get("results")
    if not isinstance(results, list):
        raise errors.UsageError(f"{where}: results must be a list")
    for index, result in enumerate(results):
        if not isinstance(result, dict):
            raise errors.UsageError(f"{where}: results[{index}] must be an object")
        for key, types in _RESULT_FIELDS.items():
            if key not in result:
                raise errors.UsageError(f"{where}: results[{index}] has no {key}")
            # bool is an int to Python, but never a valid count or time here.
            if isinstance(result[key], bool) or not isinstance(result[key], types):
                raise errors.UsageError(f"{where}: results[{index}].{key} has the wrong type: {result[key]!r}")
        for key, types in _OPTIONAL_FIELDS.items():
            if key in result and (isinstance(result[key], bool) or not isinstance(result[key], types)):
                raise errors.UsageError(f"{where}: results[{index}].{key} has the wrong type: {result[key]!r:.80}")
        if "cascade" in result:
            _check_cascade(result["cascade"], f"{where}: results[{index}].cascade")
        _check_timings(result, f"{where}: results[{index}]")
    report["results"] = [timing.complete(result) for result in results]
    for index, result in enumerate(report["results"]):
        _check_measured(result, f"{where}: results[{index}]")
    return report


def _check_cascade(cascade, where):
    """A cascade row's ``cascade``: as many depths as exit fractions, each fraction in [0, 1]."""
    depths, fractions = cascade.get("depths"), cascade.get("exit_fractions")
    if not isinstance(depths, list) or not depths or not isinstance(fractions, list) or len(fractions) != len(depths) \
            or any(isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 <= f <= 1 for f in fractions):
        raise errors.UsageError(f"{where} must hold depths and as many exit_fractions, each from 0 to 1")


def _check_measured(result, where):
    """A median that is 0, negative or not finite was never measured: a virtual or too coarse clock."""
    median = result["median_ms"]
    if median is not None and not 0 < median < math.inf:
        raise errors.UsageError(f"{where}.median_ms is {median!r}, which no clock measures: the timer was virtual "
                                "or too coarse for this file; time it again with a real clock or more runs per timing")


def _check_timings(result, where):
    """``timings_ms``, when present: one number of milliseconds (0 or more) per timed run."""
    timings = result.get("timings_ms")
    if timings is None:
        return
    if not isinstance(timings, list) or not timings or any(
            isinstance(t, bool) or not isinstance(t, (int, float)) or not t >= 0 for t in timings):
        raise errors.UsageError(f"{where}.timings_ms must be a non-empty list of milliseconds, got {timings!r:.80}")
    if result.get("runs") != len(timings):
        raise errors.UsageError(f"{where}: runs is {result.get('runs')!r} but timings_ms holds {len(timings)} timings")
