"""Writes the reference parts of `docs/` from the code they describe, so they cannot drift.

- `docs/events.md`: the event catalogue, from the payload Structs of `pyengine.commands`;
- `docs/cli.md`: the command-line reference, from `pyengine.cli.build_parser()` and the exit
  statuses in the `pyengine.cli` docstring;
- `docs/policy.md`: every parameter of `pyengine.policy.Policy` with its value in
  `pyengine/policies/default-v1.toml`.

Each document keeps its hand-written prose around one generated block, between
`<!-- generated: begin -->` and `<!-- generated: end -->`; only the block is rewritten.

    python -m docs.gen           # rewrite the blocks (make docs)
    python -m docs.gen --check   # exit 1, naming the documents whose block is stale

It lives in `docs/`, beside what it writes, rather than in the package: it is a tool for the
project's developers and has no place in what `pip install pyengine` gives a user. Run it from
the repository's root (`tests/test_docs.py` imports it as `docs.gen`).
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import functools
import importlib
import inspect
import io
import json
import re
import sys
import tokenize
import tomllib
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi

import pyengine.cli
from pyengine import commands, schema
from pyengine.policy import MatchParams, Policy, load_policy

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BEGIN = "<!-- generated: begin -->"
END = "<!-- generated: end -->"
POLICY_FILE = "pyengine/policies/default-v1.toml"


# --- markdown -------------------------------------------------------------------------------
def cell(text: str) -> str:
    """`text` as one table cell: on one line, its pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def number(value: float) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}"


def docstring(obj: object) -> str:
    """The object's own docstring (a class without one does not inherit its base's)."""
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def first_sentence(text: str) -> str:
    """Up to the first full stop outside parentheses (so that "(e.g. two flats)" stays whole)."""
    paragraph = " ".join(text.split("\n\n", 1)[0].split())
    depth = 0
    for i, ch in enumerate(paragraph):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch in ".!?" and depth == 0 and paragraph[i + 1 : i + 2] in ("", " "):
            return paragraph[: i + 1]
    return paragraph


# --- comments written beside the fields of a Struct ----------------------------------------------
@dataclass(frozen=True)
class FieldComment:
    above: str = ""  # comment lines right above the field
    beside: str = ""  # the comment on the field's own line(s)


_TOOL_COMMENT = re.compile(r"(fmt|type|noqa|pragma)\b")


@functools.cache
def field_comments(module_name: str) -> dict[tuple[str, str], FieldComment]:
    """(class name, field name) -> the comments written at that field in the module's source."""
    path = inspect.getsourcefile(importlib.import_module(module_name))
    assert path is not None, module_name
    source = Path(path).read_text("utf-8")
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        text = tok.string.lstrip("#").strip()
        if tok.type == tokenize.COMMENT and not _TOOL_COMMENT.match(text):
            comments[tok.start[0]] = text
    lines = source.splitlines()
    out: dict[tuple[str, str], FieldComment] = {}
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        for stmt in node.body:
            if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
                continue
            end = stmt.end_lineno or stmt.lineno
            beside = [comments[n] for n in range(stmt.lineno, end + 1) if n in comments]
            above: list[str] = []
            n = stmt.lineno - 1
            while n >= 1 and lines[n - 1].lstrip().startswith("#"):
                if n in comments:
                    above.insert(0, comments[n])
                n -= 1
            out[node.name, stmt.target.id] = FieldComment(" ".join(above), " ".join(beside))
    return out


# --- types, constraints and defaults of msgspec fields ----------------------------------------------
Links = dict[type, str]  # a Struct type -> where it is described (a markdown link target)


def type_text(t: mi.Type, links: Links) -> str:
    if isinstance(t, mi.UnionType):
        return " or ".join(type_text(m, links) for m in t.types)
    if isinstance(t, mi.StructType):
        target = links.get(t.cls)
        return f"[{t.cls.__name__}]({target})" if target else t.cls.__name__
    if isinstance(t, mi.ListType):
        return f"list of {type_text(t.item_type, links)}"
    if isinstance(t, mi.LiteralType):
        return "one of " + ", ".join(code(json.dumps(v)) for v in t.values)
    names: dict[type[mi.Type], str] = {
        mi.IntType: "integer",
        mi.FloatType: "number",
        mi.StrType: "string",
        mi.BoolType: "boolean",
        mi.DateType: "date (`YYYY-MM-DD`)",
        mi.NoneType: "`null`",
    }
    return names.get(type(t), type(t).__name__.removesuffix("Type").lower())


