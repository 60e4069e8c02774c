"""Sphinx configuration of the sksoftmax documentation.

Build it from the repository root, offline, with warnings as errors::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The gallery examples run during the build. They get Fashion-MNIST through
:func:`sksoftmax.fetch_fashion_mnist`, and the build never uses the network:

- ``SCIKIT_LEARN_DATA`` defaults to ``docs/_build/scikit_learn_data``, so the
  dataset cache is written inside the (git-ignored) build folder;
- ``SKSOFTMAX_FASHION_MNIST_MIRROR`` defaults to
  ``<repository>/../shared/datasets/fashion-mnist`` when that folder exists,
  so the fetcher copies the four official files from there;
- these two keep any value they already have, so a data home or mirror of your
  own is used instead;
- the HTTP(S) proxy is set to a closed local port (loopback addresses
  excepted), so that a download from the official hosts fails at once instead
  of reaching the internet; the examples then fall back to the sample bundled
  with the package, and say so. Set ``SKSOFTMAX_DOCS_ALLOW_DOWNLOAD=1`` to let
  the build download the dataset instead.

``python -m sphinx ... -D plot_gallery=0`` builds without running the examples.

Nothing else needs the network, at build time or to read the pages: MathJax
comes from the ``sphinx-mathjax-offline`` package and is copied into the build,
and the links to scikit-learn, NumPy and SciPy use inventories written from the
installed packages (``offline_inventories.py``) instead of downloaded ones.
``check_html.py`` checks the built pages.
"""

import os
import subprocess
import sys
from pathlib import Path

from threadpoolctl import threadpool_limits

import sksoftmax

DOCS = Path(__file__).resolve().parent
REPOSITORY = DOCS.parent

sys.path.insert(0, str(DOCS))
from make_figures import main as make_figures  # noqa: E402
from offline_inventories import write_inventories  # noqa: E402

# The figures of the performance page and the user guide (docs/_figures), drawn
# from the benchmarks' saved figures and from the library itself.
make_figures()

# -- Data for the gallery, offline ---------------------------------------------

os.environ.setdefault("SCIKIT_LEARN_DATA", str(DOCS / "_build" / "scikit_learn_data"))
_shared_data = REPOSITORY.parent / "shared" / "datasets" / "fashion-mnist"
if _shared_data.is_dir():
    os.environ.setdefault("SKSOFTMAX_FASHION_MNIST_MIRROR", str(_shared_data))
if os.environ.get("SKSOFTMAX_DOCS_ALLOW_DOWNLOAD", "").lower() not in ("1", "true"):
    for _name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        os.environ[_name] = "http://127.0.0.1:9"  # nothing listens on port 9
    for _name in ("no_proxy", "NO_PROXY"):
        os.environ[_name] = "localhost,127.0.0.1,::1"

# -- Gallery timing ------------------------------------------------------------

# One BLAS thread for the examples, which run in this process. Their matrix
# products are small (minibatches of 256 rows), gain little from threads, and on
# a machine with other work running, OpenBLAS threads waiting for a busy core
# made them ten times slower.
threadpool_limits(limits=1, user_api="blas")

# -- Project information -------------------------------------------------------

project = "sksoftmax"
author = "The sksoftmax developers"
copyright = author
version = release = sksoftmax.__version__

# -- General configuration -----------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    # MathJax served from the build (_static/mathjax/), not from a CDN.
    "sphinx-mathjax-offline",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
templates_path = ["_templates"]
# _figures holds drawn images and the suite's table, included by pages.
exclude_patterns = ["_build", "_figures"]
default_role = "literal"

# Links to scikit-learn's, NumPy's and SciPy's documentation, for references
# such as :class:`~sklearn.linear_model.LogisticRegression` and the "See Also"
# entries, through inventories made from the installed packages (no download).
intersphinx_mapping = write_inventories(DOCS / "_build" / "inventories")

# "fit()", not "SoftmaxRegression.fit()", in the page's table of contents.
toc_object_entries_show_parents = "hide"

autosummary_generate = True
autodoc_typehints = "none"

# The class template (_templates/autosummary/class.rst) lists the members;
# numpydoc must not list them a second time.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Check the docstrings while documenting them, with the same exceptions as
# tests/test_docstrings.py (which also requires See Also and Examples sections
# on public classes and functions). GL08 would flag the loss methods that
# subclasses override without a docstring: they are shown, and were checked,
# with the docstrings of BaseLoss.
numpydoc_validation_checks = {"all", "ES01", "GL08", "SA01", "SA04", "EX01", "RT02"}

# -- Sphinx-Gallery ------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    # By title: "A first model..." (plot_quickstart.py) comes first.
    "within_subsection_order": "ExampleTitleSortKey",
    # "Examples using ..." sections of the API pages (see _templates/).
    "doc_module": ("sksoftmax",),
    "backreferences_dir": "generated/backreferences",
    "remove_config_comments": True,
    "download_all_examples": False,
    # No sg_execution_times pages: they load jQuery, Bootstrap and DataTables
    # from CDNs.
    "write_computation_times": False,
}

# -- HTML output ---------------------------------------------------------------

PROJECT_URL = "https://github.com/sksoftmax/sksoftmax"  # as in pyproject.toml

html_theme = "pydata_sphinx_theme"
html_theme_options = {
    # The navbar: the entries of index.rst's toctree, in its order.
    "navbar_align": "left",
    "header_links_before_dropdown": 6,
    "navigation_with_keys": False,
    "show_prev_next": False,
    "secondary_sidebar_items": ["page-toc"],
    "icon_links": [
        {"name": "GitHub", "url": PROJECT_URL, "icon": "fa-brands fa-github"},
    ],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_static_path = ["_static"]
html_css_files = ["sksoftmax.css"]
html_title = f"sksoftmax {release}"
html_show_sourcelink = False

# -- Build steps ---------------------------------------------------------------


def _skip_scikit_learn_members(app, what, name, obj, skip, options):
    """Leave out the methods that come from scikit-learn's base classes.

    ``get_params``, ``set_params``, ``score`` and the metadata-routing methods
    are documented by scikit-learn; their docstrings link into its user guide,
    which an offline build cannot resolve.
    """
    module = getattr(obj, "__module__", None) or ""
    # None: the default decision (autosummary, which lists the methods of the
    # class pages, takes ``skip`` itself as a decision to show the member).
    return True if module.startswith("sklearn.") else None


def _write_cli_output(app):
    """Run the command-line job as cli.rst shows it, and keep what it prints."""
    folder = Path(app.srcdir) / "generated" / "cli"
    folder.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, COLUMNS="80", PYTHON_COLORS="0", NO_COLOR="1")
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    for filename, arguments in {
        "help.txt": ["--help"],
        "sample_run.txt": ["--sample", "--quiet"],
    }.items():
        result = subprocess.run(
            [sys.executable, "-m", "sksoftmax", *arguments],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        (folder / filename).write_text(result.stdout, encoding="utf-8")


def setup(app):
    app.connect("builder-inited", _write_cli_output)
    app.connect("autodoc-skip-member", _skip_scikit_learn_members)
