"""The browser benchmark's server: a run's exported files, the page that times them with LiteRT.js, and the reports.

Any device with a browser opens the page; it times every file with LiteRT.js
(WebAssembly, with threads when the page is cross-origin isolated, or WebGPU
when the browser has an adapter), checks its outputs on the run's test
images against the Python LiteRT interpreter's (flagging a file whose logits
differ by more than ``FLOAT32_TOLERANCE``), and posts a
``ddnn_tf.benchmark/1`` report, which is written into the export folder it
serves (``<workdir>/export_web`` by default), one file per device. Needs no
TensorFlow.

The server sends ``Cross-Origin-Opener-Policy: same-origin`` and
``Cross-Origin-Embedder-Policy: require-corp`` on every answer: without
them a browser gives WebAssembly no threads. It serves only the page, the
LiteRT.js files and the files directly inside the export folder.
"""

import hashlib
import http.server
import json
import re
import socket
import threading
import time
from pathlib import Path

import numpy as np

from ddnn_tf import errors, files, runtime
from ddnn_tf.runtime import report

PAGE = Path(__file__).resolve().parent / "page"
LITERT_VERSION = "2.5.3"  # as page/package.json pins it
INSTALL_HINT = f"npm install --prefix DIR @litertjs/core@{LITERT_VERSION}, then --litert_dir DIR/node_modules/@litertjs"
SERVED_SUFFIXES = (".tflite", ".json", ".bin")
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript",
                 ".json": "application/json", ".wasm": "application/wasm", ".tflite": "application/octet-stream",
                 ".bin": "application/octet-stream", ".map": "application/json"}
FLOAT32_TOLERANCE = 1e-4  # relative, as the export's float32 check
REPORT_PREFIX = "benchmark_browser_"
# What strangers on the network can hold: ``make serve --host 0.0.0.0`` listens to every peer.
MAX_REPORTS = 100  # report files in the folder
MAX_STORED_BYTES = 64 << 20  # their bytes together
MAX_CONNECTIONS = 16  # handler threads at once; the next connection is answered 503 without one
BODY_TIMEOUT_S = 10.0  # for the request line and headers between bytes, and for a report's whole body


