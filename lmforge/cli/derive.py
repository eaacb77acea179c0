"""A CLI verb derived from an operation's typed config.

The flags, the `key=value` overrides (accepted anywhere on the command line), the defaults that
`--help` prints and the recipe stage's validation all come from the same pydantic fields, so
they cannot drift. A verb is `Verb(Config, run, show)`; `add_verb` builds its parser and
`run_verb` turns a command line into a validated config, runs it and shows the result.
"""

from __future__ import annotations

import argparse
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Sequence, get_args, get_origin

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from lmforge.config import apply_overrides, read_yaml, validate
from lmforge.files import check_output_path

OVERRIDE = re.compile(r"^[A-Za-z_][\w-]*(\.[\w-]+)*=")


@dataclass
class Verb:
    """One CLI verb: its config, the library function, and how to print the result."""

    config: type[BaseModel]
    run: Callable[[Any], Any]
    help: str
    show: Callable[[Any, Any], None] | None = None  # (result, config) -> prints
    config_file: bool = False  # the first positional argument is a YAML file of the config
    positional: tuple[str, ...] = ()  # fields given as positional arguments, in order
    extra_args: Callable[[argparse.ArgumentParser], None] | None = None  # CLI-only flags
    before: Callable[[Any, argparse.Namespace], None] | None = None  # acts on those flags
    any_override: bool = False  # every key=value goes to the config's `overrides` list (a recipe's)
    aliases: dict[str, str] = field(default_factory=dict)  # flag name -> field, for old names
    # output fields and what they must be; checked before any work (a field the config lacks is skipped)
    outputs: dict[str, Literal["dir", "file"]] = field(default_factory=lambda: {"out": "dir"})


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the annotation without `| None`, whether None was allowed)."""
    origin = get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _is_flag_type(annotation: Any) -> bool:
    """Scalars, literals and lists of scalars get a flag; sections and mappings use key=value."""
    inner, _ = _unwrap(annotation)
    origin = get_origin(inner)
    if origin in (list, tuple):
        return all(_is_flag_type(a) for a in get_args(inner) if a is not Ellipsis)
    if origin is Literal:
        return True
    if origin in (typing.Union, types.UnionType):
        return all(_is_flag_type(a) for a in get_args(inner))
    return inner in (str, int, float, bool) or getattr(inner, "__module__", "") == "pathlib"


def _keeps_string(annotation: Any) -> bool:
    """A str-typed value stays as typed (so `--name 007` stays "007"); others parse as YAML."""
    inner, _ = _unwrap(annotation)
    if get_origin(inner) in (list, tuple):
        args = [a for a in get_args(inner) if a is not Ellipsis]
        return bool(args) and all(_keeps_string(a) for a in args)
    if get_origin(inner) is Literal:
        return all(isinstance(v, str) for v in get_args(inner))
    return inner is str or getattr(inner, "__module__", "") == "pathlib"


def _parse_value(raw: str, keep_string: bool) -> Any:
    if keep_string:
        return raw
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def key_of(name: str, info: FieldInfo) -> str:
    """The key users write: the field's alias when it has one (`from`), else its name."""
    return info.alias or name


def default_text(info: FieldInfo) -> str:
    if info.default is not PydanticUndefined:
        return repr(info.default) if isinstance(info.default, str) else str(info.default)
    if info.default_factory is not None:
        value = info.default_factory()
        return "{...}" if isinstance(value, BaseModel) else str(value)
    return "required"


def _help(info: FieldInfo) -> str:
    text = (info.description or "").replace("%", "%%")
    if "default" in text:
        return text
    return f"{text} (default: {default_text(info)})".strip()


def _add_flag(parser: argparse.ArgumentParser, name: str, info: FieldInfo, positional: bool) -> None:
    key = key_of(name, info)
    inner, _ = _unwrap(info.annotation)
    many = get_origin(inner) in (list, tuple)
    kwargs: dict[str, Any] = {"help": _help(info), "default": argparse.SUPPRESS}
    if inner is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    else:
        kwargs["metavar"] = key.upper()
        if many:  # `--x a b` and `--x a --x b` both give [a, b]
            kwargs["nargs"], kwargs["action"] = "+", "extend"
        elif get_origin(inner) is Literal:
            kwargs["choices"] = [str(v) for v in get_args(inner)]
            kwargs["metavar"] = "{" + ",".join(kwargs["choices"]) + "}"
    if positional:
        kwargs.pop("default")
        if info.is_required():
            parser.add_argument(key, **kwargs)
        else:
            parser.add_argument(key, nargs="?", **{**kwargs, "default": argparse.SUPPRESS})
        return
    parser.add_argument("--" + key.replace("_", "-"), dest=key, **kwargs)


def nested_keys(cls: type[BaseModel], prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, "type = default: help") for every field below the top level's flags."""
    rows = []
    for name, info in cls.model_fields.items():
        key = prefix + key_of(name, info)
        inner, _ = _unwrap(info.annotation)
        if _is_model(inner):
            rows += nested_keys(inner, key + ".")
        elif prefix or not _is_flag_type(info.annotation):
            rows.append((key, f"= {default_text(info)}  {info.description or ''}".rstrip()))
    return rows


