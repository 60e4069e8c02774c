"""Sphinx inventories of scikit-learn, NumPy and SciPy, made offline.

``sphinx.ext.intersphinx`` turns references such as
``:class:`~sklearn.linear_model.LogisticRegression``` and ``:func:`numpy.take```
into links to those projects' documentation, given each project's inventory
(``objects.inv``), which it normally downloads. The docs build without network
access, so :func:`write_inventories` writes these inventories itself, from the
public API of the installed packages, with the URL patterns of their
documentation sites:

- scikit-learn: every name in the ``__all__`` of a public module (without one:
  every public name that the module defines), linked to
  ``https://scikit-learn.org/stable/modules/generated/<name>.html`` under the
  name that scikit-learn documents it by (``sklearn.linear_model.LogisticRegression``,
  whatever private module defines it), plus the public methods of its classes;
- NumPy: the functions and classes of ``numpy``, ``numpy.linalg`` and
  ``numpy.fft``, linked to
  ``https://numpy.org/doc/stable/reference/generated/<name>.html`` (scalar
  types to their section of ``arrays.scalars.html``), and the methods and
  attributes of ``numpy.ndarray``;
- SciPy: the same from its public subpackages, linked to
  ``https://docs.scipy.org/doc/scipy/reference/generated/<name>.html``.

A name re-exported by another public module (``sklearn.utils.compute_class_weight``,
documented as ``sklearn.utils.class_weight.compute_class_weight``) is in the
inventory under both names, and both link to the documented page. Modules link
to their API reference pages. A reference to anything else stays plain text,
without a warning (the build does not set ``nitpicky``).
"""

import hashlib
import importlib
import inspect
import pkgutil
import warnings
import zlib
from pathlib import Path

# A project: its intersphinx name and title, the base URL of its documentation,
# the modules whose ``__all__`` is read (True: and their public submodules), and
# how a module and an object of it are linked (URLs relative to the base).
PROJECTS = {
    "sklearn": {
        "title": "scikit-learn",
        "url": "https://scikit-learn.org/stable/",
        "modules": {"sklearn": True},
        "module_uri": lambda name: (
            "api/index.html" if name == "sklearn" else f"api/{name}.html"
        ),
        "object_uri": lambda name, obj: f"modules/generated/{name}.html",
        "class_members": True,
    },
    "numpy": {
        "title": "NumPy",
        "url": "https://numpy.org/doc/stable/",
        "modules": {"numpy": False, "numpy.linalg": False, "numpy.fft": False},
        "module_uri": lambda name: {
            "numpy": "reference/index.html",
            "numpy.linalg": "reference/routines.linalg.html",
            "numpy.fft": "reference/routines.fft.html",
        }[name],
        "object_uri": lambda name, obj: _numpy_object_uri(name, obj),
        "class_members": False,
    },
    "scipy": {
        "title": "SciPy",
        "url": "https://docs.scipy.org/doc/scipy/",
        "modules": {"scipy": True},
        "module_uri": lambda name: (
            "reference/index.html"
            if name == "scipy"
            else f"reference/{name.removeprefix('scipy.')}.html"
        ),
        "object_uri": lambda name, obj: f"reference/generated/{name}.html",
        "class_members": False,
    },
}


def _numpy_object_uri(name, obj):
    import numpy as np

    if isinstance(obj, type) and issubclass(obj, np.generic):
        return f"reference/arrays.scalars.html#{name}"
    return f"reference/generated/{name}.html"


def _is_private(module_name):
    parts = module_name.split(".")
    excluded = ("tests", "conftest", "externals")
    return any(part.startswith("_") or part in excluded for part in parts)


def _import(module_name):
    try:
        return importlib.import_module(module_name)
    except Exception:  # an optional dependency missing, a module for tests only
        return None


def _public_modules(root, recursive):
    """The module ``root`` and, if ``recursive``, its public submodules."""
    module = _import(root)
    if module is None:
        return {}
    modules = {root: module}
    if recursive and hasattr(module, "__path__"):
        for info in pkgutil.iter_modules(module.__path__, root + "."):
            if not _is_private(info.name):
                modules.update(_public_modules(info.name, info.ispkg))
    return modules


