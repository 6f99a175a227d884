"""Files never left half-written, errors that name the file, and the workdir lock."""

import json
import os
import stat
import zipfile
from pathlib import Path

import pytest

from ddnn_tf import files
from ddnn_tf.errors import UsageError


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path):
    path = tmp_path / "state.json"
    files.write_json(path, {"epoch": 1})

    def fail_halfway(tmp):
        with open(tmp, "w") as f:
            f.write('{"epoch": ')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        files.atomic_write(path, fail_halfway)
    assert json.loads(path.read_text()) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_the_data_reaches_the_disk_before_the_rename_and_the_rename_after_it(tmp_path, monkeypatch):
    events = []
    fsync, replace = os.fsync, os.replace
    def logged_fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        fsync(fd)

    monkeypatch.setattr(files.os, "fsync", logged_fsync)
    monkeypatch.setattr(files.os, "replace", lambda a, b: events.append(("replace", str(b))) or replace(a, b))
    files.write_json(tmp_path / "state.json", {"epoch": 2})
    (kind, synced), *rest = events
    assert kind == "fsync" and Path(synced).name.startswith(".state.json.")
    assert rest == [("replace", str(tmp_path / "state.json")), ("fsync", str(tmp_path))]


@pytest.mark.parametrize("proc_status", ["/proc/self/status", "/nonexistent/status"], ids=["linux", "elsewhere"])
def test_a_written_file_has_the_mode_the_umask_gives(tmp_path, monkeypatch, proc_status):
    monkeypatch.setattr(files, "_PROC_STATUS", Path(proc_status))
    previous = os.umask(0o027)
    try:
        files.write_json(tmp_path / "run.json", {})
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "run.json").stat().st_mode) == 0o640


def test_read_json_names_the_file_and_what_it_should_hold(tmp_path):
    with pytest.raises(UsageError, match=f"^run record {tmp_path / 'run.json'} does not exist$"):
        files.read_json(tmp_path / "run.json", "run record")
    (tmp_path / "run.json").write_text('{"data": ')
    with pytest.raises(UsageError, match=f"^run record {tmp_path / 'run.json'} is unreadable or corrupt: "):
        files.read_json(tmp_path / "run.json", "run record")


def test_a_truncated_keras_archive_is_not_complete(tmp_path):
    whole = tmp_path / "model.keras"
    with zipfile.ZipFile(whole, "w") as archive:
        archive.writestr("config.json", "{}" * 1000)
    assert files.is_complete_archive(whole)
    cut = tmp_path / "cut.keras"
    cut.write_bytes(whole.read_bytes()[:-30])
    assert not files.is_complete_archive(cut)
    with pytest.raises(UsageError, match="is truncated or corrupt: not a complete .keras archive"):
        files.load_model(cut)


def test_writable_dir_refuses_a_path_under_a_file(tmp_path):
    (tmp_path / "a_file").write_text("")
    with pytest.raises(UsageError, match=f"^cannot write to the output directory {tmp_path / 'a_file' / 'out'}: "):
        files.writable_dir(tmp_path / "a_file" / "out")


def test_the_lock_refuses_a_second_holder_naming_the_first_and_outlives_a_stale_file(tmp_path):
    (tmp_path / files.LOCK_FILE).write_text("999999\n")  # left by a crashed run: no process holds it
    with files.exclusive(tmp_path, "training"):
        assert (tmp_path / files.LOCK_FILE).read_text() == f"{os.getpid()}\n"
        with pytest.raises(UsageError, match=f"in use by another training \\(PID {os.getpid()}\\)"):
            with files.exclusive(tmp_path, "training"):
                pass
    with files.exclusive(tmp_path, "training"):  # released with the block
        pass