def _epilog(verb: Verb) -> str:
    if verb.any_override:
        return ("Every key=value word overrides the recipe: scale=real, "
                "stages.NAME.train.max_steps=100, stages.NAME.skip=true.")
    rows = nested_keys(verb.config)
    if not rows:
        return "Any option can also be given as key=value anywhere on the command line."
    width = min(max(len(k) for k, _ in rows), 34)
    lines = ["settings (key=value anywhere on the command line; defaults shown):"]
    lines += [f"  {k:{width}s} {text}" for k, text in rows]
    return "\n".join(lines).replace("%", "%%")


def add_verb(sub: argparse._SubParsersAction, name: str, verb: Verb) -> argparse.ArgumentParser:
    """A sub-parser whose flags are the config's top-level scalar fields."""
    p = sub.add_parser(name, help=verb.help, description=verb.help, epilog=_epilog(verb),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    if verb.config_file:
        p.add_argument("config", help="YAML file with the settings below (flags and key=value override it)")
    fields = verb.config.model_fields
    for pos in verb.positional:
        _add_flag(p, pos, fields[pos], positional=True)
    for fname, info in fields.items():
        free = verb.any_override and fname == "overrides"  # given as bare key=value words
        if fname not in verb.positional and not free and _is_flag_type(info.annotation):
            _add_flag(p, fname, info, positional=False)
    for flag, target in verb.aliases.items():
        p.add_argument(flag, dest=key_of(target, fields[target]), default=argparse.SUPPRESS,
                       help=f"same as --{key_of(target, fields[target]).replace('_', '-')}")
    if verb.extra_args:
        verb.extra_args(p)
    p.set_defaults(func=lambda args, _v=verb: run_verb(_v, args), lmforge_verb=verb)
    p.lmforge_verb = verb  # type: ignore[attr-defined]  (main() splits overrides with it)
    return p


def add_group(sub: argparse._SubParsersAction, name: str, help: str, verbs: dict[str, Verb],
              metavar: str = "VERB") -> argparse._SubParsersAction:
    """`lmforge NAME VERB ...`: a command group whose verbs are derived from their configs."""
    group = sub.add_parser(name, help=help)
    inner = group.add_subparsers(dest=f"{name.replace('-', '_')}_command", metavar=metavar, required=True)
    for verb_name, verb in verbs.items():
        add_verb(inner, verb_name, verb)
    return inner


def _takes_one_value(parser: argparse.ArgumentParser, token: str) -> bool:
    action = parser._option_string_actions.get(token.split("=", 1)[0])
    return action is not None and "=" not in token and action.nargs is None and \
        not isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction,
                                argparse.BooleanOptionalAction))


def split_overrides(argv: Sequence[str], parser: argparse.ArgumentParser,
                    keys: set[str] | None) -> tuple[list[str], list[str]]:
    """(the arguments for argparse, the key=value overrides), taken from anywhere on the line.

    A token is an override when it looks like `key=value`, it is not the value of an option
    just before it, and its first key is a field of the config (any key if `keys` is None)."""
    rest, overrides = [], []
    for i, token in enumerate(argv):
        after_option = i > 0 and _takes_one_value(parser, argv[i - 1])
        first = token.split("=", 1)[0].split(".")[0]
        if not after_option and OVERRIDE.match(token) and (keys is None or first in keys):
            overrides.append(token)
        else:
            rest.append(token)
    return rest, overrides


def config_keys(cls: type[BaseModel]) -> set[str] | None:
    """The keys a key=value may start with; None (any key) for a config that takes extra keys
    (a ModelSource's preset field overrides, e.g. `model init --preset tiny num_hidden_layers=6`)."""
    if cls.model_config.get("extra") == "allow":
        return None
    return {key_of(n, i) for n, i in cls.model_fields.items()}


def build_config(verb: Verb, args: argparse.Namespace, overrides: Sequence[str]) -> Any:
    """File (if any), then flags, then key=value overrides; validated with errors naming the key."""
    data: dict[str, Any] = read_yaml(args.config) if verb.config_file else {}
    for name, info in verb.config.model_fields.items():
        key = key_of(name, info)
        if key in vars(args):
            raw = getattr(args, key)
            keep = _keeps_string(info.annotation)
            data[key] = [_parse_value(r, keep) for r in raw] if isinstance(raw, list) \
                else raw if isinstance(raw, bool) else _parse_value(raw, keep)
    if verb.any_override:
        data["overrides"] = [*data.get("overrides", []), *overrides]
    else:
        apply_overrides(data, overrides)
    return validate(verb.config, data, args.config if verb.config_file else f"lmforge {args.command_path}")


def check_outputs(verb: Verb, cfg: Any) -> None:
    """Every output path of the verb can be written as the kind it must be (a folder where a
    folder goes, a file where a file goes): a UserError naming the flag and the path, before any work."""
    for name, kind in verb.outputs.items():
        value = getattr(cfg, name, None)
        if value is not None:
            info = type(cfg).model_fields[name]
            check_output_path(value, kind, f"--{key_of(name, info).replace('_', '-')}")


def run_verb(verb: Verb, args: argparse.Namespace) -> Any:
    cfg = build_config(verb, args, args.overrides)
    check_outputs(verb, cfg)
    if verb.before:
        verb.before(cfg, args)
    result = verb.run(cfg)
    if verb.show:
        verb.show(result, cfg)
    return 0