def network_address():
    """This machine's address on the network its default route leads to, or None without one.

    Connecting a UDP socket sends nothing: it only asks the kernel which
    address it would send from.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1 (RFC 5737): routed like any outside address, never used
            return probe.getsockname()[0]
        except OSError:
            return None


def default_litert_dir():
    """``page/node_modules/@litertjs`` beside the page, where ``make test`` installs it from npm."""
    return PAGE / "node_modules" / "@litertjs"


def check_litert_dir(path):
    path = Path(path)
    for module in ("core/dist/index.js", "wasm-utils/dist/index.js", "core/wasm"):
        if not (path / module).exists():
            raise errors.UsageError(f"LiteRT.js is not in {path} (no {module}): {INSTALL_HINT}")
    return path


def catalogue(export_dir):
    """What the page lists and checks: every .tflite file with its metadata and the host's logits on the test images.

    The reference logits come from the Python LiteRT interpreter on the test
    images the export wrote into the folder (``--target web``); a file the
    interpreter cannot read is listed with its problem, so the page shows
    what the browser makes of it too. A damaged folder (test images or a
    ``.json`` unreadable, or a ``.json`` written for another file) is a
    UsageError naming the file.
    """
    export_dir = Path(export_dir)
    test = _test_images(export_dir)
    entries = []
    for path in sorted(export_dir.glob("*.tflite")):
        flatbuffer = _read_bytes(path)
        meta = runtime.read_metadata(path, flatbuffer) or {}
        entry = {"file": path.name, "bytes": len(flatbuffer), "depth": meta.get("depth"),
                 "quantize": meta.get("quantize"), "multiply_accumulates": meta.get("multiply_accumulates"),
                 "validated_accuracy": meta.get("tflite_accuracy"),
                 "output_dtype": (meta.get("quantization") or {}).get("output", {}).get("dtype"),
                 "expected_logits": None, "problem": None}
        try:
            runner = runtime.Runner(flatbuffer)
            entry["output_dtype"] = np.dtype(runner.output["dtype"]).name
            if test and runner.takes_pixels:
                entry["expected_logits"] = [[round(float(v), 6) for v in runner(image)] for image in test["pixels"]]
        except (ValueError, RuntimeError) as error:
            entry["problem"] = f"not a valid TFLite file: {str(error).splitlines()[0]}"
        entries.append(entry)
    if not entries:
        raise errors.UsageError(f"{export_dir} holds no .tflite file; export some with python -m ddnn_tf.export_tflite "
                                "--target web")
    described = {key: value for key, value in (test or {}).items() if key != "pixels"}
    return {"files": entries, "test_images": described or None, "litert_version": LITERT_VERSION,
            "float32_tolerance": FLOAT32_TOLERANCE}


# test_images.json's fields (ddnn_tf.export.targets.test_image_files) and their types.
_TEST_IMAGE_FIELDS = {"count": int, "height": int, "width": int, "channels": int, "images": str, "labels": str}


def _test_images(export_dir):
    """The test images of ``test_images.json`` with their pixels, None without one, or a UsageError naming the file at fault."""
    description = export_dir / "test_images.json"
    if not description.is_file():
        return None
    test = files.read_json(description, "test image description")
    if not isinstance(test, dict) or any(not isinstance(test.get(key), kind) or isinstance(test.get(key), bool)
                                         for key, kind in _TEST_IMAGE_FIELDS.items()):
        raise errors.UsageError(f"test image description {description} must be an object with the whole numbers count, "
                                "height, width, channels and the file names images, labels; write it again with "
                                "python -m ddnn_tf.export_tflite --target web")
    shape = (test["count"], test["height"], test["width"], test["channels"])
    if min(shape) < 1:
        raise errors.UsageError(f"test image description {description}: count, height, width and channels must be "
                                f"at least 1, got {shape}")
    pixels = _test_array(export_dir, description, test["images"], np.uint8)
    if pixels.size != np.prod(shape):
        raise errors.UsageError(f"{export_dir / test['images']} does not hold {test['count']} images of {shape[1:]}")
    labels = _test_array(export_dir, description, test["labels"], "<i4")
    if labels.size != test["count"]:
        raise errors.UsageError(f"{export_dir / test['labels']} holds {labels.size} labels, not {test['count']}")
    return {**test, "pixels": pixels.reshape(shape), "label_values": labels.tolist()}


def _test_array(export_dir, description, name, dtype):
    """A ``.bin`` file ``test_images.json`` names, as an array; the page fetches it too, so it must be served."""
    if Path(name).name != name or not name.endswith(".bin"):
        raise errors.UsageError(f"test image description {description} names {name!r}; it must name a .bin file beside it")
    path = export_dir / name
    if not path.is_file():
        raise errors.UsageError(f"{path} does not exist, but {description} names it; write the test images again with "
                                "python -m ddnn_tf.export_tflite --target web")
    try:
        return np.fromfile(path, dtype)
    except OSError as error:
        raise errors.UsageError(f"{path} is unreadable: {error.strerror or error}") from None


def _read_bytes(path):
    try:
        return path.read_bytes()
    except OSError as error:
        raise errors.UsageError(f"{path} is unreadable: {error.strerror or error}") from None


def report_name(device_name):
    """``benchmark_browser_<device>.json``: one file per device name, safe as a file name."""
    slug = re.sub(r"[^a-z0-9]+", "-", device_name.lower()).strip("-")[:60] or "device"
    return f"{REPORT_PREFIX}{slug}-{hashlib.sha256(device_name.encode()).hexdigest()[:8]}.json"


class Server(http.server.ThreadingHTTPServer):
    """Serves one export folder's benchmark page; ``serve_forever`` runs it.

    What a peer can cost is bounded: at most ``max_connections`` handler
    threads, a request's headers and body within ``body_timeout`` seconds, and
    at most ``max_reports`` report files of ``max_stored_bytes`` together in
    the folder (a device posting again replaces its own file).
    """

    daemon_threads = True
    request_queue_size = 64  # connections the kernel holds until accepted; past them a peer's connect waits

    def __init__(self, address, export_dir, litert_dir, max_report_bytes, on_report=None, bind_and_activate=True,
                 max_reports=MAX_REPORTS, max_stored_bytes=MAX_STORED_BYTES, max_connections=MAX_CONNECTIONS,
                 body_timeout=BODY_TIMEOUT_S):
        """Reads the folder (``catalogue``: a damaged one is a UsageError), then listens on ``address`` unless
        ``bind_and_activate`` is false, which leaves ``listen`` to the caller, to tell its errors apart."""
        self.export_dir = Path(export_dir).resolve()
        self.litert_dir = check_litert_dir(litert_dir).resolve()
        self.catalogue = json.dumps(catalogue(self.export_dir)).encode()
        self.max_report_bytes = max_report_bytes
        self.max_reports = max_reports
        self.max_stored_bytes = max_stored_bytes
        self.body_timeout = body_timeout
        self.on_report = on_report or (lambda path: None)
        self.lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_connections)
        self.max_connections = max_connections
        super().__init__(address, _Handler, bind_and_activate)

    def listen(self):
        """Binds the address and listens, or raises the socket's OSError (the port is taken, the address is not here)."""
        try:
            self.server_bind()
            self.server_activate()
        except OSError:
            self.server_close()
            raise

    def process_request(self, request, client_address):
        """A thread per connection while there are slots; past them, a 503 from this thread, and the socket closed."""
        if not self._slots.acquire(blocking=False):
            body = json.dumps({"error": f"the server is answering {self.max_connections} connections already; "
                                        "try again in a few seconds"}).encode()
            try:
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def store(self, name, document):
        """Writes a report as ``name`` in the folder, or returns why the folder has no room for it."""
        body = files.json_bytes(document)
        with self.lock:
            stored = {path.name: path.stat().st_size for path in self.export_dir.glob(f"{REPORT_PREFIX}*.json")}
            replaced = stored.pop(name, None) is not None
            if not replaced and len(stored) >= self.max_reports:
                return (f"{self.export_dir} holds {len(stored)} reports, the most this server keeps; move "
                        f"{REPORT_PREFIX}*.json files out of it to make room")
            if sum(stored.values()) + len(body) > self.max_stored_bytes:
                return (f"{self.export_dir}'s reports would take more than {self.max_stored_bytes} bytes, the most "
                        f"this server keeps; move {REPORT_PREFIX}*.json files out of it to make room")
            files.write_bytes(self.export_dir / name, body)
        return None


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "ddnn_tf"

    def setup(self):
        self.timeout = self.server.body_timeout  # on the socket, for the request line and headers; the body has
        super().setup()                          # a deadline of its own (_read_body)

    def log_message(self, format, *args):  # one line per report instead, from the command
        pass

    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def _send(self, status, body, content_type="application/json"):
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except ConnectionError:  # the peer left before its answer
            self.close_connection = True

    def _error(self, status, message):
        self._send(status, json.dumps({"error": message}).encode())

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            return self._file(PAGE / "index.html")
        if path == "/benchmark.js":
            return self._file(PAGE / "benchmark.js")
        if path == "/catalogue.json":
            return self._send(200, self.server.catalogue)
        if path.startswith("/litert/"):
            return self._file(self._inside(self.server.litert_dir, path[len("/litert/"):]))
        if path.startswith("/files/"):
            name = path[len("/files/"):]
            if "/" in name or not name.endswith(SERVED_SUFFIXES):
                return self._error(404, f"only the export folder's {', '.join(SERVED_SUFFIXES)} files are served")
            return self._file(self._inside(self.server.export_dir, name))
        self._error(404, f"no such page: {path}")

    def _inside(self, root, relative):
        """``root / relative`` if it stays inside ``root`` (no ``..``, no link out), else None."""
        candidate = (root / relative).resolve()
        return candidate if candidate.is_relative_to(root) else None

    def _file(self, path):
        if path is None or not path.is_file():
            return self._error(404, "no such file")
        self._send(200, path.read_bytes(), CONTENT_TYPES.get(path.suffix, "application/octet-stream"))

    def do_POST(self):
        if self.path != "/report":
            return self._error(404, "reports go to /report")
        try:
            length = int(self.headers.get("Content-Length") or -1)
        except ValueError:
            length = -1
        if length < 0:
            return self._error(411, "a report needs a Content-Length")
        if length > self.server.max_report_bytes:
            self.close_connection = True  # the body is not read
            return self._error(413, f"the report has {length} bytes; the limit is {self.server.max_report_bytes}")
        try:
            body = self._read_body(length)
        except TimeoutError:
            self.close_connection = True
            return self._error(408, f"the report's {length} bytes did not arrive within {self.server.body_timeout:g} s")
        except ConnectionError:
            self.close_connection = True
            return None
        try:
            document = json.loads(body)
        except ValueError as error:  # not UTF-8, or not JSON
            return self._error(400, f"the report is not JSON: {error}")
        try:
            checked = report.check(document, "the report")
            if checked["device"].get("kind") != "browser":
                raise errors.UsageError("the report's device.kind must be 'browser'")
        except errors.UsageError as error:
            return self._error(400, str(error))
        name = report_name(document["device"]["name"])
        refusal = self.server.store(name, document)
        if refusal:
            return self._error(507, refusal)
        self.server.on_report(self.server.export_dir / name)
        self._send(200, json.dumps({"saved": name}).encode())


    def _read_body(self, length):
        """``length`` bytes within the server's ``body_timeout`` in all: a peer sending a byte at a time cannot
        hold the thread, as it could if the timeout applied to each read alone."""
        deadline = time.monotonic() + self.server.body_timeout
        chunks, remaining = [], length
        while remaining:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.connection.settimeout(left)
            chunk = self.rfile.read1(min(remaining, 1 << 16))
            if not chunk:
                raise ConnectionError("the peer closed the connection")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)


