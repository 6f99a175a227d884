"""The browser benchmark: the server, and the page driven by a real headless Chromium with LiteRT.js."""

import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from conftest import REPO, TINY_TFLITE, assert_matches_schema, error_lines, run_cli

from ddnn_tf import errors, files
from ddnn_tf.runtime import cascade, web
from ddnn_tf.runtime import report as benchmark_report

HEADLESS = REPO / "tests" / "browser" / "usr" / "lib" / "chromium" / "chromium-headless-shell"


MAKE_HINT = "run make test (it downloads Debian's chromium-headless-shell and LiteRT.js from npm)"


def _needs_browser():
    """Skips without the browser or LiteRT.js; under CI, which installs both (make test), fails instead."""
    _needs_litert()
    if not HEADLESS.is_file():
        missing = pytest.fail if os.environ.get("CI") else pytest.skip
        missing(f"no headless Chromium at {HEADLESS}: {MAKE_HINT}")


def _needs_litert():
    """The server serves LiteRT.js to the page: without it, skips (fails under CI, as ``_needs_browser``)."""
    try:
        web.check_litert_dir(web.default_litert_dir())
    except errors.UsageError as missing_litert:
        missing = pytest.fail if os.environ.get("CI") else pytest.skip
        missing(f"{missing_litert}; {MAKE_HINT}")


@pytest.fixture(scope="module")
def web_export(ekd_run, tmp_path_factory):
    """An export folder for the browser: both depths with float32 logits, the 100 test images the export
    validated them on and wrote beside them, a cascade.json over the two depths, and three bad files."""
    _needs_litert()
    out = tmp_path_factory.mktemp("export_web")
    result = run_cli("ddnn_tf.export_tflite", f"--workdir={ekd_run}", "--target=web", "--depth=all", f"--out={out}",
                     "--eval_examples=100", "--calibration_steps=20")
    assert result.returncode == 0, result.stderr
    _calibrate(ekd_run, out)  # before the bad files, which a cascade must not take
    result = run_cli("ddnn_tf.export_tflite", f"--workdir={ekd_run}", "--depth=20", f"--out={out / 'device'}",
                     "--eval_examples=100", "--calibration_steps=20")
    assert result.returncode == 0, result.stderr
    for suffix in (".tflite", ".json"):  # a phone's file: int8 logits, which LiteRT.js refuses
        shutil.copy(out / "device" / f"resnet32_depth20_int8{suffix}", out / f"phone_depth20_int8{suffix}")
        shutil.copy(out / f"resnet32_depth32_int8{suffix}", out / f"gone{suffix}")  # deleted once served
    (out / "notes.tflite").write_bytes(b"this is not a TFLite file")
    return out


def _calibrate(workdir, folder):
    """Writes the cascade.json of folder's two depths for a budget halfway between them: room for a cascade of
    both, not for depth 32 alone."""
    from ddnn_tf.export import cascade as calibration
    from ddnn_tf.run import Run

    macs = sorted(json.loads(path.read_text())["multiply_accumulates"] for path in folder.glob("*_depth*_int8.json"))
    target = cascade.Target(budget_macs=(macs[0] + macs[-1]) / 2)
    files.write_json(folder / cascade.FILE_NAME, calibration.calibrate(Run.open(workdir), folder, "int8", target))


