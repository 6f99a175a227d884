"""Serves a page that times a run's exported depths in the browser of any device, and collects its reports.

    python -m ddnn_tf.serve_benchmark [--workdir runs/mnist_resnet34] [--export_dir DIR] \\
        [--host 127.0.0.1] [--port 8000] [--litert_dir DIR]

Open the printed address on the device (``--host 0.0.0.0`` to reach it from
a phone on the same network); the page times every ``.tflite`` file of the
export folder with LiteRT.js, checks its outputs on the run's test images
(which ``--target web`` exports write beside the files) against the host's LiteRT, and posts its
report, written as ``benchmark_browser_<device>.json`` into the served
folder (``<workdir>/export_web`` by default): ``python -m
ddnn_tf.merge_reports`` puts it beside the host's ``benchmark.json``. LiteRT.js cannot read int8 logits: export the files with
``--target web``. Runs until interrupted (Ctrl-C); needs no TensorFlow. What a peer can
cost is bounded: 16 connections at once, 10 s for a request to arrive, and
``--max_reports`` files of ``--max_stored_bytes`` together in the folder.
"""

from pathlib import Path

from absl import flags

from ddnn_tf import cli, errors

_WORKDIR = flags.DEFINE_string("workdir", cli.DEFAULT_WORKDIR, "Run directory; its export_web/ folder is served.")
_EXPORT_DIR = flags.DEFINE_string("export_dir", None, "The folder of .tflite files (default: <workdir>/export_web).")
_HOST = flags.DEFINE_string("host", "127.0.0.1", "Address to listen on; 0.0.0.0 for every network the machine is on.")
_PORT = flags.DEFINE_integer("port", 8000, "Port to listen on (0: any free port).")
_LITERT_DIR = flags.DEFINE_string("litert_dir", None, "The @litertjs folder of an npm install (default: the page's "
                                  "own, installed by make test).")
_MAX_REPORT = flags.DEFINE_integer("max_report_bytes", 4 << 20, "Largest report the server accepts.")
_MAX_REPORTS = flags.DEFINE_integer("max_reports", 100, "Most report files the folder may hold; past them a new "
                                    "device's report is refused (HTTP 507) until some are moved out.")
_MAX_STORED = flags.DEFINE_integer("max_stored_bytes", 64 << 20, "Most bytes the folder's reports may take together.")


def main(argv):
    from ddnn_tf.run import Run
    from ddnn_tf.runtime import web  # here, so that --help answers at once

    if len(argv) > 1:
        raise errors.UsageError(f"unexpected arguments {' '.join(argv[1:])}; see --help")
    export_dir = Path(_EXPORT_DIR.value or Run(_WORKDIR.value).export_dir("web"))
    if not export_dir.is_dir():
        raise errors.UsageError(f"{export_dir} does not exist; export the depths for the browser first: "
                                f"python -m ddnn_tf.export_tflite --workdir {_WORKDIR.value} --target web")
    if not 0 <= _PORT.value < 65536:
        raise errors.UsageError(f"--port must be from 0 to 65535, got {_PORT.value}")
    for flag in (_MAX_REPORT, _MAX_REPORTS, _MAX_STORED):
        if flag.value < 1:
            raise errors.UsageError(f"--{flag.name} must be at least 1, got {flag.value}")
    # The folder is read first, then the socket opened, so that only the socket's errors read "cannot listen".
    server = web.Server((_HOST.value, _PORT.value), export_dir, _LITERT_DIR.value or web.default_litert_dir(),
                        _MAX_REPORT.value, on_report=lambda path: print(f"saved {path}", flush=True),
                        bind_and_activate=False, max_reports=_MAX_REPORTS.value, max_stored_bytes=_MAX_STORED.value)
    try:
        server.listen()
    except OSError as error:
        raise errors.UsageError(f"cannot listen on {_HOST.value}:{_PORT.value}: {error.strerror or error}") from None
    host, port = server.server_address[:2]
    everywhere = host in ("0.0.0.0", "")
    print(f"Serving {export_dir} at http://{'127.0.0.1' if everywhere else host}:{port}/ (Ctrl-C stops)", flush=True)
    if everywhere:
        address = web.network_address() or "<this machine's address>"
        print(f"From a phone on this network, open http://{address}:{port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def command():
    """``python -m ddnn_tf.serve_benchmark`` and the ``ddnn-serve-benchmark`` console script."""
    cli.run_cli(main)


if __name__ == "__main__":
    command()
