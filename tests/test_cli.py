"""Tests of the main job, ``python -m sksoftmax``; none uses the internet."""

import inspect
import os
import re
import socket
import subprocess
import sys
import warnings
from importlib.metadata import entry_points

import joblib
import pytest
from conftest import subprocess_env

import sksoftmax
from sksoftmax import _cli, _datasets, fetch_fashion_mnist

pytestmark = pytest.mark.usefixtures("offline")

MIRROR_ENV = _datasets._MIRROR_ENV

# The main job passes --mirror on as fetch_fashion_mnist(..., mirror=...): the
# tests that let it reach the fetcher need that parameter.
needs_mirror_parameter = pytest.mark.skipif(
    "mirror" not in inspect.signature(fetch_fashion_mnist).parameters,
    reason="fetch_fashion_mnist has no mirror= parameter yet",
)


def closed_port_url():
    """A loopback URL that refuses connections: nothing listens on its port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def run_main_job(*args, **env):
    """Run ``python -m sksoftmax`` in a child process; return its output."""
    result = subprocess.run(
        [sys.executable, "-m", "sksoftmax", *args],
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result


def check_report(stdout, n_epochs):
    assert len(re.findall(r"^Epoch \d+: loss", stdout, re.MULTILINE)) == n_epochs
    accuracy = float(re.search(r"^Test accuracy: ([\d.]+)$", stdout, re.M)[1])
    assert 0 <= accuracy <= 1
    assert re.search(r"^Test log loss: [\d.]+$", stdout, re.MULTILINE)
    for name in ["T-shirt/top", "Ankle boot", "macro avg"]:
        assert name in stdout
    return accuracy


@needs_mirror_parameter
def test_main_job_on_a_cached_dataset(fake_fashion_mnist, tmp_path, capsys):
    """The cache alone is enough: no mirror is set and no host is tried."""
    home = tmp_path / "home"
    fetch_fashion_mnist(subset="all", data_home=home, mirror=fake_fashion_mnist.folder)
    model_path = tmp_path / "model.joblib"

    args = ["--data-home", str(home), "--max-iter", "2", "--batch-size", "8"]
    assert _cli.main([*args, "--save", str(model_path)]) == 0
    out, err = capsys.readouterr()
    assert "Using the full Fashion-MNIST dataset." in out
    assert "Training on 30 images, testing on 20." in out
    check_report(out, n_epochs=2)
    assert err == ""

    model = joblib.load(model_path)
    X, y = fake_fashion_mnist.arrays["test"]
    assert model.predict(X).shape == y.shape
    assert model.n_iter_ == 2


@needs_mirror_parameter
@pytest.mark.real_data
def test_main_job_on_real_data_from_a_mirror(real_data_dir, tmp_path):
    result = run_main_job(
        *["--data-home", str(tmp_path), "--max-iter", "1"],
        **{MIRROR_ENV: str(real_data_dir)},
    )
    assert "Training on 60000 images, testing on 10000." in result.stdout
    assert check_report(result.stdout, n_epochs=1) > 0.75


def check_fallback_message(err, mirror_given=False):
    """One sentence on one line with the reason, and no warnings.

    It names the ways to set a mirror only when none was set.
    """
    assert err.count("\n") == 1 and err.endswith(".\n"), err
    assert err.startswith(
        "Could not get the full Fashion-MNIST dataset (could not download "
        "train-images-idx3-ubyte.gz"
    )
    assert "falling back to the small sample bundled with sksoftmax" in err
    assert ("--mirror" in err) == (MIRROR_ENV in err) == (not mirror_given)
    assert "Warning" not in err and "Traceback" not in err


@needs_mirror_parameter
def test_main_job_falls_back_to_the_sample(capsys, tmp_path):
    """No cache, no mirror, no host reachable: the bundled sample is used."""
    assert _cli.main(["--data-home", str(tmp_path), "--max-iter", "1"]) == 0
    out, err = capsys.readouterr()
    check_fallback_message(err)
    assert "Training on 1200 images, testing on 300." in out
    assert check_report(out, n_epochs=1) > 0.5


@needs_mirror_parameter
@pytest.mark.parametrize("kind", ["closed port", "empty folder", "404"])
def test_main_job_falls_back_quietly_when_offline(
    capsys, http_server, monkeypatch, tmp_path, kind
):
    """A bad mirror and unreachable hosts: one sentence, no library warnings.

    The sentence gives the mirror's reason, and does not ask for a mirror.
    """
    monkeypatch.setattr(_datasets, "_BASE_URLS", (closed_port_url(),))
    (tmp_path / "empty").mkdir()
    mirror = {
        "closed port": closed_port_url(),
        "empty folder": str(tmp_path / "empty"),
        "404": http_server(tmp_path / "empty").url,
    }[kind]
    args = ["--mirror", mirror, "--data-home", str(tmp_path / "home")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _cli.main([*args, "--max-iter", "1", "--quiet"]) == 0
    assert [str(w.message) for w in caught] == []
    out, err = capsys.readouterr()
    check_fallback_message(err, mirror_given=True)
    url = f"{_datasets._mirror_url(mirror).rstrip('/')}/train-images-idx3-ubyte.gz"
    assert f"{url}: {'HTTP Error 404' if kind == '404' else ''}" in err
    check_report(out, n_epochs=0)


@needs_mirror_parameter
def test_main_job_falls_back_quietly_in_a_child_process(tmp_path):
    """The real hosts, out of reach through a dead proxy: no warning printed."""
    (tmp_path / "empty").mkdir()
    result = run_main_job(
        *["--mirror", str(tmp_path / "empty"), "--data-home", str(tmp_path)],
        *["--max-iter", "1", "--quiet"],
    )
    check_fallback_message(result.stderr, mirror_given=True)
    check_report(result.stdout, n_epochs=0)


@needs_mirror_parameter
@pytest.mark.parametrize("kind", ["folder", "url"])
def test_main_job_downloads_from_the_mirror_option(
    capsys, fake_fashion_mnist, http_server, tmp_path, kind
):
    folder = fake_fashion_mnist.folder
    mirror = str(folder) if kind == "folder" else http_server(folder).url
    home = tmp_path / "home"
    args = ["--mirror", mirror, "--data-home", str(home), "--batch-size", "8"]
    assert _cli.main([*args, "--max-iter", "1"]) == 0
    out, err = capsys.readouterr()
    assert "Using the full Fashion-MNIST dataset." in out
    assert "Training on 30 images, testing on 20." in out
    check_report(out, n_epochs=1)
    # Standard error shows the downloads' progress, and nothing else.
    shown = [line for line in err.replace("\r", "\n").splitlines() if line]
    assert {line.split(":")[0] for line in shown} == {
        f"Downloading {name}" for name in fake_fashion_mnist_files()
    }
    assert sorted(p.name for p in (home / "fashion_mnist").glob("*.npz")) == [
        "test.npz",
        "train.npz",
    ]


@needs_mirror_parameter
def test_main_job_says_that_it_rebuilds_a_corrupted_cache(fake_fashion_mnist, tmp_path):
    """The fetcher's warning is attributed to sksoftmax, whose warnings the main
    job shows, on any Python: from 3.12, comprehensions have no frame of their
    own, and a stack level counted through one pointed at scikit-learn's code."""
    home = tmp_path / "home"
    folder = fake_fashion_mnist.folder
    fetch_fashion_mnist(subset="all", data_home=home, mirror=folder)
    (home / "fashion_mnist" / "test.npz").write_text("junk")
    args = ["--data-home", str(home), "--mirror", str(folder), "--quiet"]
    with warnings.catch_warnings(record=True) as caught:
        assert _cli.main([*args, "--max-iter", "1"]) == 0
    (warning,) = caught
    message = str(warning.message)
    assert re.match(r"The cached .*test\.npz is corrupted .*rebuilding it", message)


