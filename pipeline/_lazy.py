"""Lazy package exports (PEP 562): a package's public names are imported on first use, so importing the package (the
command line's ``--help``, Airflow's DAG parsing, a task that needs one stage) does not load every stage."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str],
                 namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``exports`` maps a public name to its relative module."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        loaded = importlib.import_module(module, package)
        value = getattr(loaded, name)
        namespace[name] = value  # later lookups skip this function
        # importing a submodule binds its name in the package: where that name is also one of its exports (the
        # function pipeline.tasks.maintenance in the module of that name), the export wins, whichever came first
        short = module.rpartition(".")[2]
        if exports.get(short) == module and namespace.get(short) is loaded:
            namespace[short] = getattr(loaded, short)
        return value

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
