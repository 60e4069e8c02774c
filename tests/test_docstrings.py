"""Public docstrings follow numpydoc, and their examples run as written."""

import doctest
import importlib
import inspect

import pytest

import sksoftmax
import sksoftmax.losses

numpydoc_validate = pytest.importorskip("numpydoc.validate")

PUBLIC = [
    f"sksoftmax.{name}"
    for name in sksoftmax.__all__
    if not inspect.ismodule(getattr(sksoftmax, name))  # sksoftmax.losses: below
] + [f"sksoftmax.losses.{name}" for name in sksoftmax.losses.__all__]
# GL08: private helpers; ES01: an extended summary is not required; SA01/EX01
# are required for public objects only (checked below); RT02 conflicts with
# numpydoc's own "self : object" convention for fit.
IGNORED = {"ES01", "GL08", "SA01", "SA04", "EX01", "RT02"}


def _public_objects():
    for path in PUBLIC:
        module, name = path.rsplit(".", 1)
        obj = getattr(importlib.import_module(module), name)
        yield path, obj
        if inspect.isclass(obj):
            for method, member in vars(obj).items():
                if not method.startswith("_") and callable(member):
                    yield f"{path}.{method}", member


@pytest.mark.parametrize("path", [path for path, _ in _public_objects()])
def test_numpydoc(path):
    errors = [
        f"{code}: {message}"
        for code, message in numpydoc_validate.validate(path)["errors"]
        if code not in IGNORED
    ]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("path", PUBLIC)
def test_public_objects_have_a_runnable_example(path):
    module, name = path.rsplit(".", 1)
    obj = getattr(importlib.import_module(module), name)
    tests = doctest.DocTestFinder(recurse=False).find(obj, path)
    examples = [example for test in tests for example in test.examples]
    assert examples, f"{path} has no Examples section"
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    assert runner.failures == 0, f"{path}: a docstring example failed (see output)"
