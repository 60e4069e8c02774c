"""Check the built HTML documentation.

Usage, after building the docs into ``docs/_build/html``::

    python docs/check_html.py docs/_build/html

It checks that

- no page contains the text ``site-packages`` (a path of the machine that built
  the docs, such as a signature default or a warning printed by an example);
- no page shows LaTeX that MathJax does not render: ``\\(`` or ``\\[`` in the
  text outside the ``math`` elements that MathJax processes (scripts and styles
  are not text);
- no page loads a script, stylesheet or image from the network: the docs work
  offline, MathJax included;
- every page with math loads MathJax from a file of the build;
- every example page of the gallery (``auto_examples/*.html`` but the index)
  shows at least one image, so its figures were made;
- every example page says it ran on the full Fashion-MNIST, when the build had
  the official files (``SKSOFTMAX_FASHION_MNIST_MIRROR`` is set, as in CI);
- the performance page (``performance.html``) shows its figures, drawn by
  ``docs/make_figures.py`` from ``benchmarks/results``.

It prints each check as passed or failed, with the pages that fail it,
and exits with status 1 if one failed (2 if the folder holds no built docs).
"""

import argparse
import os
import sys
from html.parser import HTMLParser
from pathlib import Path

# What the examples print when they run on the full dataset.
FULL_DATA = "Data: the full Fashion-MNIST"
PERFORMANCE_FIGURES = ("perf_suite.png", "perf_epoch.png", "perf_scaling.png")
# Elements without an end tag.
VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
    "param", "source", "track", "wbr",
}  # fmt: skip
# Elements whose content is not text shown on the page.
NOT_TEXT = {"script", "style", "template", "textarea"}
UNRENDERED_MATH = ("\\(", "\\[")
MAX_REPORTED = 10


class Page(HTMLParser):
    """What the checks need of one HTML page."""

    def __init__(self, path):
        super().__init__(convert_charrefs=True)
        self.path = path
        self.stack = []  # (tag, is math or not text) of the open elements
        self.text_outside_math = []
        self.images = []  # src of each <img>
        self.figures = 0  # <figure> elements and elements of class "figure"
        self.remote_assets = []  # (tag, URL)
        self.scripts = []  # src of each <script>
        self.math = 0  # elements of class "math"
        self.feed(path.read_text(encoding="utf-8"))
        self.close()

    def _hidden(self):
        return any(hidden for _, hidden in self.stack)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "img":
            self.images.append(attrs.get("src") or "")
        if tag == "figure" or "figure" in classes:
            self.figures += 1
        if tag == "script" and attrs.get("src"):
            self.scripts.append(attrs["src"])
        if "math" in classes:
            self.math += 1
        url = None
        if tag in ("script", "img", "iframe"):
            url = attrs.get("src")
        elif tag == "link" and "stylesheet" in (attrs.get("rel") or "").split():
            url = attrs.get("href")
        if url and url.lower().startswith(("http://", "https://", "//")):
            self.remote_assets.append((tag, url))
        if tag not in VOID:
            hidden = tag in NOT_TEXT or "math" in classes
            self.stack.append((tag, hidden))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if any(open_tag == tag for open_tag, _ in self.stack):
            while self.stack and self.stack.pop()[0] != tag:
                pass

    def handle_data(self, data):
        if not self._hidden():
            self.text_outside_math.append(data)


def _excerpt(text, needle, width=60):
    index = text.find(needle)
    start = max(index - width, 0)
    return " ".join(text[start : index + len(needle) + width].split())


def check_site_packages(pages, root):
    """No page contains 'site-packages'."""
    failures = []
    for path in pages:
        text = path.read_text(encoding="utf-8")
        if "site-packages" in text:
            excerpt = _excerpt(text, "site-packages")
            failures.append(f"{_name(path, root)}: ...{excerpt}...")
    return failures


def check_unrendered_math(pages, root):
    """No page shows unrendered math: '\\(' or '\\[' outside math elements."""
    failures = []
    for path in pages:
        text = "".join(_parse(path).text_outside_math)
        for needle in UNRENDERED_MATH:
            if needle in text:
                failures.append(f"{_name(path, root)}: ...{_excerpt(text, needle)}...")
                break
    return failures