def _bounds(gt: float | None, ge: float | None, lt: float | None, le: float | None) -> list[str]:
    if ge is not None and le is not None and gt is None and lt is None:
        return [f"{number(ge)} to {number(le)}"]
    marks = (("> ", gt), ("≥ ", ge), ("< ", lt), ("≤ ", le))
    return [f"{mark}{number(value)}" for mark, value in marks if value is not None]


def _length(low: int | None, high: int | None, unit: str) -> list[str]:
    if low is not None and high is not None:
        return [f"{low} to {high} {unit}s"]
    if low is not None:
        return [f"at least {low} {unit}{'' if low == 1 else 's'}"]
    if high is not None:
        return [f"at most {high} {unit}{'' if high == 1 else 's'}"]
    return []


def constraints(t: mi.Type) -> str:
    """The `Meta` constraints on a type (ge/le/min_length/...), in words."""
    parts: list[str] = []
    if isinstance(t, mi.IntType | mi.FloatType):
        parts += _bounds(t.gt, t.ge, t.lt, t.le)
        if t.multiple_of is not None:
            parts.append(f"a multiple of {number(t.multiple_of)}")
    elif isinstance(t, mi.StrType):
        parts += _length(t.min_length, t.max_length, "character")
        if t.pattern is not None:
            parts.append(f"matches {code(t.pattern)}")
    elif isinstance(t, mi.ListType):
        parts += _length(t.min_length, t.max_length, "item")
        item = constraints(t.item_type)
        if item:
            parts.append(f"each {item}")
    elif isinstance(t, mi.UnionType):
        parts += [c for c in map(constraints, t.types) if c]
    return ", ".join(parts)


def default_text(f: mi.Field) -> str:
    if f.required:
        return ""
    if f.default is not msgspec.NODEFAULT:
        value: Any = f.default
    elif f.default_factory is not msgspec.NODEFAULT:
        value = f.default_factory()
    else:
        return "left out"  # an UNSET field: it may be omitted and then has no value
    return code(json.dumps(msgspec.to_builtins(value), ensure_ascii=False))


def struct_fields(cls: type[msgspec.Struct], skip: Sequence[str] = ()) -> list[mi.Field]:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType), cls
    return [f for f in info.fields if f.name not in skip]


def struct_table(cls: type[msgspec.Struct], links: Links, skip: Sequence[str] = ()) -> str:
    rows = []
    for f in struct_fields(cls, skip):
        note = field_comments(cls.__module__).get((cls.__name__, f.name), FieldComment())
        rows.append(
            (
                code(f.encode_name),
                type_text(f.type, links),
                "yes" if f.required else "no",
                default_text(f),
                constraints(f.type),
                " ".join(filter(None, (note.above, note.beside))),
            )
        )
    return table(("field", "type", "required", "default", "constraints", "notes"), rows)


def nested_structs(t: mi.Type) -> Iterator[type[msgspec.Struct]]:
    """The Struct types a field's type refers to, at any depth of unions and lists."""
    if isinstance(t, mi.StructType):
        yield t.cls
    elif isinstance(t, mi.UnionType):
        for m in t.types:
            yield from nested_structs(m)
    elif isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        yield from nested_structs(t.item_type)


def anchor(cls: type) -> str:
    return "#" + cls.__name__.lower()


def generated_note(*sources: str) -> str:
    names = ", ".join(code(s) for s in sources)
    return f"<!-- Generated from {names} by `make docs` (python -m docs.gen): edit the code, not this block. -->"


