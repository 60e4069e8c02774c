"""Build ``sksoftmax/data/fashion_mnist_sample.npz`` from the real Fashion-MNIST.

The sample is stratified and reproducible: 120 images of each class from the
training set and 30 of each class from the test set, kept in their original
order. Their positions in the official files are stored alongside
(``train_index``, ``test_index``) so that the sample can be checked against
the real data.

Usage (the full dataset is fetched as by ``sksoftmax.fetch_fashion_mnist``;
set ``SKSOFTMAX_FASHION_MNIST_MIRROR`` to a folder holding the four official
``.gz`` files to work offline)::

    python benchmarks/make_fashion_mnist_sample.py [--data-home DIR]
"""

import argparse
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from sksoftmax import fetch_fashion_mnist

SIZES = {"train": 1200, "test": 300}
OUTPUT = Path(__file__).parents[1] / "sksoftmax" / "data" / "fashion_mnist_sample.npz"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-home", help="scikit-learn data home (cache)")
    args = parser.parse_args()

    arrays = {}
    for subset, size in SIZES.items():
        X, y = fetch_fashion_mnist(
            subset=subset, data_home=args.data_home, return_X_y=True
        )
        index, _ = train_test_split(
            np.arange(len(y)), train_size=size, stratify=y, random_state=0
        )
        index = np.sort(index)
        arrays[f"{subset}_data"] = X[index]
        arrays[f"{subset}_target"] = y[index].astype(np.uint8)
        arrays[f"{subset}_index"] = index.astype(np.int32)
        print(f"{subset}: {np.bincount(y[index]).tolist()} images per class")

    np.savez_compressed(OUTPUT, **arrays)
    print(f"Wrote {OUTPUT} ({OUTPUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