def test_sample_option_skips_the_fetch(capsys, monkeypatch):
    def fetch(**_):
        raise AssertionError("fetched despite --sample")

    monkeypatch.setattr(_cli, "fetch_fashion_mnist", fetch)
    argv = ["--sample", "--mirror", "http://127.0.0.1:9/", "--max-iter", "1"]
    assert _cli.main(argv) == 0
    out, err = capsys.readouterr()
    assert "Using the bundled sample of Fashion-MNIST." in out and err == ""


@pytest.mark.parametrize("loss", ["squared_error", "absolute_error", "huber"])
def test_main_job_quiet_on_the_sample(capsys, loss):
    assert _cli.main(["--sample", "--quiet", "--loss", loss, "--max-iter", "1"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("Test accuracy: ") and err == ""
    check_report(out, n_epochs=0)


@pytest.fixture
def no_loading(monkeypatch):
    """Fail the test if the main job gets as far as loading data."""

    def load(*_):
        raise AssertionError("data loaded despite a bad option")

    monkeypatch.setattr(_cli, "_load_data", load)


@pytest.mark.usefixtures("no_loading")
@pytest.mark.parametrize(
    "args, message",
    [
        (["--loss", "hinge"], "invalid choice: 'hinge'"),
        (["--batch-size", "many"], "--batch-size: invalid"),
        (["--sample", "--max-iter", "0"], "'max_iter' parameter"),
        (["--max-iter", "0"], "'max_iter' parameter"),
        (["--batch-size", "-3"], "'batch_size' parameter"),
        (["--save", "{tmp}/missing/model.joblib"], "does not exist"),
        (["--save", "{tmp}/file/model.joblib"], "does not exist"),
        (["--save", "{tmp}"], "is a folder"),
        (["--data-home", "{tmp}/file"], "is not a folder"),
        (["--data-home", "{tmp}/file/home"], "cannot be created"),
        (["--mirror"], "expected one argument"),
        (["--mirror", "ftp://127.0.0.1/"], "unsupported scheme 'ftp'"),
    ],
)
def test_main_job_rejects_bad_options(capsys, tmp_path, args, message):
    (tmp_path / "file").write_text("not a folder")
    args = [arg.format(tmp=tmp_path) for arg in args]
    with pytest.raises(SystemExit) as excinfo:
        _cli.main(args)
    assert excinfo.value.code == 2
    out, err = capsys.readouterr()
    assert message in err and out == ""
    assert err.startswith("usage: sksoftmax")


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="needs a user whom file permissions restrict",
)
@pytest.mark.usefixtures("no_loading")
@pytest.mark.parametrize(
    "option, path, message",
    [
        ("--save", "locked/model.joblib", "is not writable"),
        ("--data-home", "locked", "is not writable"),
        ("--data-home", "locked/home", "cannot be created"),
    ],
)
def test_main_job_rejects_unwritable_folders(capsys, tmp_path, option, path, message):
    (tmp_path / "locked").mkdir(mode=0o500)
    with pytest.raises(SystemExit) as excinfo:
        _cli.main([option, str(tmp_path / path)])
    assert excinfo.value.code == 2
    assert message in capsys.readouterr().err


def test_help_documents_the_exit_status_and_the_mirror(capsys):
    with pytest.raises(SystemExit) as excinfo:
        _cli.main(["--help"])
    assert excinfo.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    for status in [
        "0 success",
        "1 runtime error",
        "2 invalid options",
        "130 interrupted",
    ]:
        assert status in help_text
    assert "--mirror URL_OR_DIR where to download the dataset from" in help_text
    assert MIRROR_ENV in help_text


def test_version(capsys):
    with pytest.raises(SystemExit) as excinfo:
        _cli.main(["--version"])
    assert excinfo.value.code == 0
    assert capsys.readouterr().out == f"sksoftmax {sksoftmax.__version__}\n"


def test_runtime_error_is_one_line_without_traceback(capsys, monkeypatch):
    def load(*_):
        raise ValueError("the data is broken:\n  here\n  and there\nSorry.")

    monkeypatch.setattr(_cli, "_load_data", load)
    assert _cli.main(["--sample"]) == 1
    out, err = capsys.readouterr()
    assert err == "sksoftmax: error: the data is broken: here; and there; Sorry.\n"
    assert out == ""


def test_keyboard_interrupt_exits_130_quietly(capsys, monkeypatch):
    def load(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli, "_load_data", load)
    assert _cli.main(["--sample"]) == 130
    assert capsys.readouterr() == ("", "")


def test_a_closed_pipe_ends_the_job_quietly():
    """The reader stops after the first line: exit 0, nothing on stderr."""
    process = subprocess.Popen(
        [sys.executable, "-m", "sksoftmax", "--sample", "--max-iter", "2"],
        env=subprocess_env(PYTHONUNBUFFERED="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().startswith("Using the bundled sample")
        process.stdout.close()  # later writes fail with EPIPE
        stderr = process.stderr.read()
        assert process.wait(timeout=120) == 0
    finally:
        process.kill()
        process.wait()
    assert stderr == ""


@pytest.mark.parametrize("unbuffered", ["1", ""])
def test_main_job_piped_into_head(unbuffered):
    result = subprocess.run(
        ["bash", "-c", "set -o pipefail; python -m sksoftmax --sample | head -n 2"],
        env=subprocess_env(PYTHONUNBUFFERED=unbuffered, PATH=os.environ["PATH"]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "Using the bundled sample of Fashion-MNIST."
    assert len(result.stdout.splitlines()) == 2
    assert "Traceback" not in result.stderr and "Error" not in result.stderr


def test_console_script_is_main():
    (script,) = entry_points(group="console_scripts", name="sksoftmax")
    assert script.load() is _cli.main


def fake_fashion_mnist_files():
    return [
        f"{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte.gz"
        for prefix in ("train", "t10k")
        for kind in ("images", "labels")
    ]
