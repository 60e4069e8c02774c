"""The main job: train SoftmaxRegression on Fashion-MNIST and score it on the test set.

Run as ``python -m sksoftmax`` or ``sksoftmax``; ``--help`` lists the options.
"""

import argparse
import sys

import joblib
from sklearn.metrics import accuracy_score, classification_report, log_loss
from sklearn.utils._param_validation import InvalidParameterError

from sksoftmax._datasets import fetch_fashion_mnist, load_fashion_mnist_sample
from sksoftmax._losses import LOSSES
from sksoftmax._softmax import SoftmaxRegression


def main(argv=None):
    """Run the main job; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    say = (lambda *_: None) if args.quiet else print

    train, test = _load_data(args, say)
    say(f"Training on {len(train.target)} images, testing on {len(test.target)}.")
    model = SoftmaxRegression(
        loss=args.loss,
        max_iter=args.max_iter,
        batch_size=args.batch_size,
        random_state=args.random_state,
        verbose=0 if args.quiet else 1,
    )
    try:
        model.fit(train.data, train.target)
    except InvalidParameterError as exc:  # such as --max-iter 0
        parser.error(str(exc))

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
    return 0


def _parser():
    parser = argparse.ArgumentParser(
        prog="sksoftmax",
        description=(
            "Train a softmax regression on Fashion-MNIST (downloaded and cached "
            "on first use) and report its test accuracy, log loss and per-class "
            "scores. Without the full dataset, the bundled sample is used."
        ),
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
        "--sample",
        action="store_true",
        help="use the bundled sample even if the full dataset is available",
    )
    parser.add_argument("--save", metavar="PATH", help="save the fitted model (joblib)")
    parser.add_argument(
        "--quiet", action="store_true", help="print the scores only, no progress"
    )
    return parser


def _int_or_auto(text):
    return text if text == "auto" else int(text)


def _load_data(args, say):
    """Return the train and test Bunches: the full dataset, else the sample."""
    if not args.sample:
        say("Loading Fashion-MNIST (downloaded on first use, then cached)...")
        try:
            train = fetch_fashion_mnist(subset="train", data_home=args.data_home)
            test = fetch_fashion_mnist(subset="test", data_home=args.data_home)
            say("Using the full Fashion-MNIST dataset.")
            return train, test
        except OSError as exc:
            print(
                f"Could not get the full Fashion-MNIST dataset: {exc}\n"
                "Falling back to the small sample bundled with sksoftmax; its "
                "scores are not comparable with the full dataset's.",
                file=sys.stderr,
            )
    else:
        say("Using the bundled sample of Fashion-MNIST.")
    return (
        load_fashion_mnist_sample(subset="train"),
        load_fashion_mnist_sample(subset="test"),
    )