# Flags that keep a headless Chromium from reaching for Google's services, which a closed network refuses.
HEADLESS_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run")


def headless_command(executable, url, profile_dir, *flags):
    """The command line and environment that open ``url`` in a headless Chromium with ``flags`` added.

    A Chromium unpacked from Debian's packages without installing them
    (``make test`` puts one under ``tests/browser``) finds its libraries
    beside it.
    """
    import os

    root = Path(executable).resolve().parents[3]  # <root>/usr/lib/chromium/<executable>
    libraries = [root / "usr/lib/x86_64-linux-gnu", root / "usr/lib/x86_64-linux-gnu/pulseaudio"]
    env = dict(os.environ)
    present = [str(path) for path in libraries if path.is_dir()]
    if present:
        env["LD_LIBRARY_PATH"] = ":".join(present + [env.get("LD_LIBRARY_PATH", "")]).rstrip(":")
    return [str(executable), *HEADLESS_FLAGS, *flags, f"--user-data-dir={profile_dir}", url], env


def open_headless(executable, url, profile_dir):
    """Opens ``url`` in a headless Chromium (``subprocess.Popen``); the caller ends it."""
    import subprocess

    # A debugging port keeps the headless shell on the page until it is killed, rather than exiting once it loads.
    command, env = headless_command(executable, url, profile_dir, "--remote-debugging-port=0")
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
