"""The one way regwire reads a YAML file it is given (sources, taxonomy, alert definitions): :func:`load_yaml`.

* libyaml's loader (``yaml.CSafeLoader``) when PyYAML was built with it — ten times faster on the packaged taxonomy,
  which every start of the tagger reads — and the pure-Python safe loader otherwise; safe tags only either way;
* a key written twice in one mapping is an error (YAML says keys are unique; PyYAML silently keeps the last one),
  with the line of the second;
* bounded: at most :data:`MAX_DEPTH` levels of nesting and :data:`MAX_NODES` values once aliases are expanded (a
  "billion laughs" file is a few lines), checked before anything walks the data; recursive aliases are refused;
* the text must be UTF-8;
* every problem is raised as the caller's error (a :class:`~pipeline.errors.ConfigError` subclass) built from one
  message that says where: ``line 3, column 5: duplicate key 'name'``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

#: nesting levels (mappings and lists) a configuration file may use; the deepest packaged file uses 4
MAX_DEPTH = 32
#: values (mappings, lists and scalars) after expanding aliases; the packaged taxonomy has about 9,000
MAX_NODES = 1_000_000

_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
ErrorFactory = Callable[[str], Exception]


class _UniqueKeyLoader(_Base):
    """The safe loader, refusing a key written twice in one mapping (merge keys ``<<`` may still be overridden)."""


def _construct_mapping(loader: Any, node: yaml.MappingNode) -> Iterator[dict[Any, Any]]:
    # a generator, as PyYAML's own: nested mappings are then built one after another, not by recursion
    seen: dict[Any, yaml.Node] = {}
    for key_node, _value in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.setdefault(key, key_node)
        except TypeError:  # an unhashable key: the constructor below says so
            continue
        if first is not key_node:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {first.start_mark.line + 1})",
                key_node.start_mark)
    data: dict[Any, Any] = {}
    yield data
    data.update(loader.construct_mapping(node))


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""


def _problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    if problem is None:
        return str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    return f"{context}: {problem}" if context and "duplicate" not in problem else str(problem)


def _measure(root: Any) -> tuple[int, int]:
    """(depth, values) of ``root`` with aliases expanded, without expanding them (a shared list counts each time it
    is reached, computed once); a list or mapping that contains itself raises ``ValueError``."""
    sizes: dict[int, tuple[int, int]] = {}
    ancestors: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        obj, finished = stack.pop()
        if not isinstance(obj, dict | list):
            continue
        children = [c for c in (obj.values() if isinstance(obj, dict) else obj) if isinstance(c, dict | list)]
        if finished:
            depth = 1 + max((sizes[id(c)][0] for c in children), default=0)
            count = 1 + len(obj) + sum(sizes[id(c)][1] for c in children)
            sizes[id(obj)] = (depth, count)
            ancestors.discard(id(obj))
            if depth > MAX_DEPTH or count > MAX_NODES:  # stop early: the rest cannot make it smaller
                return depth, count
            continue
        if id(obj) in sizes:
            continue
        if id(obj) in ancestors:
            raise ValueError("a recursive alias (a list or mapping that contains itself)")
        ancestors.add(id(obj))
        stack.append((obj, True))
        stack.extend((c, False) for c in children)
    return sizes.get(id(root), (0, 1))


def parse_yaml(text: str, error: ErrorFactory) -> Any:
    """Parse YAML text with the rules above; ``error(message)`` builds what is raised."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a safe loader (CSafeLoader or SafeLoader)
    except yaml.YAMLError as exc:
        raise error(f"invalid YAML: {_where(exc)}{_problem(exc)}") from exc
    except (ValueError, OverflowError, RecursionError) as exc:  # e.g. a timestamp like 2026-13-45
        raise error(f"invalid YAML: {type(exc).__name__}: {exc}") from exc
    try:
        depth, count = _measure(data)
    except ValueError as exc:
        raise error(f"not accepted: {exc}") from exc
    if depth > MAX_DEPTH:
        raise error(f"nested more than {MAX_DEPTH} levels deep")
    if count > MAX_NODES:
        raise error(f"more than {MAX_NODES:,} values once aliases are expanded")
    return data


def read_text(path: Path, error: ErrorFactory) -> str:
    """The file's text, which must be UTF-8 (a BOM is allowed)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror or exc}") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise error(f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at line {line} (save the file as UTF-8)") from exc


def load_yaml(path: str | Path, error: ErrorFactory | None = None) -> Any:
    """Read and parse a YAML file; ``error(message)`` builds what is raised (default: a ``ConfigError`` that starts
    with the file's name)."""
    path = Path(path)
    make = error or (lambda message: ConfigError(f"{path}: {message}"))
    return parse_yaml(read_text(path, make), make)
