"""Tests of the main job, ``python -m sksoftmax``; none uses the internet."""

import re
import subprocess
import sys
from importlib.metadata import entry_points

import joblib
import pytest
from conftest import subprocess_env

from sksoftmax import _cli, _datasets, fetch_fashion_mnist

pytestmark = pytest.mark.usefixtures("offline")

MIRROR_ENV = _datasets._MIRROR_ENV


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


def test_main_job_on_a_cached_dataset(fake_fashion_mnist, monkeypatch, tmp_path):
    """The cache alone is enough: the child process has no network."""
    monkeypatch.setenv(MIRROR_ENV, str(fake_fashion_mnist.folder))
    fetch_fashion_mnist(subset="all", data_home=tmp_path / "home")
    model_path = tmp_path / "model.joblib"

    result = run_main_job(
        *["--data-home", str(tmp_path / "home"), "--max-iter", "2"],
        *["--batch-size", "8", "--save", str(model_path)],
    )
    assert "Using the full Fashion-MNIST dataset." in result.stdout
    assert "Training on 30 images, testing on 20." in result.stdout
    check_report(result.stdout, n_epochs=2)
    assert result.stderr == ""

    model = joblib.load(model_path)
    X, y = fake_fashion_mnist.arrays["test"]
    assert model.predict(X).shape == y.shape
    assert model.n_iter_ == 2


@pytest.mark.real_data
def test_main_job_on_real_data_from_a_mirror(real_data_dir, tmp_path):
    result = run_main_job(
        *["--data-home", str(tmp_path), "--max-iter", "1"],
        **{MIRROR_ENV: str(real_data_dir)},
    )
    assert "Training on 60000 images, testing on 10000." in result.stdout
    assert check_report(result.stdout, n_epochs=1) > 0.75


def test_main_job_falls_back_to_the_sample(capsys, tmp_path):
    """No cache, no mirror, no host reachable: the bundled sample is used."""
    assert _cli.main(["--data-home", str(tmp_path), "--max-iter", "1"]) == 0
    out, err = capsys.readouterr()
    assert "Could not get the full Fashion-MNIST dataset" in err
    assert "Falling back to the small sample bundled with sksoftmax" in err
    assert "Training on 1200 images, testing on 300." in out
    assert check_report(out, n_epochs=1) > 0.5


@pytest.mark.parametrize("loss", ["squared_error", "absolute_error", "huber"])
def test_main_job_quiet_on_the_sample(capsys, loss):
    assert _cli.main(["--sample", "--quiet", "--loss", loss, "--max-iter", "1"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("Test accuracy: ") and err == ""
    check_report(out, n_epochs=0)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--loss", "hinge"], "invalid choice: 'hinge'"),
        (["--batch-size", "many"], "--batch-size: invalid"),
        (["--sample", "--max-iter", "0"], "'max_iter' parameter"),
    ],
)
def test_main_job_rejects_bad_options(capsys, args, message):
    with pytest.raises(SystemExit) as excinfo:
        _cli.main(args)
    assert excinfo.value.code == 2
    assert message in capsys.readouterr().err


def test_console_script_is_main():
    (script,) = entry_points(group="console_scripts", name="sksoftmax")
    assert script.load() is _cli.main
