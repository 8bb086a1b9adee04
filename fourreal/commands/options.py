"""One CLI pattern for every command with a parameter model: options made from its fields.

A command's options are the fields of its flow's pydantic model (``--field-name``, the
field's default and description), so the CLI, the Prefect UI form and a deployment's
parameters are one contract, and a field added to the model is an option with no other
change. A command may name a field's flags (``--sample`` for ``sample_id``), make a field
a positional argument or a repeatable option. Values are validated by the model before
anything runs; every expected error is one line on stderr, ``error: ...``, exit 2.

Importing a model can be slow (torch, Prefect): ``lazy_command`` and ``LazyGroup`` build
a command's options on first use, so ``fourreal --help`` and every other command stay fast.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from collections.abc import Callable, Iterable, Mapping

import typer
from pydantic import BaseModel, ValidationError
from typer.core import TyperCommand, TyperGroup


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` as one line on stderr; the ``typer.Exit(2)`` to raise."""
    typer.echo(f"error: {' '.join(str(message).split()) or 'failed'}", err=True)
    return typer.Exit(2)


def validation_message(e: ValidationError) -> str:
    """The first error as ``field: message`` (a model-level check names its own field)."""
    err = e.errors()[0]
    msg = err["msg"].removeprefix("Value error, ")
    field = ".".join(str(x) for x in err["loc"])
    return f"{field}: {msg}" if field else msg


def parse(model: type[BaseModel], values: Mapping):
    """``model(**values)``, or exit 2 with the first field's message."""
    try:
        return model(**values)
    except ValidationError as e:
        raise fail(validation_message(e)) from None


def option_type(annotation) -> tuple[type, bool]:
    """(click-friendly scalar type, is a list) of a field's annotation."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return option_type(args[0])
    if origin is list:
        return str, True
    if origin is typing.Literal:
        return str, False
    if annotation in (int, float, str, bool):
        return annotation, False
    return str, False  # nested models: JSON text


def _is_nested(field) -> bool:
    return isinstance(field.default_factory, type) and issubclass(field.default_factory, BaseModel)


def _option(name: str, field, flags: tuple[str, ...] | None, repeatable: bool) -> inspect.Parameter:
    kind, is_list = option_type(field.annotation)
    flags = flags or (f"--{name.replace('_', '-')}",)
    help_ = field.description or ""
    default = None if field.is_required() else field.get_default(call_default_factory=True)
    if field.is_required():
        help_ += " (required)"
    if repeatable:
        annotation, default = list[kind] | None, None
        help_ += " (repeatable)"
    else:
        if isinstance(default, BaseModel) or _is_nested(field):
            default, help_ = None, help_ + " (JSON object)"
        elif is_list:
            default = None if default is None else ",".join(map(str, default))
            help_ += " (comma-separated)"
        if kind is bool:
            flags = tuple(f"{f}/--no-{f.removeprefix('--')}" for f in flags[:1]) + flags[1:]
        annotation = kind | None if default is None else kind
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=typer.Option(default, *flags, help=help_, show_default=True),
        annotation=annotation,
    )


def model_options(
    model: type[BaseModel],
    *,
    skip: Iterable[str] = (),
    flags: Mapping[str, tuple[str, ...]] | None = None,
    repeatable: Iterable[str] = (),
) -> list[inspect.Parameter]:
    """One typer option per field of ``model`` (but ``skip``), in the model's order."""
    skip, flags, repeatable = set(skip), flags or {}, set(repeatable)
    return [
        _option(name, field, flags.get(name), name in repeatable)
        for name, field in model.model_fields.items()
        if name not in skip
    ]


def field_values(model: type[BaseModel], given: Mapping) -> dict:
    """Option values back to field values (lists, JSON objects); None means the default."""
    out = {}
    for name, value in given.items():
        if value is None:
            continue
        field = model.model_fields[name]
        _, is_list = option_type(field.annotation)
        if isinstance(value, (list, tuple)):  # a repeatable option
            if not value:
                continue
            value = list(value)
        elif is_list:
            value = [v.strip() for v in value.split(",") if v.strip()]
        elif _is_nested(field):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as e:
                raise fail(f"{name}: not a JSON object: {e}") from None
        out[name] = value
    return out


def model_command(
    model: type[BaseModel],
    body: Callable[..., None],
    *,
    name: str,
    doc: str,
    positional: Iterable[str] = (),
    flags: Mapping[str, tuple[str, ...]] | None = None,
    repeatable: Iterable[str] = (),
    extra: Iterable[inspect.Parameter] = (),
) -> Callable[..., None]:
    """A typer command: ``positional`` fields as arguments, every other field an option,
    then the ``extra`` parameters. It calls ``body(values, **extras)`` with the given field
    values (defaults left out: the model states them) and the extra parameters' values."""
    positional = tuple(positional)
    extra = list(extra)
    arguments = [
        inspect.Parameter(
            p,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=typer.Argument(..., help=model.model_fields[p].description),
            annotation=str,
        )
        for p in positional
    ]
    options = model_options(model, skip=positional, flags=flags, repeatable=repeatable)
    extra_names = {p.name for p in extra}

    def command(**kwargs) -> None:
        extras = {k: kwargs.pop(k) for k in extra_names}
        body(field_values(model, kwargs), **extras)

    command.__signature__ = inspect.Signature([*arguments, *options, *extra])
    command.__doc__ = doc
    command.__name__ = name.replace("-", "_")
    return command


def _built(name: str, make: Callable[[], Callable]) -> TyperCommand:
    one = typer.Typer(add_completion=False)
    one.command(name)(make())
    return typer.main.get_command(one)


def lazy_command(make: Callable[[], Callable]) -> type[TyperCommand]:
    """A command class (``app.command(cls=...)``) whose real command, options included, is
    made by ``make()`` on first use: listing the app's commands imports no model."""

    class LazyCommand(TyperCommand):
        def real(self) -> TyperCommand:
            """The command with its options (made once)."""
            if "_real" not in self.__dict__:
                self._real = _built(self.name, make)
            return self._real

        def make_context(self, info_name, args, parent=None, **extra):
            return self.real().make_context(info_name, args, parent=parent, **extra)

    return LazyCommand


class LazyGroup(TyperGroup):
    """A group whose subcommands are made on first use: ``COMMANDS`` maps each name to
    ``(make, help)`` where ``make()`` returns the typer command function."""

    COMMANDS: dict[str, tuple[Callable[[], Callable], str]] = {}

    def list_commands(self, ctx):
        return list(self.COMMANDS)

    def get_command(self, ctx, name):
        if name not in self.COMMANDS:
            return None
        return _built(name, self.COMMANDS[name][0])


def lazy_group(commands: dict[str, tuple[Callable[[], Callable], str]]) -> type[LazyGroup]:
    """A :class:`LazyGroup` class over ``commands``."""
    return type("Lazy", (LazyGroup,), {"COMMANDS": dict(commands)})
