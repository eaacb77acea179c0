"""Typed YAML configs: load, apply `key=value` overrides, validate with errors naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from lmforge.errors import UserError

T = TypeVar("T", bound=BaseModel)


class ConfigError(UserError):
    """A config problem; the message names the file and the key."""


def parse_override(item: str) -> tuple[list[str], Any]:
    """`a.b.c=value` -> (["a", "b", "c"], value parsed as YAML, so 3 is int and [x] a list)."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not of the form key=value")
    key, raw = item.split("=", 1)
    if not key.strip():
        raise ConfigError(f"override {item!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Set each dotted key in a nested dict (creating levels as needed)."""
    for item in overrides:
        path, value = parse_override(item)
        node = data
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[path[-1]] = value
    return data


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from None
    except RecursionError:
        raise ConfigError(f"{path}: YAML nested too deeply") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid config"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"  {key}: {msg} (got {e.get('input')!r})" if e["type"] != "missing"
                     else f"  {key}: required key is missing")
    return "\n".join(lines)


def validate(cls: type[T], data: dict[str, Any], source: str = "config",
             context: dict[str, Any] | None = None) -> T:
    try:
        return cls.model_validate(data, context=context)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, source)) from None


def load_config(cls: type[T], path: str | Path | None = None, overrides: Sequence[str] = (),
                base: dict[str, Any] | None = None) -> T:
    """Read YAML (if given), apply overrides, validate into `cls`."""
    data = dict(base or {})
    if path is not None:
        data.update(read_yaml(path))
    apply_overrides(data, overrides)
    return validate(cls, data, str(path) if path else "config")


def dump_config(cfg: BaseModel, path: str | Path) -> None:
    """Save the resolved config (what actually ran) as YAML."""
    Path(path).write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False,
                                         allow_unicode=True), encoding="utf-8")
