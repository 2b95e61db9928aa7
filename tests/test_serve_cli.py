"""``python app.py``'s flags are checked before anything is loaded: a bad or taken port, a bad host, a thumbnail
folder shared with other files, out-of-range numbers. Each is one ``error:`` line and exit status 2, and the demo
(or the model and index) is never prepared."""

from __future__ import annotations

import socket

import pytest

from cti_ir.serve import cli
from tests.app_fixtures import free_port


@pytest.fixture
def no_loading(monkeypatch):
    """A demo preparer and an engine that fail the test if they are ever called."""
    calls = []

    def fail(*args, **kwargs):
        calls.append(args)
        raise AssertionError("loaded something before checking the flags")

    import cti_ir.serve.engine

    monkeypatch.setattr(cti_ir.serve.engine, "SearchEngine", fail)
    return fail, calls


def run(argv, preparer, capsys) -> str:
    assert cli.main(argv, prepare_demo=preparer) == 2
    captured = capsys.readouterr()
    assert captured.err.count("error:") == 1 and "Traceback" not in captured.err and captured.out == ""
    return captured.err


@pytest.mark.parametrize("port", ["99999", "0", "-1"])
def test_a_port_out_of_range_is_refused_before_loading(port, no_loading, capsys, tmp_path):
    preparer, calls = no_loading
    err = run(["--port", port, "--thumbnail-dir", str(tmp_path)], preparer, capsys)
    assert f"--port must be between 1 and 65535, got {port}" in err and calls == []


def test_a_taken_port_is_reported_before_loading_and_names_our_flag(no_loading, capsys, tmp_path):
    preparer, calls = no_loading
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        err = run(["--port", str(port), "--thumbnail-dir", str(tmp_path)], preparer, capsys)
    assert f"port {port} on 127.0.0.1 is already in use" in err and "--port" in err
    assert "launch()" not in err and calls == []  # not Gradio's advice to edit launch()


def test_a_host_that_is_not_ours_is_refused(no_loading, capsys, tmp_path):
    preparer, calls = no_loading
    err = run(["--host", "10.255.255.1", "--thumbnail-dir", str(tmp_path)], preparer, capsys)  # not on this machine
    assert "--host 10.255.255.1 is not an address of this machine" in err and calls == []


def test_a_thumbnail_folder_with_other_files_is_refused(no_loading, capsys, tmp_path):
    preparer, calls = no_loading
    (tmp_path / "holiday.jpg").write_bytes(b"private")
    err = run(["--thumbnail-dir", str(tmp_path)], preparer, capsys)
    assert "holds other files (holiday.jpg)" in err and "a folder of its own" in err and calls == []


@pytest.mark.parametrize("flag, value, message", [
    ("--threads", "0", "--threads must be at least 1"),
    ("--concurrency", "0", "--concurrency"),
    ("--max-upload-mb", "0", "--max-upload-mb must be more than 0"),
    ("--max-wait-ms", "-1", "--max-wait-ms must be between 0 and 1000, got -1"),
    ("--upload-cache-mb", "-5", "--upload-cache-mb must be between 0 and 65536, got -5"),
])
def test_numbers_out_of_range_are_refused(flag, value, message, no_loading, capsys, tmp_path):
    preparer, calls = no_loading
    err = run([flag, value, "--thumbnail-dir", str(tmp_path)], preparer, capsys)
    assert message in err and calls == []


def test_listen_problem_is_none_for_a_free_port():
    assert cli.listen_problem("127.0.0.1", free_port()) is None