def _documented_module(obj, modules, name):
    """The public module that documents ``obj``: where its definition is, less
    any private part of that module path (``sklearn.linear_model._logistic``
    gives ``sklearn.linear_model``), if that module exports it."""
    defined_in = getattr(obj, "__module__", None)
    if not isinstance(defined_in, str):
        return None
    parts = defined_in.split(".")
    for index, part in enumerate(parts):
        if part.startswith("_"):
            parts = parts[:index]
            break
    candidate = ".".join(parts)
    module = modules.get(candidate)
    if module is not None and name in _exported(module):
        return candidate
    return None


def _exported(module):
    """The names in ``module.__all__`` or, without one, its public names that
    it defines itself."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            name
            for name, value in vars(module).items()
            if not name.startswith("_")
            and getattr(value, "__module__", None) == module.__name__
        ]
    return names


def _objects(project):
    """``(name, role, uri)`` of every object of ``project``, sorted."""
    modules = {}
    for name, recursive in project["modules"].items():
        modules.update(_public_modules(name, recursive))
    root = next(iter(project["modules"]))
    documented = {}  # an object's id -> its documented dotted name
    listed = []  # (dotted name, object)
    for module_name, module in sorted(modules.items()):
        for name in _exported(module):
            obj = getattr(module, name, None)
            if obj is None or inspect.ismodule(obj) or not callable(obj):
                continue
            defined_in = getattr(obj, "__module__", None)
            if isinstance(defined_in, str) and defined_in.split(".")[0] != root:
                continue  # another project's object, such as a NumPy function
            home = _documented_module(obj, modules, name) or module_name
            # Of several names (numpy.abs, numpy.absolute), the object's own.
            if id(obj) not in documented or name == getattr(obj, "__name__", None):
                documented[id(obj)] = f"{home}.{name}"
            listed.append((f"{module_name}.{name}", obj))

    entries = {}
    for module_name in modules:
        if module_name in project["modules"] or module_name.count(".") == 1:
            entries[module_name] = ("py:module", project["module_uri"](module_name))
    for dotted_name, obj in listed:
        target = documented[id(obj)]
        uri = project["object_uri"](target, obj)
        role = "py:class" if isinstance(obj, type) else "py:function"
        entries.setdefault(dotted_name, (role, uri))
        if role == "py:class" and project["class_members"]:
            for member in dir(obj):
                if member.startswith("_"):
                    continue
                value = inspect.getattr_static(obj, member, None)
                member_role = "py:method" if callable(value) else "py:attribute"
                anchor = f"{uri}#{target}.{member}"
                entries.setdefault(f"{dotted_name}.{member}", (member_role, anchor))
    if project["title"] == "NumPy":
        import numpy as np

        for member in dir(np.ndarray):
            if not member.startswith("_"):
                value = inspect.getattr_static(np.ndarray, member)
                role = "py:method" if callable(value) else "py:attribute"
                uri = f"reference/generated/numpy.ndarray.{member}.html"
                entries[f"numpy.ndarray.{member}"] = (role, uri)
    return sorted((name, role, uri) for name, (role, uri) in entries.items())


def _inventory(title, version, objects):
    """The bytes of a Sphinx inventory (format version 2)."""
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {title}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    body = "".join(f"{name} {role} 1 {uri} -\n" for name, role, uri in objects)
    return header.encode() + zlib.compress(body.encode())


def write_inventories(folder):
    """Write the inventories into ``folder``; return ``intersphinx_mapping``.

    An inventory is rewritten only when the installed version of its package,
    or this file, changed since it was written.
    """
    folder = Path(folder)
    source = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    folder.mkdir(parents=True, exist_ok=True)
    mapping = {}
    for key, project in PROJECTS.items():
        version = importlib.import_module(key).__version__
        path = folder / f"{key}-{version}-{source}.inv"
        if not path.exists():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # deprecated modules, on import
                objects = _objects(project)
            path.write_bytes(_inventory(project["title"], version, objects))
        mapping[key] = (project["url"], str(path))
    return mapping
