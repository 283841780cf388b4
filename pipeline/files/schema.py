"""Settings files read strictly, with errors a person can act on.

A settings file is checked against pydantic models; the first problem becomes a
ConfigError naming the file and the dotted key where it is, in plain words:
``params.yaml: models.gan.defaults.lr: lr must be > 0, got -0.001``.
"""
from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Annotated, Any

import annotated_types as at
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

NonEmpty = at.MinLen(1)  # Annotated[tuple[X, ...], NonEmpty]: a list with at least one item


class ConfigError(ValueError):
    """A bad params.yaml. The message names the file and the key."""

    def __init__(self, file: str | Path, key: str, problem: str):
        self.file, self.key, self.problem = str(file), key, problem
        super().__init__(f"{file}: {key}: {problem}" if key else f"{file}: {problem}")


class Section(BaseModel):
    """A part of a settings file: unknown keys, NaN and inf are refused; it cannot change."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _unwrap(tp: Any) -> Any:
    """Annotated[X, ...] -> X; Optional[X] -> X."""
    while True:
        if typing.get_origin(tp) is Annotated:
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) is typing.Union and type(None) in typing.get_args(tp):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
        else:
            return tp


def _fields(tp: Any) -> dict[str, Any] | None:
    return getattr(tp, "__pydantic_fields__", None)


def _walk(tp: Any, loc: tuple) -> tuple[Any, Any, str]:
    """Follow an error location through the schema: (type there, its FieldInfo, dotted key).
    Union members chosen by a discriminator appear in pydantic's location as tags: they are
    followed but left out of the key."""
    info, key = None, ""
    for part in loc:
        tp = _unwrap(tp)
        members = {getattr(_unwrap(m), "__name__", ""): _unwrap(m) for m in typing.get_args(tp)}
        if typing.get_origin(tp) is typing.Union and part in members:
            tp = members[part]
            continue
        if isinstance(part, int):
            key += f"[{part}]"
            tp = typing.get_args(tp)[0] if typing.get_args(tp) else Any
            continue
        key += f".{part}" if key else str(part)
        fields = _fields(tp)
        if fields is not None:
            info = fields.get(part)
            tp = info.annotation if info is not None else Any
        elif typing.get_origin(tp) is dict:
            info, tp = None, typing.get_args(tp)[1]
        else:
            info, tp = None, Any
    return tp, info, key


_TYPE_NAMES = {"int": "int", "float": "float", "bool": "bool", "string": "str", "dict": "a mapping",
               "model": "a mapping", "dataclass": "a mapping", "list": "a list", "tuple": "a list"}
_COMPARISONS = {"greater_than": (">", "gt"), "greater_than_equal": (">=", "ge"), "less_than": ("<", "lt"),
                "less_than_equal": ("<=", "le")}


SHOWN_VALUE = 200  # characters of a bad value an error echoes: a 10 MB value is not a message


class _Shown:
    """A value as an error shows it: its repr, cut to SHOWN_VALUE characters."""

    def __init__(self, value: Any):
        text = repr(value)
        self.text = text if len(text) <= SHOWN_VALUE else f"{text[:SHOWN_VALUE]}... ({len(text):,} characters)"

    def __repr__(self) -> str:
        return self.text


def _problem(error: dict, field: str, info: Any, parent: Any) -> str:
    kind, value, ctx = error["type"], _Shown(error.get("input")), error.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return f"unknown key (allowed: {', '.join(sorted(_fields(_unwrap(parent)) or {}))})"
    if kind == "too_long":
        return f"{field} has {ctx.get('actual_length', 'too many'):,} entries; at most {ctx['max_length']:,}"
    if kind in _COMPARISONS:
        symbol, bound = _COMPARISONS[kind]
        why = f" ({info.description})" if info is not None and info.description else ""
        return f"{field} must be {symbol} {ctx[bound]:g}{why}, got {value!r}"
    if kind == "literal_error":
        return f"{field} must be one of {ctx['expected'].replace(chr(39), '')}, got {value!r}"
    if kind == "too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind == "finite_number":
        return f"{field} must be a finite number, got {value!r}"
    if kind.endswith(("_type", "_parsing")) or kind == "int_from_float":
        expected = _TYPE_NAMES.get(kind.split("_")[0], kind.split("_")[0])
        return f"must be {expected}, got {value!r}"
    return error["msg"].removeprefix("Value error, ")


def validate(schema: type, raw: Any, file: str, prefix: str = "") -> Any:
    """schema.model_validate(raw), its first error raised as a ConfigError naming the file and
    the dotted key (`prefix` + the location inside `raw`)."""
    try:
        return schema.model_validate(raw)
    except ValidationError as err:
        found = [_located(schema, error, prefix) for error in err.errors(include_url=False)]
        (key, problem), others = found[0], found[1:]
        if others:  # every mistake at once, on the one line: fixing them one run at a time wastes runs
            problem += f" (and {len(others)} more: " + "; ".join(f"{k}: {p}" for k, p in others[:MORE_SHOWN]) + (
                "; ..." if len(others) > MORE_SHOWN else "") + ")"
        raise ConfigError(file, key, problem) from None


MORE_SHOWN = 5  # further mistakes named on the error's line


def _located(schema: type, error: dict, prefix: str) -> tuple[str, str]:
    """(the dotted key, what is wrong there) of one pydantic error."""
    loc = tuple(error["loc"])
    _, info, key = _walk(schema, loc)
    parent = _walk(schema, loc[:-1])[0]
    field = re.sub(r"\[\d+\]$", "", key.rsplit(".", 1)[-1])
    return ".".join(k for k in (prefix, key) if k), _problem(error, field, info, parent)


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads `1e-3` as a string; YAML 1.2 (and DVC, which writes `-S` values into
    params.yaml) reads it as a float. Read it as a float here too."""


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
                              list("-+0123456789."))

MAX_YAML_BYTES = 1_000_000  # params.yaml is a few kilobytes; a file a thousand times larger is a mistake


class _NoAliases(_Loader):
    """params.yaml without anchors and aliases: a dozen nested aliases (a "billion laughs") expand
    to more values than memory holds, and a settings file has no use for them."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, f"alias *{event.anchor}: params.yaml takes no YAML aliases "
                                              "(write the value out)", event.start_mark)
        return super().compose_node(parent, index)


def read_yaml(path: Path) -> Any:
    """The parsed file, or a ConfigError saying why it cannot be read."""
    if not path.is_file():
        raise ConfigError(path, "", "file not found (run from the project root, or pass --params)")
    size = path.stat().st_size
    if size > MAX_YAML_BYTES:
        raise ConfigError(path, "", f"{size:,} bytes; a params file is at most {MAX_YAML_BYTES:,}")
    try:
        return yaml.load(path.read_text(), Loader=_NoAliases)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:  # one line: where, and what
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(path, "", f"not valid YAML{where}: {problem}") from None
