"""companion.data._fetch: the source record, the download policy, checksummed downloads and pip's wheel."""

from __future__ import annotations

import subprocess
import sys

import companion.data._fetch as fetch


def test_messages_write_the_home_directory_as_a_tilde(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "someone"))
    inside = tmp_path / "someone" / ".cache" / "companion" / "mnist"
    assert fetch.shown_path(inside) == "~/.cache/companion/mnist"
    assert fetch.Source("files", str(inside)).describe("ratings") == "ratings: files in ~/.cache/companion/mnist"
    # a neighbour whose name merely starts like the home directory is not inside it
    assert fetch.shown_path(tmp_path / "someone-else" / "data") == str(tmp_path / "someone-else" / "data")
    assert fetch.shown_path("/srv/data/mnist") == "/srv/data/mnist"


def test_download_policy(monkeypatch):
    monkeypatch.setenv("COMPANION_PROFILE", "quick")
    assert (fetch.wants_download(None), fetch.wants_download(True), fetch.wants_download(False)) == (False, True, False)
    monkeypatch.setenv("COMPANION_PROFILE", "full")
    assert (fetch.wants_download(None), fetch.wants_download(False)) == (True, False)


def test_pip_command(monkeypatch, tmp_path):
    seen = {}

    def run(command, **kwargs):
        seen.update(command=command, **kwargs)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(fetch.subprocess, "run", run)
    fetch.pip_download("recbole==1.2.1", tmp_path)
    command = seen["command"]
    assert command[:4] == [sys.executable, "-m", "pip", "download"]
    assert {"recbole==1.2.1", "--no-deps", "--only-binary=:all:"} <= set(command)
    assert command[command.index("-d") + 1] == str(tmp_path)
    assert seen["capture_output"] and seen["timeout"] == fetch.PIP_TIMEOUT
