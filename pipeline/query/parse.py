"""Query strings in Lucene syntax (Kibana's Lucene mode, Elasticsearch ``query_string``), parsed by luqum and turned
into the typed tree of :mod:`pipeline.query.tree`.

Supported: words (ANDed when no operator is given), ``AND``/``OR``/``NOT``, ``+``/``-``, parentheses,
``"phrases"``, ``"words near"~N``, ``regul*``, ``field:value`` and ``field:(...)`` for the fields in
:data:`~pipeline.query.tree.FIELDS`, date ranges ``published:[2024-01-01 TO 2024-06-30]`` (``{}`` exclusive, ``*``
open) and ``published:>=2024-01``. Refused with the position: fuzzy ``~``, regular expressions, boosts, wildcards
other than a trailing ``*``, unknown fields, invalid syntax and queries over :data:`MAX_QUERY_CHARS`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import QuerySyntaxError
from .tree import (
    DATE_FIELDS,
    DEFAULT_TEXT_FIELDS,
    FIELDS,
    KEYWORD_FIELDS,
    TEXT_FIELDS,
    And,
    DateRange,
    Node,
    Not,
    Or,
    Value,
    Words,
)

#: the one length cap for search queries and alert queries (the parser and every backend stay fast below it)
MAX_QUERY_CHARS = 1000
#: parentheses and operators nest at most this deep (the engines refuse deeply nested bool queries)
MAX_DEPTH = 20
#: the words a text value is made of, as both backends' tokenizers split it (letters and digits)
_WORD = re.compile(r"\w+")
_ESCAPED = re.compile(r"\\(.)")
_LEX_POSITION = re.compile(r"Illegal character '(.*)' at position (\d+)", re.DOTALL)
_PARSE_POSITION = re.compile(r"unexpected  '(.*)' at position (\d+)", re.DOTALL)


def parse_query(text: str) -> Node | None:
    """The tree of a query string; ``None`` for an empty query (it matches every article).

    Raises :class:`~pipeline.errors.QuerySyntaxError` (with ``position``) for invalid or unsupported syntax."""
    if len(text) > MAX_QUERY_CHARS:
        raise QuerySyntaxError(f"the query is {len(text)} characters long; the limit is {MAX_QUERY_CHARS}",
                               MAX_QUERY_CHARS)
    if not text.strip():
        return None
    from luqum.exceptions import IllegalCharacterError, ParseSyntaxError
    from luqum.thread import parse

    try:
        tree = parse(text)
    except IllegalCharacterError as exc:
        raise _lexer_error(str(exc)) from None
    except ParseSyntaxError as exc:
        raise _parser_error(str(exc), len(text)) from None
    except ValueError:  # luqum's tree refused a value while parsing: only a fractional distance does that
        fraction = re.search(r"~[0-9]*\.", text)
        raise QuerySyntaxError("a distance (~N) must be a whole number",
                               fraction.start() if fraction else None) from None
    return _Converter().node(tree, None, 0)


def _lexer_error(message: str) -> QuerySyntaxError:
    found = _LEX_POSITION.search(message)
    rest, at = (found.group(1), int(found.group(2))) if found else ("", None)
    if rest.startswith('"'):
        return QuerySyntaxError("a quote is not closed", at)
    if rest.startswith("/"):
        return QuerySyntaxError("regular expressions (/.../) are not supported", at)
    return QuerySyntaxError(f"unexpected character {rest[:1]!r}", at)


def _parser_error(message: str, length: int) -> QuerySyntaxError:
    found = _PARSE_POSITION.search(message)
    if found is None:
        return QuerySyntaxError("the query ends too early (an operator without a term after it, or an unclosed "
                                "'(' or '[')", length)
    return QuerySyntaxError(f"unexpected {found.group(1)!r}", int(found.group(2)))


def _position(item: Any) -> int | None:
    return getattr(item, "pos", None)


class _Converter:
    """luqum's tree → ours, one method per luqum node type (dispatched by class name)."""

    def node(self, item: Any, field: str | None, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise QuerySyntaxError(f"the query nests deeper than {MAX_DEPTH} levels", _position(item))
        handler: Callable[[Any, str | None, int], Node] | None = getattr(self, f"_{type(item).__name__}", None)
        if handler is None:
            raise QuerySyntaxError(f"unsupported syntax {str(item).strip()!r}", _position(item))
        return handler(item, field, depth)

    # -- operators --------------------------------------------------------------------------------------------

    def _operands(self, item: Any, field: str | None, depth: int, kind: type[And] | type[Or]) -> Node:
        rest, modifiers = _split_modifiers(item)
        if modifiers:  # +x / -x apply to the whole group, as in Lucene: (what is left) AND x AND NOT y
            parts = [item_ for item_ in (rest, *modifiers) if item_ is not None]
            return _flatten(And, [self.node(part, field, depth + 1) for part in parts])
        return _flatten(kind, [self.node(operand, field, depth + 1) for operand in item.children])

    def _AndOperation(self, item: Any, field: str | None, depth: int) -> Node:  # noqa: N802 - luqum's class names
        return self._operands(item, field, depth, And)

    _UnknownOperation = _AndOperation  # words without an operator are ANDed

    def _OrOperation(self, item: Any, field: str | None, depth: int) -> Node:  # noqa: N802
        return self._operands(item, field, depth, Or)

    def _Not(self, item: Any, field: str | None, depth: int) -> Node:  # noqa: N802
        child = self.node(item.a, field, depth + 1)
        return child.child if isinstance(child, Not) else Not(child)

    _Prohibit = _Not

    def _Plus(self, item: Any, field: str | None, depth: int) -> Node:  # noqa: N802 - required is the default
        return self.node(item.a, field, depth)

    def _Group(self, item: Any, field: str | None, depth: int) -> Node:  # noqa: N802
        return self.node(item.expr, field, depth + 1)

    _FieldGroup = _Group

    def _SearchField(self, item: Any, field: str | None, depth: int) -> Node:  # noqa: N802
        name = item.name.lower()
        if field in DATE_FIELDS:
            raise QuerySyntaxError(f"quote a date-time with a zone offset ({field}:\"2024-01-01T09:00+05:00\")",
                                   _position(item))
        if field is not None:
            raise QuerySyntaxError(f"'{item.name}:' inside '{field}:' (fields cannot nest)", _position(item))
        if name not in FIELDS:
            raise QuerySyntaxError(f"unknown field '{item.name}'; fields: {', '.join(FIELDS)}", _position(item))
        return self.node(item.expr, name, depth)

    # -- unsupported --------------------------------------------------------------------------------------------

    def _Fuzzy(self, item: Any, field: str | None, depth: int) -> Node:  # noqa: N802
        raise QuerySyntaxError("fuzzy matching (~ after a word) is not supported; use a prefix (regul*) or a "
                               'phrase with a distance ("a b"~3)', item.term.pos + item.term.size)

    def _Boost(self, item: Any, field: str | None, depth: int) -> Node:  # noqa: N802
        raise QuerySyntaxError("boosts (^) are not supported", item.expr.pos + item.expr.size)

    def _Regex(self, item: Any, field: str | None, depth: int) -> Node:  # noqa: N802
        raise QuerySyntaxError("regular expressions (/.../) are not supported", _position(item))

    # -- terms ----------------------------------------------------------------------------------------------------

    def _Word(self, item: Any, field: str | None, depth: int) -> Node:  # noqa: N802
        raw: str = item.value
        at = _position(item)
        if field in DATE_FIELDS:
            return _date_equals(field, _unescape(raw), at)
        value, prefix = (raw[:-1], True) if raw.endswith("*") and not raw.endswith("\\*") else (raw, False)
        wildcard = re.search(r"(?<!\\)[*?]", value)
        if wildcard or not value:
            hint = "'*' alone is not a query; leave the query empty to match every article" if raw == "*" else \
                "wildcards work only as a trailing * (regul*)"
            raise QuerySyntaxError(hint, at if not wildcard or at is None else at + wildcard.start())
        value = _unescape(value)
        if field in KEYWORD_FIELDS:
            return Value(field, _keyword(field, value, at), prefix)
        words = _words(value, at, raw)
        if prefix and len(words) > 1:
            raise QuerySyntaxError(f"a prefix (*) needs a single word, not {raw!r}", at)
        return Words(_text_fields(field), " ".join(words), prefix=prefix)

    def _Phrase(self, item: Any, field: str | None, depth: int, slop: int | None = None) -> Node:  # noqa: N802
        inner = _unescape(item.value[1:-1])
        at = _position(item)
        if field in DATE_FIELDS:
            return _date_equals(field, inner, at)
        if field in KEYWORD_FIELDS:
            return Value(field, _keyword(field, inner, at))
        words = _words(inner, at, item.value)
        return Words(_text_fields(field), " ".join(words), slop=slop if len(words) > 1 else None)

    def _Proximity(self, item: Any, field: str | None, depth: int) -> Node:  # noqa: N802
        at = item.term.pos + item.term.size
        if field in KEYWORD_FIELDS or field in DATE_FIELDS:
            raise QuerySyntaxError(f"a distance (~N) needs words, and '{field}' is not a text field", at)
        degree = item.degree
        if float(degree) != int(float(degree)) or int(float(degree)) < 0:
            raise QuerySyntaxError(f"a distance (~N) must be a whole number, not {degree}", at)
        return self._Phrase(item.term, field, depth, slop=int(float(degree)))

    # -- ranges ---------------------------------------------------------------------------------------------------

    def _range_field(self, item: Any, field: str | None) -> str:
        if field not in DATE_FIELDS:
            raise QuerySyntaxError(f"ranges work on {', '.join(DATE_FIELDS)} only (published:[2024-01-01 TO "
                                   "2024-06-30])", _position(item))
        return field

    def _Range(self, item: Any, field: str | None, depth: int) -> Node:  # noqa: N802
        name = self._range_field(item, field)
        low, high = _bound_text(item.low), _bound_text(item.high)
        gte = None if low == "*" else _interval(low, _position(item.low))[0 if item.include_low else 1]
        lt = None if high == "*" else _interval(high, _position(item.high))[1 if item.include_high else 0]
        if gte is not None and lt is not None and gte >= lt:
            raise QuerySyntaxError("the range is empty (its start is not before its end)", _position(item))
        return DateRange(name, gte, lt)

    def _From(self, item: Any, field: str | None, depth: int) -> Node:  # noqa: N802 - field:>=value / field:>value
        name = self._range_field(item, field)
        return DateRange(name, _interval(_bound_text(item.a), _position(item.a))[0 if item.include else 1], None)

    def _To(self, item: Any, field: str | None, depth: int) -> Node:  # noqa: N802 - field:<=value / field:<value
        name = self._range_field(item, field)
        return DateRange(name, None, _interval(_bound_text(item.a), _position(item.a))[1 if item.include else 0])


def _flatten(kind: type[And] | type[Or], children: list[Node]) -> Node:
    flat: list[Node] = []
    for child in children:
        flat.extend(child.children if isinstance(child, kind) else [child])
    return flat[0] if len(flat) == 1 else kind(tuple(flat))


def _split_modifiers(item: Any) -> tuple[Any, list[Any]]:
    """(the operation without its ``+x``/``-x`` clauses, those clauses), looking through the operators of one group
    level (not into parentheses). luqum binds ``-x`` to its neighbour (``a OR b -c`` is ``a OR (b -c)``); Lucene
    applies it to the group (``(a OR b) -c``), and so do we."""
    from luqum.tree import BaseOperation, Plus, Prohibit

    if isinstance(item, Plus | Prohibit):
        return None, [item]
    if not isinstance(item, BaseOperation):
        return item, []
    kept, modifiers = [], []
    for operand in item.children:
        rest, found = _split_modifiers(operand)
        modifiers.extend(found)
        if rest is not None:
            kept.append(rest)
    if not modifiers:
        return item, []
    rest = None if not kept else kept[0] if len(kept) == 1 else type(item)(*kept)
    return rest, modifiers


def _unescape(value: str) -> str:
    return _ESCAPED.sub(r"\1", value)


def _text_fields(field: str | None) -> tuple[str, ...]:
    return TEXT_FIELDS[field] if field is not None else DEFAULT_TEXT_FIELDS


def _words(value: str, at: int | None, raw: str) -> list[str]:
    words = _WORD.findall(value.lower())
    if not words:
        raise QuerySyntaxError(f"{raw!r} has no letters or digits to search for (operators are AND, OR, NOT)", at)
    return words


def _keyword(field: str, value: str, at: int | None) -> str:
    value = value.strip()
    if not value:
        raise QuerySyntaxError(f"'{field}:' needs a value", at)
    if field == "jurisdiction":
        return value.upper()
    return value.lower() if field in ("topic", "language") else value


def _bound_text(item: Any) -> str:
    value = getattr(item, "value", None)
    if not isinstance(value, str):  # [-x TO y]: luqum allows a negated bound
        raise QuerySyntaxError("a range bound must be a date or *", _position(item))
    return _unescape(value[1:-1] if value.startswith('"') else value)


def _interval(value: str, at: int | None) -> tuple[datetime, datetime | None]:
    """[start, end) of a year, month, day, minute, second or millisecond; the end is None past year 9999."""
    try:
        if re.fullmatch(r"\d{4}", value):
            start, step = datetime(int(value), 1, 1, tzinfo=UTC), "year"
        elif re.fullmatch(r"\d{4}-\d{2}", value):
            start, step = datetime(int(value[:4]), int(value[5:]), 1, tzinfo=UTC), "month"
        else:
            parsed = datetime.fromisoformat(value)
            start = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
            step = "day" if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else _time_step(value)
    except (ValueError, OverflowError):
        raise QuerySyntaxError(f"{value!r} is not a date (YYYY, YYYY-MM, YYYY-MM-DD or an ISO date-time)",
                               at) from None
    try:
        if step == "year":
            end = start.replace(year=start.year + 1)
        elif step == "month":
            end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        else:
            end = start + _STEPS[step]
    except (ValueError, OverflowError):
        return start, None
    return start, end


#: a date-time stands for the minute, second or millisecond it names (the engines keep milliseconds)
_STEPS = {"day": timedelta(days=1), "minute": timedelta(minutes=1), "second": timedelta(seconds=1),
          "millisecond": timedelta(milliseconds=1)}


def _time_step(value: str) -> str:
    clock = re.split(r"[Zz+-]", value.partition("T")[2] or value.partition(" ")[2], maxsplit=1)[0]
    return "millisecond" if "." in clock or "," in clock else "second" if clock.count(":") >= 2 else "minute"


def _date_equals(field: str, value: str, at: int | None) -> DateRange:
    """``published:2024-03`` — the whole month (a year, a day or an instant likewise)."""
    start, end = _interval(value, at)
    return DateRange(field, start, end)