def check_offline_assets(pages, root):
    """No page loads a script, stylesheet or image from the network."""
    failures = []
    for path in pages:
        for tag, url in _parse(path).remote_assets:
            failures.append(f"{_name(path, root)}: <{tag}> from {url}")
    return failures


def check_local_mathjax(pages, root):
    """Every page with math loads MathJax from the build."""
    failures = []
    for path in pages:
        page = _parse(path)
        if page.math and not any(
            "mathjax" in src.lower() and (path.parent / src.split("?")[0]).is_file()
            for src in page.scripts
        ):
            failures.append(f"{_name(path, root)}: math, but no local MathJax script")
    return failures


def _shown_images(path):
    """The images of a page whose file is in the build (or inline data)."""
    shown = []
    for src in _parse(path).images:
        if src.startswith("data:"):
            shown.append(src)
        elif src and not src.startswith(("http://", "https://", "//")):
            if (path.parent / src.split("#")[0].split("?")[0]).is_file():
                shown.append(src)
    return shown


def check_gallery_images(pages, root):
    """Every example page of the gallery shows at least one image."""
    examples = [
        path
        for path in sorted((root / "auto_examples").glob("*.html"))
        if path.name not in ("index.html", "sg_execution_times.html")
    ]
    if not examples:
        return ["no example pages in auto_examples/ (was the gallery built?)"]
    return [
        f"{_name(path, root)}: no image (was it built with -D plot_gallery=0?)"
        for path in examples
        if not _shown_images(path)
    ]


def check_gallery_full_data(pages, root):
    """Every example ran on the full dataset, when the build had it."""
    if not os.environ.get("SKSOFTMAX_FASHION_MNIST_MIRROR"):
        return []  # the examples may fall back to the sample, and say so
    return [
        f"{_name(path, root)}: does not say {FULL_DATA!r}"
        for path in sorted((root / "auto_examples").glob("plot_*.html"))
        if FULL_DATA not in path.read_text(encoding="utf-8")
    ]


def check_performance_figures(pages, root):
    """The performance page shows its figures."""
    path = root / "performance.html"
    if not path.is_file():
        return ["performance.html is missing"]
    shown = " ".join(_shown_images(path))
    return [
        f"performance.html: {figure} is not shown (are benchmarks/results/*.json"
        " there?)"
        for figure in PERFORMANCE_FIGURES
        if figure not in shown
    ]


_PARSED = {}


def _parse(path):
    if path not in _PARSED:
        _PARSED[path] = Page(path)
    return _PARSED[path]


def _name(path, root):
    return path.relative_to(root).as_posix()


def _pages(root):
    """The HTML pages of the build, without the theme's templates."""
    return sorted(
        path
        for path in root.rglob("*.html")
        if not any(
            part.startswith(".") or part == "_static"
            for part in path.relative_to(root).parts[:-1]
        )
    )


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("html", type=Path, help="the build folder, docs/_build/html")
    args = parser.parse_args(argv)
    root = args.html.resolve()
    if not (root / "index.html").is_file():
        message = f"check_html: no index.html in {root}: build the docs first"
        print(message, file=sys.stderr)
        return 2

    checks = [
        check_site_packages,
        check_unrendered_math,
        check_offline_assets,
        check_local_mathjax,
        check_gallery_images,
        check_gallery_full_data,
        check_performance_figures,
    ]
    pages = _pages(root)
    print(f"check_html: {len(pages)} pages in {root}")
    failed = []
    for check in checks:
        summary = check.__doc__.splitlines()[0]
        failures = check(pages, root)
        print(f"{'FAILED ' if failures else 'passed '} {summary}")
        for failure in failures[:MAX_REPORTED]:
            print(f"           {failure}")
        if len(failures) > MAX_REPORTED:
            print(f"           and {len(failures) - MAX_REPORTED} more")
        if failures:
            failed.append(check.__name__)
    if failed:
        print(f"check_html: {len(failed)} check(s) failed: {', '.join(failed)}")
        return 1
    print("check_html: all checks that ran passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
