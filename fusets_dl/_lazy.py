"""Module-level ``__getattr__`` that imports a submodule on first use (PEP 562).

``import fusets_dl`` then costs xarray and the accessor only; torch, Dask's
array stack and matplotlib load when a name that needs them is first used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def attach(package: str, exports: Mapping[str, str], submodules: Iterable[str] = ()) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping
        Public name -> module (relative to ``package``, e.g. ``".training.loop"``) that defines it.
    submodules : iterable of str
        Subpackages and modules reachable as attributes (``fdl.evaluation``).

    Returns
    -------
    tuple
        The ``__getattr__`` and ``__dir__`` functions to assign in the package.
    """
    subs = frozenset(submodules)

    def __getattr__(name: str) -> Any:
        if name in exports:
            value = getattr(importlib.import_module(exports[name], package), name)
        elif name in subs:
            value = importlib.import_module(f".{name}", package)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        globals_ = importlib.import_module(package).__dict__
        globals_[name] = value  # later look-ups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(exports) | subs | set(importlib.import_module(package).__dict__))

    return __getattr__, __dir__
