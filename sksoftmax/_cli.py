"""The main job: train SoftmaxRegression on Fashion-MNIST and score it on the test set.

Run as ``python -m sksoftmax`` or ``sksoftmax``; ``--help`` lists the options.
"""

import argparse
import os
import sys
import warnings
from pathlib import Path

import joblib
from sklearn.metrics import accuracy_score, classification_report, log_loss
from sklearn.utils._param_validation import InvalidParameterError

import sksoftmax
from sksoftmax._datasets import (
    _MIRROR_ENV,
    _MIRROR_HINT,
    _CacheError,
    _chosen_mirror,
    _mirror_url,
    fetch_fashion_mnist,
    load_fashion_mnist_sample,
)
from sksoftmax._losses import LOSSES
from sksoftmax._softmax import SoftmaxRegression

_PROG = "sksoftmax"

EXIT_STATUS = """\
exit status:
  0    success (also when the reader of the output stops early, as head does)
  1    runtime error, reported as one line on the standard error
  2    invalid options (usage error), detected before any data is loaded
  130  interrupted (Ctrl-C)
"""


def main(argv=None):
    """Run the main job; return the exit status (see ``EXIT_STATUS``)."""
    parser = _parser()
    args = parser.parse_args(argv)
    # Every option is checked before any data is loaded: a mistake costs
    # nothing, and it is a usage error (exit status 2), not a runtime one.
    model = _check_options(args, parser)
    try:
        _run(args, model)
        # Flush here, so that a closed pipe is reported here, not at exit.
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader of the output stopped early (``sksoftmax | head``): not an
        # error. Python would flush stdout again at exit and fail again, so
        # send what is left to /dev/null; see "Note on SIGPIPE" in the docs of
        # the signal module.
        _silence_stdout()
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        print(f"{_PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    return 0


def _run(args, model):
    say = (lambda *_: None) if args.quiet else print
    train, test = _load_data(args, say)
    say(f"Training on {len(train.target)} images, testing on {len(test.target)}.")
    model.fit(train.data, train.target)

    proba = model.predict_proba(test.data)
    predicted = model.predict(test.data)
    print(f"Test accuracy: {accuracy_score(test.target, predicted):.4f}")
    print(f"Test log loss: {log_loss(test.target, proba, labels=model.classes_):.4f}")
    print(
        classification_report(
            test.target,
            predicted,
            labels=range(len(test.target_names)),
            target_names=test.target_names,
            digits=3,
            zero_division=0,
        )
    )
    if args.save:
        joblib.dump(model, args.save)
        say(f"Saved the fitted model to {args.save}")


def _one_line(exc):
    """The message of `exc` on one line: its lines joined with "; "."""
    message = ""
    for line in str(exc).splitlines():
        if line.strip():
            sep = " " if not message or message.endswith(":") else "; "
            message += sep + line.strip()
    return message.strip() or type(exc).__name__


def _silence_stdout():
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):  # stdout is not a real file
        pass