# --- docs/events.md --------------------------------------------------------------------------
def payload_types() -> list[type[commands.Payload]]:
    """Every subclass of Payload, at any depth, in the order of their source."""
    found: list[type[commands.Payload]] = []
    todo = list(commands.Payload.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return sorted(found, key=lambda c: (c.__module__, inspect.getsourcelines(c)[1]))


def _upcasts(cls: type) -> list[tuple[int, int]]:
    steps = (re.fullmatch(r"upcast_v(\d+)_v(\d+)", name) for name in vars(cls))
    return sorted((int(m[1]), int(m[2])) for m in steps if m)


def _payload_section(cls: type[commands.Payload], links: Links, is_command: bool) -> str:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    facts = [
        f"`{json.dumps({info.tag_field: info.tag})[1:-1]}`",
        f"schema {commands.schema_of(cls)}",
        "command" if is_command else "recorded by the engine only",
    ]
    steps = _upcasts(cls)
    if steps:
        facts.append("reads " + ", ".join(f"schema {a} (upcast to {b})" for a, b in steps))
    parts = [f"### {cls.__name__}", " · ".join(facts)]
    if docstring(cls):
        parts.append(docstring(cls))
    if struct_fields(cls, ("schema",)):
        parts.append(struct_table(cls, links, skip=("schema",)))
    else:
        parts.append("No fields.")
    return "\n\n".join(parts)


def _input_ranges() -> str:
    lo, hi = schema.DATE_SPAN
    ids = ", ".join(code(f) for f in sorted(schema.ID_FIELDS))
    return (
        "Besides the constraints in the tables, every command is checked where it enters "
        f"(`pyengine.schema.check_bounds`): dates from {lo} to {hi}; amounts (fields ending in "
        f"`_nok` or `_nok_month`) within ±NOK {number(schema.MAX_NOK)}; fractional numbers (areas) "
        f"finite and at most {number(schema.MAX_AREA_M2)}; ids ({ids}) at most {schema.MAX_ID_LENGTH} "
        f"characters, and any other text at most {number(schema.MAX_TEXT)}."
    )


def render_events() -> str:
    types = payload_types()
    command_types = set(typing.get_args(commands.Command))
    submitted = [c for c in types if c in command_types]
    recorded = [c for c in types if c not in command_types]
    nested: list[type[msgspec.Struct]] = []
    todo: list[type[msgspec.Struct]] = list(types)
    while todo:
        for f in struct_fields(todo.pop(0)):
            for cls in nested_structs(f.type):
                if cls not in types and cls not in nested and cls is not Policy:
                    nested.append(cls)
                    todo.append(cls)
    links: Links = {cls: anchor(cls) for cls in [*types, *nested]}
    links[Policy] = "policy.md"

    def index(group: list[type[commands.Payload]]) -> str:
        rows = [
            (f"[{c.__name__}]({anchor(c)})", str(commands.schema_of(c)), first_sentence(docstring(c))) for c in group
        ]
        return table(("type", "schema", "what it is"), rows)

    parts = [
        generated_note("pyengine/commands/"),
        f"{len(types)} payload types: {len(submitted)} commands a user may submit (the `Command` union) and "
        f"{len(recorded)} events only the engine records. Every payload is one JSON object whose "
        f"{code('type')} names it; {code('schema')} is its version, set by the engine (a command may leave it "
        "out or give the current one) and left out of the tables below.",
        _input_ranges(),
        "## Commands",
        index(submitted),
        *(_payload_section(c, links, True) for c in submitted),
        "## Events recorded by the engine only",
        index(recorded),
        *(_payload_section(c, links, False) for c in recorded),
        "## Types inside payloads",
        "The policy inside `PolicyAdopted` is described in [policy.md](policy.md).",
    ]
    for cls in nested:
        section = [f"### {cls.__name__}"]
        if docstring(cls):
            section.append(docstring(cls))
        section.append(struct_table(cls, links))
        parts.append("\n\n".join(section))
    return "\n\n".join(parts)


# --- docs/cli.md -----------------------------------------------------------------------------
def _subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[argparse.ArgumentParser] | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


@dataclass(frozen=True)
class Leaf:
    path: tuple[str, ...]  # e.g. ("db", "init")
    parser: argparse.ArgumentParser
    help: str


def cli_commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[Leaf]:
    """Every command that runs something (`db init`, not `db`), in the parser's order."""
    sub = _subcommands(parser)
    if sub is None:
        return
    helps = {a.dest: a.help or "" for a in sub._choices_actions}
    for name, child in sub.choices.items():
        if _subcommands(child) is None:
            yield Leaf((*path, name), child, helps.get(name, ""))
        else:
            yield from cli_commands(child, (*path, name))


def _shown(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    actions = [a for a in parser._actions if a.help != argparse.SUPPRESS]
    actions = [a for a in actions if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction)]
    return [a for a in actions if a.option_strings] + [a for a in actions if not a.option_strings]


def _metavar(action: argparse.Action) -> str:
    if isinstance(action.metavar, str):
        return action.metavar
    if action.choices is not None:
        return "{" + ",".join(str(c) for c in action.choices) + "}"
    return action.dest.upper() if action.option_strings else action.dest


def _flag(action: argparse.Action) -> str:
    return next((o for o in action.option_strings if o.startswith("--")), action.option_strings[0])


def _invocation(action: argparse.Action) -> str:
    if action.nargs == 0:
        return _flag(action)
    value = _metavar(action)
    if action.nargs in ("*", "+"):
        value = f"{value} [{value} ...]"
    return f"{_flag(action)} {value}" if action.option_strings else value


def usage(prog: str, parser: argparse.ArgumentParser) -> str:
    """The usage line, written here (argparse's wraps to the terminal and differs by version)."""
    groups = {id(a): g for g in parser._mutually_exclusive_groups for a in g._group_actions}
    seen: set[int] = set()
    parts = [prog]
    for action in _shown(parser):
        group = groups.get(id(action))
        if group is not None:
            if id(group) not in seen:
                seen.add(id(group))
                inner = " | ".join(_invocation(a) for a in group._group_actions if a.help != argparse.SUPPRESS)
                parts.append(f"({inner})" if group.required else f"[{inner}]")
            continue
        optional = not action.required if action.option_strings else action.nargs in ("?", "*")
        parts.append(f"[{_invocation(action)}]" if optional else _invocation(action))
    sub = _subcommands(parser)
    if sub is not None:
        parts.append("COMMAND ...")
    return " ".join(parts)


def _value_kind(action: argparse.Action) -> str:
    if action.nargs == 0:
        return "—"
    kind = {int: "a whole number", float: "a number"}.get(action.type) if isinstance(action.type, type) else None
    if kind is None and callable(action.type) and not isinstance(action.type, type):
        described = first_sentence(docstring(action.type)).rstrip(".")
        kind = described[:1].lower() + described[1:] or None
    text = code(_metavar(action))
    if kind:
        text += f" ({kind})"
    if isinstance(action, argparse._AppendAction):
        text += ", repeatable"
    return text


def _help(action: argparse.Action, prog: str) -> str:
    text = action.help or ""
    if "%" in text:
        params = {k: v for k, v in vars(action).items() if v is not argparse.SUPPRESS}
        text = text % {**params, "prog": prog}
    return text


def _options(prog: str, parser: argparse.ArgumentParser) -> str:
    rows = []
    for action in _shown(parser):
        names = ", ".join(code(o) for o in action.option_strings) or code(_metavar(action))
        default = action.default
        shown = "" if default is None or default is False or default == argparse.SUPPRESS else code(str(default))
        required = action.required or not action.option_strings
        rows.append((names, _value_kind(action), "yes" if required else "no", shown, _help(action, prog)))
    return table(("option", "value", "required", "default", "description"), rows)


def _split_top_level(text: str, sep: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def exit_statuses(doc: str) -> list[tuple[int, str]]:
    """The `Exit status: 0 done; 2 ...; 3 ...` paragraph of a docstring, status by status."""
    paragraph = next((p for p in doc.split("\n\n") if p.startswith("Exit status:")), None)
    if paragraph is None:
        raise ValueError("the pyengine.cli docstring has no paragraph starting `Exit status:`")
    body = " ".join(paragraph.removeprefix("Exit status:").split())
    out = []
    for item in _split_top_level(body, ";"):
        match = re.fullmatch(r"(\d+) (.+?)\.?", item.strip())
        if match is None:
            raise ValueError(f"the pyengine.cli docstring: cannot read the exit status {item.strip()!r}")
        out.append((int(match[1]), match[2]))
    return sorted(out)


def _anchor(prog: str, leaf: Leaf) -> str:
    return "-".join((prog, *leaf.path))  # GitHub's anchor for the heading "### pyengine db init"


def render_cli() -> str:
    parser = pyengine.cli.build_parser()
    leaves = list(cli_commands(parser))
    index = [(f"[{' '.join(leaf.path)}](#{_anchor(parser.prog, leaf)})", leaf.help) for leaf in leaves]
    parts = [
        generated_note("pyengine/cli/__init__.py"),
        "```\n" + usage(parser.prog, parser) + "\n```",
        "Options before the command:",
        _options(parser.prog, parser),
        "Every command also takes `-h`/`--help`.",
        table(("command", "what it does"), index),
    ]
    for leaf in leaves:
        prog = " ".join((parser.prog, *leaf.path))
        section = [f"### {prog}"]
        if leaf.parser.description:  # what it does and what it writes, else its one line of help
            section.append(" ".join(leaf.parser.description.split()))
        elif leaf.help:
            section.append(leaf.help[:1].upper() + leaf.help[1:] + ".")
        section.append("```\n" + usage(prog, leaf.parser) + "\n```")
        if _shown(leaf.parser):
            section.append(_options(prog, leaf.parser))
        parts.append("\n\n".join(section))
    doc = docstring(pyengine.cli)
    parts += ["## Exit status", table(("status", "meaning"), ((str(s), m) for s, m in exit_statuses(doc)))]
    return "\n\n".join(parts)


# --- docs/policy.md --------------------------------------------------------------------------
@dataclass
class PolicyGroup:
    intro: str  # the comment block above the group's keys in the TOML file
    keys: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)  # key -> its comment on its own line


_KEY = re.compile(r"([A-Za-z0-9_-]+)\s*=")
_TABLE = re.compile(r"\[\[?\s*([A-Za-z0-9_-]+)\s*\]\]?")


def _comment_of(line: str) -> str:
    """The comment on a TOML line: what follows a `#` outside quotes."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return line[i + 1 :].strip()
    return ""


def policy_groups(text: str) -> list[PolicyGroup]:
    """The top-level keys of a policy file in order, grouped under the comment block above them."""
    groups: list[PolicyGroup] = []
    pending: list[str] = []
    in_table = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            pending.append(line.lstrip("#").strip())
            continue
        table_match, key_match = _TABLE.match(line), _KEY.match(line)
        if table_match:
            in_table, key, note = True, table_match[1], ""
            if any(key in g.keys for g in groups):  # the next [[caps]] entry
                pending = []
                continue
        elif key_match and not in_table:
            key, note = key_match[1], _comment_of(line)
        else:  # a line of a table's entry, or of a value over several lines
            pending = []
            continue
        if pending or not groups:
            groups.append(PolicyGroup(" ".join(pending)))
            pending = []
        groups[-1].keys.append(key)
        if note:
            groups[-1].notes[key] = note
    return groups


def render_policy() -> str:
    text = resources.files("pyengine").joinpath("policies/default-v1.toml").read_text("utf-8")
    raw = tomllib.loads(text)
    v1 = load_policy()
    fields = {f.name: f for f in struct_fields(Policy)}
    core = set(MatchParams.__struct_fields__)
    groups = policy_groups(text)
    listed = {k for g in groups for k in g.keys}
    missing = [name for name in fields if name not in listed]
    if missing:
        groups.append(PolicyGroup(f"Not set in `{POLICY_FILE}`: the defaults apply.", missing))
    links: Links = {}
    nested: list[type[msgspec.Struct]] = []
    for f in fields.values():
        for cls in nested_structs(f.type):
            if cls not in nested:
                nested.append(cls)
                links[cls] = anchor(cls)

    def left_out(name: str) -> tuple[str, bool]:
        f = fields[name]
        if f.required:
            return "required", False
        if f.default is not msgspec.NODEFAULT:
            value = f.default
        elif f.default_factory is not msgspec.NODEFAULT:
            value = f.default_factory()
        else:  # left out of the encoding when unset
            value = msgspec.UNSET
        ours = getattr(v1, name)
        if value is msgspec.UNSET or ours is msgspec.UNSET:
            differs = value is not ours
        else:
            differs = msgspec.to_builtins(value) != msgspec.to_builtins(ours)
        return default_text(f), differs

    differing = [name for name in fields if left_out(name)[1]]
    parts = [
        generated_note("pyengine/policy.py", POLICY_FILE),
        f"The policy in force when no `--policy` is given is `{POLICY_FILE}` (version {v1.version}, "
        f"{len(fields)} parameters). *Left out* is what a policy file that leaves the parameter out "
        "gets; *used by* says whether the Rust core scores with it (`MatchParams`, sent with "
        "every match) or the Python engine applies it (leases, rent-to-own, mix caps).",
    ]
    if differing:
        names = ", ".join(code(n) for n in differing)
        parts.append(f"Left out of a policy file, these do **not** keep v1's value: {names}.")
    for group in groups:
        rows = []
        for name in group.keys:
            f = fields[name]
            shown, differs = left_out(name)
            python_note = field_comments(Policy.__module__).get(("Policy", name), FieldComment()).beside
            note = " ".join(filter(None, (group.notes.get(name, ""), python_note)))
            rows.append(
                (
                    code(name),
                    code(json.dumps(raw[name], ensure_ascii=False, default=_toml_json)) if name in raw else "",
                    f"**{shown}** (not v1's)" if differs else shown,
                    type_text(f.type, links),
                    constraints(f.type),
                    "core" if name in core else "engine",
                    note,
                )
            )
        header = ("parameter", "v1 value", "left out", "type", "constraints", "used by", "notes")
        parts += [p for p in (group.intro, table(header, rows)) if p]
    for cls in nested:
        section = [f"### {cls.__name__}"]
        if docstring(cls):
            section.append(docstring(cls))
        section.append(struct_table(cls, links))
        parts.append("\n\n".join(section))
    return "\n\n".join(parts)


def _toml_json(value: object) -> str:
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} in a policy file")


# --- the documents -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Doc:
    path: Path
    title: str
    render: Callable[[], str]


def documents(root: Path = DOCS) -> list[Doc]:
    return [
        Doc(root / "events.md", "Event catalogue", render_events),
        Doc(root / "cli.md", "Command line", render_cli),
        Doc(root / "policy.md", "Allocation policy", render_policy),
    ]


def splice(text: str, block: str, where: str = "document") -> str:
    """`text` with what lies between its generated-block markers replaced by `block`."""
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise ValueError(f"{where}: expected one `{BEGIN}` followed by one `{END}`")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + block.strip("\n") + "\n" + text[end:]


def updated(doc: Doc) -> tuple[str, str]:
    """The document's text now, and with its generated block regenerated ("" if it is missing)."""
    current = doc.path.read_text("utf-8") if doc.path.exists() else ""
    text = current or f"# {doc.title}\n\n{BEGIN}\n{END}\n"
    return current, splice(text, doc.render(), str(doc.path))


def stale(docs: Sequence[Doc] | None = None) -> list[Path]:
    out = []
    for doc in docs or documents():
        current, new = updated(doc)
        if new != current:
            out.append(doc.path)
    return out


def write(docs: Sequence[Doc] | None = None) -> list[Path]:
    """Regenerate every block; return the documents that changed."""
    changed = []
    for doc in docs or documents():
        current, new = updated(doc)
        if new != current:
            doc.path.write_text(new, "utf-8")
            changed.append(doc.path)
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m docs.gen", description=__doc__.split("\n\n")[0] if __doc__ else "")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a generated block is stale")
    args = p.parse_args(argv)
    if args.check:
        paths = stale()
        for path in paths:
            print(f"{path.relative_to(ROOT)}: stale (run `make docs`)", file=sys.stderr)
        return 1 if paths else 0
    for path in write():
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
