import subprocess
import sys


def run(*args, env_extra=None):
    import os

    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "companion", *args], capture_output=True, text=True, env=env)


def test_info_prints_versions_device_profile_and_sources():
    result = run("info")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for key in ("companion:", "torch:", "device:", "profile:      quick", "data root:", "MNIST: embedded default"):
        assert key in out
    # the conftest's data root is empty: the recbole wheel is named but not fetched
    assert "MovieLens 100k: ratings from the recbole 1.2.1 wheel" in out
    assert "not yet fetched" in out


def test_info_reports_a_bad_profile():
    result = run("info", env_extra={"COMPANION_PROFILE": "huge"})
    assert result.returncode == 2
    assert "'huge' is not a profile" in result.stdout


def test_unknown_command():
    assert run("frobnicate").returncode == 2