def _check_options(args, parser):
    """Return the estimator built from `args`; exit with status 2 on a bad option."""
    model = SoftmaxRegression(
        loss=args.loss,
        max_iter=args.max_iter,
        batch_size=args.batch_size,
        random_state=args.random_state,
        verbose=0 if args.quiet else 1,
    )
    try:
        model._validate_params()
    except InvalidParameterError as exc:  # such as --max-iter 0
        parser.error(str(exc))
    if args.save is not None:
        save = Path(args.save).expanduser()
        folder = save.parent
        if save.is_dir():
            parser.error(f"--save: {args.save} is a folder, not a file name")
        if not folder.is_dir():
            parser.error(f"--save: the folder {str(folder)!r} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            parser.error(f"--save: the folder {str(folder)!r} is not writable")
    if args.mirror is not None:
        try:
            _mirror_url(args.mirror)  # the fetcher's own check of the scheme
        except ValueError as exc:
            parser.error(f"--mirror: {exc}")
    if args.data_home is not None:
        problem = _unusable_folder(Path(args.data_home).expanduser())
        if problem:
            parser.error(f"--data-home: {args.data_home!r} {problem}")
    return model


def _unusable_folder(folder):
    """Why `folder` cannot be used (or created) as a writable folder, or None."""
    if folder.exists():
        if not folder.is_dir():
            return "is not a folder"
        if not os.access(folder, os.W_OK | os.X_OK):
            return "is not writable"
        return None
    # It would be created: its nearest existing ancestor must allow that.
    ancestor = folder.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"cannot be created: {str(ancestor)!r} is not a folder"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"cannot be created: {str(ancestor)!r} is not writable"
    return None


def _parser():
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description=(
            "Train a softmax regression on Fashion-MNIST (downloaded and cached "
            "on first use) and report its test accuracy, log loss and per-class "
            "scores. Without the full dataset, the bundled sample is used."
        ),
        epilog=EXIT_STATUS,
        formatter_class=_HelpFormatter,
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {sksoftmax.__version__}",
    )
    defaults = SoftmaxRegression().get_params()
    parser.add_argument(
        "--loss",
        choices=list(LOSSES),
        default=defaults["loss"],
        help="the training loss (default: %(default)s)",
    )
    parser.add_argument(
        "--max-iter",
        type=_int_or_auto,
        metavar="N",
        default=defaults["max_iter"],
        help="number of epochs, an integer or 'auto' (default: %(default)s)",
    )
    parser.add_argument(
        "--batch-size",
        type=_int_or_auto,
        metavar="N",
        default=defaults["batch_size"],
        help="minibatch size, an integer or 'auto' (default: %(default)s)",
    )
    parser.add_argument(
        "--random-state",
        type=int,
        default=0,
        metavar="SEED",
        help="seed of the shuffling (default: %(default)s)",
    )
    parser.add_argument(
        "--data-home",
        metavar="DIR",
        help="where the dataset is cached (default: scikit-learn's data home)",
    )
    parser.add_argument(
        "--mirror",
        metavar="URL_OR_DIR",
        help=(
            "where to download the dataset from before the official hosts: a "
            "base URL (http, https, file) or a local folder holding the four "
            f".gz files (default: the environment variable {_MIRROR_ENV}, if set)"
        ),
    )
    parser.add_argument(
        "--sample",
        action="store_true",
        help="use the bundled sample even if the full dataset is available",
    )
    parser.add_argument("--save", metavar="PATH", help="save the fitted model (joblib)")
    parser.add_argument(
        "--quiet", action="store_true", help="print the scores only, no progress"
    )
    return parser


class _HelpFormatter(argparse.HelpFormatter):
    """Wrap the description as usual, but print the exit status table as is."""

    def _fill_text(self, text, width, indent):
        if text == EXIT_STATUS:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def _int_or_auto(text):
    return text if text == "auto" else int(text)


def _load_data(args, say):
    """Return the train and test Bunches: the full dataset, else the sample."""
    if not args.sample:
        say("Loading Fashion-MNIST (downloaded on first use, then cached)...")
        try:
            # Only the sentence below explains a failure: other libraries'
            # warnings are silenced; sksoftmax's own (a retried download, a
            # corrupted cache) say what happens meanwhile and are kept.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                warnings.filterwarnings("default", module=r"sksoftmax\b")
                train, test = (
                    fetch_fashion_mnist(
                        subset=subset,
                        data_home=args.data_home,
                        mirror=args.mirror,
                        progress=not args.quiet,  # as torchvision users expect
                    )
                    for subset in ("train", "test")
                )
            say("Using the full Fashion-MNIST dataset.")
            return train, test
        except OSError as exc:
            # What failed and why, for every source tried, on one line. The
            # fetcher's hint names mirror=; the main job's own ways are below.
            reason = _one_line(exc).replace(_MIRROR_HINT, "").rstrip(":;. ")
            reason = reason[:1].lower() + reason[1:]
            hint = (
                f"; name a mirror with --mirror or the {_MIRROR_ENV} environment"
                " variable"
            )
            if _chosen_mirror(args.mirror) or isinstance(exc, _CacheError):
                hint = ""  # one was set, or none would help (such as a full disk)
            print(
                "Could not get the full Fashion-MNIST dataset"
                + (f" ({reason})" if reason else "")
                + ", so falling back to the small sample bundled with sksoftmax, "
                f"whose scores are not comparable with the full dataset's{hint}.",
                file=sys.stderr,
            )
    else:
        say("Using the bundled sample of Fashion-MNIST.")
    return (
        load_fashion_mnist_sample(subset="train"),
        load_fashion_mnist_sample(subset="test"),
    )