@pytest.fixture(scope="module")
def server(web_export):
    _needs_litert()
    saved = []
    server = web.Server(("127.0.0.1", 0), web_export, web.default_litert_dir(), max_report_bytes=1 << 20,
                        on_report=saved.append)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    (web_export / "gone.tflite").unlink()  # listed in the catalogue, then missing
    yield server, f"http://127.0.0.1:{server.server_address[1]}", saved
    server.shutdown()
    server.server_close()


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _post(url, body, length=None):
    request = urllib.request.Request(f"{url}/report", data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Content-Length": str(len(body) if length is None else length)})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _run_page(url, saved, profile):
    """Opens ``url`` in the headless Chromium until the page posts its report into ``saved``; the report read back."""
    _needs_browser()
    browser = web.open_headless(HEADLESS, url, profile)
    try:
        deadline = time.time() + 600
        while not saved and time.time() < deadline and browser.poll() is None:
            time.sleep(0.5)
    finally:
        browser.kill()
        browser.wait()
    assert saved, "the page posted no report"
    return json.loads(saved[0].read_text())


@pytest.fixture(scope="module")
def page_report(server, tmp_path_factory):
    """The report of one run of the page on the module's folder: 15 timed runs and 2 warm-up, 1 and 2 threads."""
    _, url, saved = server
    return _run_page(f"{url}/?runs=15&warmup=2&threads=1,2", saved, tmp_path_factory.mktemp("profile"))


@pytest.mark.slow
def test_the_page_times_every_depth_in_headless_chromium_and_its_report_merges_with_the_host_s(server, page_report,
                                                                                             tmp_path):
    server, url, saved = server
    report = page_report
    assert_matches_schema("benchmark", report)
    entries = {entry["file"]: entry for entry in json.loads(server.catalogue)["files"]}
    assert saved[0].name.startswith(web.REPORT_PREFIX) and saved[0].parent == server.export_dir
    assert report["device"]["kind"] == "browser" and "LiteRT.js 2.5.3 (wasm, threads)" == report["device"]["runtime"]
    files_timed = [r for r in report["results"] if "cascade" not in r]
    timed = {(r["file"], r["threads"]) for r in files_timed}
    assert timed == {(f"resnet32_depth{d}_int8.tflite", t) for d in (20, 32) for t in (1, 2)}, "every depth has latencies"
    for result in files_timed:
        assert len(result["timings_ms"]) == 15 and result["median_ms"] > 0 and result["accelerator"] == "wasm"
        # The browser's LiteRT against the Python interpreter's, on the same 100 test images.
        assert result["agreement"] == 1.0 and result["max_relative_difference"] <= web.FLOAT32_TOLERANCE, result
        assert 0 <= result["accuracy"] <= 1
    problems = {p["file"]: p["message"] for p in report["problems"]}
    assert "export it with python -m ddnn_tf.export_tflite --target web" in problems["phone_depth20_int8.tflite"]
    assert "gone.tflite is missing: the server answered HTTP 404" == problems["gone.tflite"]
    assert problems["notes.tflite"].startswith("notes.tflite cannot run here: ")
    assert problems["notes.tflite"].endswith(f"(the host's LiteRT: {entries['notes.tflite']['problem']})")
    # Beside the host's figures: one table with the runtime as a column.
    host = run_cli("ddnn_tf.benchmark", server.export_dir / "resnet32_depth20_int8.tflite", "--threads=1",
                   "--runs=10", f"--out={tmp_path}")
    assert host.returncode == 0, host.stderr
    merged = run_cli("ddnn_tf.merge_reports", tmp_path / "benchmark.json", saved[0], f"--out={tmp_path}")
    assert merged.returncode == 0, merged.stderr
    assert "LiteRT.js 2.5.3 (wasm, threads)" in merged.stdout and "ai_edge_litert" in merged.stdout
    runtimes = {row["runtime"] for row in json.loads((tmp_path / "merged.json").read_text())["results"]}
    assert len(runtimes) == 2


@pytest.mark.slow
def test_a_page_whose_clock_stands_still_sends_no_report_and_says_why(server, tmp_path, monkeypatch):
    """A clock too coarse for the runs (one that stands still, here) times every run at 0 ms: the page must
    not report that as a measurement."""
    _needs_browser()
    _, url, saved = server
    page = tmp_path / "page"
    shutil.copytree(web.PAGE, page, ignore=shutil.ignore_patterns("node_modules"))
    index = (page / "index.html").read_text()
    (page / "index.html").write_text(index.replace("<head>", "<head><script>performance.now = () => 1000;</script>", 1))
    monkeypatch.setattr(web, "PAGE", page)
    reports_before = len(saved)
    # --dump-dom prints the page once it is idle; virtual time lets it wait for the page's fetches and runs.
    command, env = web.headless_command(HEADLESS, f"{url}/?runs=3&warmup=1&threads=1", tmp_path / "profile",
                                        "--virtual-time-budget=600000", "--dump-dom")
    browser = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    status = re.search(r'<p id="status">(.*?)</p>', browser.stdout, re.S)
    assert status, browser.stderr[-2000:]
    assert status.group(1).startswith("stopped: resnet32_depth20_int8.tflite timed 0 ms, which no clock measures"), \
        status.group(1)
    assert "no report was sent" in status.group(1)
    assert len(saved) == reports_before, "a report of zero timings reached the server"


@pytest.mark.slow
def test_the_server_isolates_the_page_and_serves_nothing_outside_its_folders(server):
    _, url, _ = server
    status, headers, page = _get(f"{url}/")
    assert status == 200 and b"importmap" in page
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    status, _, body = _get(f"{url}/catalogue.json")
    catalogue = json.loads(body)
    entries = {entry["file"]: entry for entry in catalogue["files"]}
    assert entries["phone_depth20_int8.tflite"]["output_dtype"] == "int8"
    assert entries["notes.tflite"]["problem"].startswith("not a valid TFLite file")
    assert len(entries["resnet32_depth20_int8.tflite"]["expected_logits"]) == catalogue["test_images"]["count"] == 100
    for path in ("/files/../run.json", "/files/%2e%2e/run.json", "/files/device/resnet32_depth20_int8.tflite",
                 "/litert/../../../../etc/passwd", "/files/run.json.py", "/elsewhere"):
        assert _get(f"{url}{path}")[0] == 404, path
    assert _get(f"{url}/litert/core/dist/index.js")[0] == 200


@pytest.mark.slow
def test_a_bad_report_is_refused_with_a_reason_and_the_server_stays_up(server):
    server, url, saved = server
    before = sorted(p.name for p in server.export_dir.iterdir())
    status, answer = _post(url, b"{" * 10)
    assert status == 400 and answer["error"].startswith("the report is not JSON")
    status, answer = _post(url, json.dumps({"schema": "something/else"}).encode())
    assert status == 400 and "is not a ddnn_tf.benchmark/1 report" in answer["error"]
    status, answer = _post(url, json.dumps({"schema": "ddnn_tf.benchmark/1", "device": {"name": "x", "kind": "host"},
                                            "results": []}).encode())
    assert status == 400 and answer["error"] == "the report's device.kind must be 'browser'"
    unmeasured = {"file": "a.tflite", "depth": 20, "quantize": "int8", "threads": 1, "median_ms": 0.0, "p90_ms": 0.0,
                  "accuracy": None, "validated_accuracy": None}
    status, answer = _post(url, json.dumps({"schema": "ddnn_tf.benchmark/1", "device": {"name": "x", "kind": "browser"},
                                            "results": [unmeasured]}).encode())
    assert status == 400 and "median_ms is 0.0, which no clock measures" in answer["error"]
    status, answer = _post(url, b"x", length=(1 << 20) + 1)
    assert status == 413 and answer["error"] == f"the report has {(1 << 20) + 1} bytes; the limit is {1 << 20}"
    assert sorted(p.name for p in server.export_dir.iterdir()) == before, "nothing written"
    assert _get(f"{url}/catalogue.json")[0] == 200, "still serving"


def test_serve_benchmark_bad_input_is_one_line(tmp_path):
    result = run_cli("ddnn_tf.serve_benchmark", f"--workdir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: {tmp_path}/export_web does not exist; export the depths for the browser "
                                     f"first: python -m ddnn_tf.export_tflite --workdir {tmp_path} --target web")
    (tmp_path / "export_web").mkdir()
    result = run_cli("ddnn_tf.serve_benchmark", f"--workdir={tmp_path}", f"--litert_dir={tmp_path / 'none'}")
    assert result.returncode == 2 and "LiteRT.js is not in" in result.stderr and "npm install --prefix" in result.stderr
    result = run_cli("ddnn_tf.serve_benchmark", f"--export_dir={tmp_path / 'export_web'}", "--max_reports=0")
    assert result.returncode == 2 and error_lines(result) == ["error: --max_reports must be at least 1, got 0"]


def _damaged(folder, name, content):
    """``folder`` with one tiny valid file and its test images, then ``name`` replaced by ``content`` (None: deleted)."""
    folder.mkdir()
    shutil.copy(TINY_TFLITE, folder / TINY_TFLITE.name)
    (folder / "test_images.bin").write_bytes(bytes(2 * 32 * 32 * 3))
    (folder / "test_labels.bin").write_bytes(bytes(2 * 4))
    (folder / "test_images.json").write_text(json.dumps({"count": 2, "height": 32, "width": 32, "channels": 3,
                                                         "images": "test_images.bin", "labels": "test_labels.bin"}))
    if content is None:
        (folder / name).unlink()
    else:
        (folder / name).write_bytes(content)
    return folder


def _fake_litert(tmp_path):
    """The files check_litert_dir looks for, so that what a test refuses is the export folder."""
    litert = tmp_path / "litert"
    for module in ("core/dist/index.js", "wasm-utils/dist/index.js", "core/wasm/x"):
        (litert / module).parent.mkdir(parents=True, exist_ok=True)
        (litert / module).write_text("")
    return litert


@pytest.mark.parametrize("name,content,message", [
    ("test_images.bin", None, "{dir}/test_images.bin does not exist, but {dir}/test_images.json names it"),
    ("test_labels.bin", bytes(3 * 4), "{dir}/test_labels.bin holds 3 labels, not 2"),
    ("test_images.json", b"{", "test image description {dir}/test_images.json is unreadable or corrupt"),
    ("test_images.json", b"[1, 2]", "test image description {dir}/test_images.json must be an object with"),
    ("test_images.json", json.dumps({"count": 2, "height": 32, "width": 32, "channels": 3, "images": "../x.bin",
                                     "labels": "test_labels.bin"}).encode(),
     "test image description {dir}/test_images.json names '../x.bin'; it must name a .bin file beside it"),
    ("resnet8_width025_int8.json", b"[]", "metadata {dir}/resnet8_width025_int8.json must hold a JSON object"),
    ("resnet8_width025_int8.json", json.dumps({"depth": 8, "sha256": "0" * 64}).encode(),
     "metadata {dir}/resnet8_width025_int8.json describes another file than resnet8_width025_int8.tflite"),
])
def test_serve_benchmark_names_the_damaged_file_of_its_folder(tmp_path, name, content, message):
    """A folder a killed or partial copy left: one line naming the file, never "cannot listen" or a traceback."""
    folder = _damaged(tmp_path / "export_web", name, content)
    litert = _fake_litert(tmp_path)
    result = run_cli("ddnn_tf.serve_benchmark", f"--export_dir={folder}", f"--litert_dir={litert}", "--port=0")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()], "one line"
    assert result.stderr.startswith(f"error: {message.format(dir=folder)}"), result.stderr


def test_serve_benchmark_on_a_taken_port_says_it_cannot_listen(tmp_path):
    import socket

    folder = _damaged(tmp_path / "export_web", "test_labels.bin", bytes(2 * 4))  # nothing damaged
    litert = _fake_litert(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("ddnn_tf.serve_benchmark", f"--export_dir={folder}", f"--litert_dir={litert}", f"--port={port}")
    assert result.returncode == 2
    assert error_lines(result) == [f"error: cannot listen on 127.0.0.1:{port}: Address already in use"], result.stderr


def test_network_address_is_one_of_this_machine_s_addresses():
    """The address ``serve_benchmark --host 0.0.0.0`` prints for a phone: a socket binds to it, so it is this machine's."""
    import ipaddress
    import socket

    address = web.network_address()
    if address is None:
        pytest.skip("this machine has no default route")
    assert not ipaddress.ip_address(address).is_unspecified
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((address, 0))


def _bounded_server(tmp_path, **limits):
    """A server on a tiny valid folder (no TensorFlow, no LiteRT.js), running in a thread; the caller shuts it down."""
    folder = _damaged(tmp_path / "export_web", "test_labels.bin", bytes(2 * 4))  # nothing damaged
    server = web.Server(("127.0.0.1", 0), folder, _fake_litert(tmp_path), max_report_bytes=1 << 16, **limits)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _browser_report(device_name, padding=""):
    result = {"file": "a.tflite", "depth": 8, "quantize": "int8", "threads": 1, "median_ms": 1.5, "p90_ms": 2.0,
              "accuracy": None, "validated_accuracy": None, "padding": padding}
    return json.dumps({"schema": "ddnn_tf.benchmark/1", "device": {"name": device_name, "kind": "browser"},
                       "results": [result]}).encode()


def _reports(folder):
    return sorted(folder.glob(f"{web.REPORT_PREFIX}*.json"))


def test_the_server_keeps_a_bounded_number_of_reports_and_says_how_to_make_room(tmp_path):
    server, url = _bounded_server(tmp_path, max_reports=20)
    try:
        answers = [_post(url, _browser_report(f"phone {n}")) for n in range(200)]
        assert [status for status, _ in answers] == [200] * 20 + [507] * 180
        assert answers[-1][1]["error"] == (f"{server.export_dir} holds 20 reports, the most this server keeps; move "
                                           "benchmark_browser_*.json files out of it to make room")
        assert len(_reports(server.export_dir)) == 20
        assert _post(url, _browser_report("phone 3"))[0] == 200, "a device posting again replaces its own report"
        _reports(server.export_dir)[0].unlink()
        assert _post(url, _browser_report("phone 199"))[0] == 200, "room made, room used"
        assert len(_reports(server.export_dir)) == 20
    finally:
        server.shutdown()
        server.server_close()


def test_the_server_keeps_a_bounded_number_of_report_bytes(tmp_path):
    server, url = _bounded_server(tmp_path, max_stored_bytes=30_000)
    try:
        statuses = [_post(url, _browser_report(f"tablet {n}", padding="x" * 9_000))[0] for n in range(5)]
        assert statuses == [200, 200, 200, 507, 507]
        assert sum(path.stat().st_size for path in _reports(server.export_dir)) <= 30_000
        assert not list(server.export_dir.glob(".benchmark_browser_*")), "no temporary file left"
    finally:
        server.shutdown()
        server.server_close()


def _wait_for_threads_to_end(count, seconds=10):
    """Waits for the server's handler threads to end: a thread frees its slot only after it closes its socket."""
    deadline = time.monotonic() + seconds
    while threading.active_count() > count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() == count, "every handler thread ended"


def test_a_slow_body_times_out_and_slow_peers_cannot_take_every_thread(tmp_path):
    import socket

    server, url = _bounded_server(tmp_path, body_timeout=2.0, max_connections=4)
    port = server.server_address[1]
    before = threading.active_count()
    peers = []
    try:
        # One byte a tenth of a second: every read beats any per-read timeout, the whole body cannot.
        slow = socket.create_connection(("127.0.0.1", port), timeout=30)
        slow.sendall(b"POST /report HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n")
        started, answer = time.monotonic(), b""
        while not answer:
            try:
                slow.sendall(b" ")
            except OSError:
                break
            slow.settimeout(0.1)
            try:
                answer = slow.recv(4096)
            except TimeoutError:
                pass
        slow.settimeout(30)
        answer += b"".join(iter(lambda: slow.recv(4096), b""))
        assert answer.startswith(b"HTTP/1.0 408 "), answer
        assert b"the report's 4000 bytes did not arrive within 2 s" in answer
        assert time.monotonic() - started < 6
        slow.close()
        _wait_for_threads_to_end(before)  # the slow body's slot is free again: four slots for the peers
        # Ten peers that announce a body and send nothing: four threads at most, the rest answered 503 at once.
        for _ in range(10):
            peer = socket.create_connection(("127.0.0.1", port), timeout=30)
            peer.sendall(b"POST /report HTTP/1.0\r\nContent-Length: 4000\r\n\r\n")
            peers.append(peer)
        time.sleep(0.3)
        assert threading.active_count() - before <= 4
        refused = [peer for peer in peers[4:] if peer.recv(64).startswith(b"HTTP/1.0 503 ")]
        assert len(refused) == 6
        for peer in peers[:4]:  # each held thread ends by its deadline, answering 408
            assert b" 408 " in peer.recv(64)
        _wait_for_threads_to_end(before)
        assert _post(url, _browser_report("after"))[0] == 200
        assert _reports(server.export_dir) and not list(server.export_dir.glob(".*")), "only whole reports"
    finally:
        for peer in peers:
            peer.close()
        server.shutdown()
        server.server_close()


def _score_tolerance(report, catalogue):
    """How far the page's exit scores may lie from the host's: its logits differ from the host LiteRT's by at most
    ``difference`` (each file's max_relative_difference times its largest host logit), and either rule's score
    moves by at most 2 log(classes) times that (the 1-norm of its gradient), taken ten times for safety."""
    entries = {entry["file"]: entry for entry in catalogue["files"]}
    measured = [r for r in report["results"] if r.get("max_relative_difference") is not None]
    difference = max(r["max_relative_difference"] * np.abs(entries[r["file"]]["expected_logits"]).max()
                     for r in measured)
    classes = len(entries[measured[0]["file"]]["expected_logits"][0])
    return 10 * 2 * np.log(classes) * difference


def _python_cascade(folder, tolerance):
    """What ``ddnn_tf.runtime.cascade.Cascade`` answers on the folder's test images, as the page's cascade row
    counts it, and how many images score within ``tolerance`` of a threshold."""
    runner = cascade.Cascade(folder / cascade.FILE_NAME)
    test = json.loads((folder / "test_images.json").read_text())
    images = np.fromfile(folder / test["images"], np.uint8).reshape(
        test["count"], test["height"], test["width"], test["channels"])
    labels = np.fromfile(folder / test["labels"], "<i4")
    decisions = [runner(image) for image in images]
    stops = np.array([decision.stage for decision in decisions])
    stage_macs = np.cumsum([stage["multiply_accumulates"] for stage in runner.stages])
    scores = np.array([[cascade.exit_scores(logits, runner.rule) for logits in runner.logits(image)[:-1]]
                       for image in images])
    return {
        "depths": runner.depths, "thresholds": runner.thresholds,
        "exit_fractions": [float(np.mean(stops == stage)) for stage in range(len(runner.stages))],
        "accuracy": float(np.mean([decision.label for decision in decisions] == labels)),
        "multiply_accumulates": int(round(float(np.mean(stage_macs[stops])))),
        "near": int(np.sum(np.any(np.abs(scores - runner.thresholds) <= tolerance, axis=1))),
        "images": len(labels), "macs": [stage["multiply_accumulates"] for stage in runner.stages],
        "file_bytes": sum((folder / stage["file"]).stat().st_size for stage in runner.stages),
    }


@pytest.mark.slow
def test_the_page_runs_the_folder_s_cascade_on_the_test_images_as_the_python_runtime_does(server, page_report):
    server, _, _ = server
    # The report as the server and merge_reports read it, and as the schema defines it.
    checked = benchmark_report.check(json.loads(json.dumps(page_report)), "the report")
    assert_matches_schema("benchmark", page_report)
    rows = [r for r in checked["results"] if "cascade" in r]
    assert sorted(r["threads"] for r in rows) == [1, 2], "a cascade row per thread count"
    expected = _python_cascade(server.export_dir, _score_tolerance(page_report, json.loads(server.catalogue)))
    assert expected["depths"] == [20, 32] and 0 < expected["exit_fractions"][0] < 1, "both stages answer some images"
    # An image scored nearer a threshold than the page's scores can be to the host's may stop at the other
    # stage: each such image moves an exit fraction and the top-1 by one image, the average cost by a stage.
    images, near = expected["images"], expected["near"]
    for row in rows:
        assert row["file"] == "cascade.json" and row["signature"] == "cascade" and row["depth"] == "cascade"
        assert row["quantize"] == "int8" and row["accelerator"] == "wasm" and row["validated_accuracy"] is None
        assert row["runs"] == images == len(row["timings_ms"]) and row["warmup_runs"] == 2
        assert row["median_ms"] > 0 and row["file_bytes"] == expected["file_bytes"]
        assert row["cascade"]["rule"] == "max_probability"
        assert row["cascade"]["depths"] == expected["depths"]
        assert row["cascade"]["thresholds"] == expected["thresholds"]
        assert np.abs(np.subtract(row["cascade"]["exit_fractions"], expected["exit_fractions"])).max() <= near / images
        assert abs(row["accuracy"] - expected["accuracy"]) <= near / images
        macs_moved = near * expected["macs"][-1] / images
        assert abs(row["multiply_accumulates"] - expected["multiply_accumulates"]) <= macs_moved
        if near == 0:  # the usual case: the very same answers
            assert (row["cascade"]["exit_fractions"], row["accuracy"], row["multiply_accumulates"]) == (
                expected["exit_fractions"], expected["accuracy"], expected["multiply_accumulates"])
    assert not [p for p in checked["problems"] if p["file"] == "cascade.json"]


@pytest.mark.slow
def test_a_cascade_of_missing_or_other_files_is_a_problem_of_the_report_not_a_row(web_export, tmp_path, monkeypatch):
    """Served over plain http under a host name, the page is no secure context: it has no crypto.subtle and
    computes the digests itself, which the first stage's file, named with its own sha256, passes."""
    _needs_browser()
    folder = tmp_path / "export_web"
    folder.mkdir()
    for path in [*web_export.glob("resnet32_depth*_int8.*"), *web_export.glob("test_*")]:
        shutil.copy(path, folder)
    document = json.loads((web_export / cascade.FILE_NAME).read_text())
    first, last = document["stages"]
    missing = {**first, "file": "resnet32_depth26_int8.tflite", "depth": 26}
    document["stages"] = [first, missing, {**last, "sha256": "0" * 64}]
    files.write_json(folder / cascade.FILE_NAME, document)
    saved = []
    server = web.Server(("127.0.0.1", 0), folder, web.default_litert_dir(), max_report_bytes=1 << 20,
                        on_report=saved.append)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    insecure = "--host-resolver-rules=MAP insecure.test 127.0.0.1"
    monkeypatch.setattr(web, "HEADLESS_FLAGS", (*web.HEADLESS_FLAGS, insecure))
    try:
        url = f"http://insecure.test:{server.server_address[1]}/?runs=1&warmup=0"
        page = _run_page(url, saved, tmp_path / "profile")
    finally:
        server.shutdown()
        server.server_close()
    assert_matches_schema("benchmark", page)
    assert page["device"]["runtime"] == "LiteRT.js 2.5.3 (wasm)", "not cross-origin isolated: no secure context"
    assert {r["file"] for r in page["results"]} == {"resnet32_depth20_int8.tflite", "resnet32_depth32_int8.tflite"}
    calibrate = "calibrate it again on this folder: python -m ddnn_tf.cascade --export_dir FOLDER --max_drop N"
    assert page["problems"] == [
        {"file": "cascade.json", "message": "cascade.json names resnet32_depth26_int8.tflite, which the server does "
                                            f"not serve (HTTP 404): put it beside cascade.json, or {calibrate}"},
        {"file": "cascade.json", "message": f"cascade.json was calibrated for another {last['file']} (its sha256 "
                                            f"differs): {calibrate}"},
    ]
