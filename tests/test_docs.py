"""docs/: the generated blocks (event catalogue, CLI reference, policy reference) match the code.

When one of these fails after a change to the payloads, the parser or the policy, run
`make docs` (`python -m docs.gen`) and commit the rewritten documents.
"""

from __future__ import annotations

import difflib
import shutil
import typing
from pathlib import Path

import pytest

import pyengine.cli
from docs import gen
from pyengine import commands
from pyengine.policy import Policy


@pytest.mark.parametrize("doc", gen.documents(), ids=lambda d: d.path.name)
def test_generated_block_is_current(doc: gen.Doc) -> None:
    current, regenerated = gen.updated(doc)
    assert current, f"{doc.path} is missing: run `make docs`"
    if current != regenerated:
        diff = difflib.unified_diff(
            current.splitlines(keepends=True), regenerated.splitlines(keepends=True), "committed", "regenerated", n=1
        )
        pytest.fail(f"docs/{doc.path.name} is stale: run `make docs`\n{''.join(diff)[:4000]}")


def copies(tmp_path: Path) -> list[gen.Doc]:
    docs = gen.documents(tmp_path)
    for copy, real in zip(docs, gen.documents(), strict=True):
        shutil.copyfile(real.path, copy.path)
    return docs


def test_a_hand_edit_inside_a_block_is_caught_and_undone(tmp_path: Path) -> None:
    docs = copies(tmp_path)
    gen.write(docs)  # current, whatever the committed documents hold
    assert gen.stale(docs) == []
    events = docs[0]
    text = events.path.read_text("utf-8")
    edited = text.replace("| `date` | date (`YYYY-MM-DD`) | yes |", "| `date` | string | yes |", 1)
    assert edited != text
    events.path.write_text(edited, "utf-8")
    assert gen.stale(docs) == [events.path]
    assert gen.write(docs) == [events.path]
    assert events.path.read_text("utf-8") == text


def test_prose_around_the_block_is_kept() -> None:
    text = f"# Title\n\nBefore.\n\n{gen.BEGIN}\nold\n{gen.END}\n\nAfter.\n"
    assert gen.splice(text, "new\n") == f"# Title\n\nBefore.\n\n{gen.BEGIN}\nnew\n{gen.END}\n\nAfter.\n"


@pytest.mark.parametrize("text", ["# Title\n", f"{gen.END}\n{gen.BEGIN}\n", f"{gen.BEGIN}\n{gen.END}\n{gen.BEGIN}\n"])
def test_a_document_without_one_pair_of_markers_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="generated: begin"):
        gen.splice(text, "new")


def test_a_missing_document_is_created_with_its_block(tmp_path: Path) -> None:
    docs = gen.documents(tmp_path)
    assert gen.write(docs) == [d.path for d in docs]
    assert gen.stale(docs) == []
    assert docs[1].path.read_text("utf-8").startswith(f"# Command line\n\n{gen.BEGIN}\n")


def section(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end)]


def test_every_payload_command_and_parameter_is_described() -> None:
    events = (gen.DOCS / "events.md").read_text("utf-8")
    submitted = section(events, "## Commands\n", "## Events recorded by the engine only\n")
    recorded = section(events, "## Events recorded by the engine only\n", "## Types inside payloads\n")
    command_types = typing.get_args(commands.Command)
    payloads = [
        v
        for v in vars(commands).values()
        if isinstance(v, type) and issubclass(v, commands.Payload) and v is not commands.Payload
    ]
    assert len(payloads) > len(command_types) > 20
    for cls in payloads:
        assert f"### {cls.__name__}\n" in (submitted if cls in command_types else recorded), cls.__name__
    cli = (gen.DOCS / "cli.md").read_text("utf-8")
    for name in ("demo", "submit", "explain", "whatif", "report sales", "db init", "token new", "export"):
        assert f"### pyengine {name}\n" in cli
    policy = (gen.DOCS / "policy.md").read_text("utf-8")
    for field in Policy.__struct_fields__:
        assert f"| `{field}` |" in policy, field


def test_exit_statuses_come_from_the_cli_docstring() -> None:
    statuses = gen.exit_statuses(pyengine.cli.__doc__ or "")
    assert [s for s, _ in statuses] == [0, 1, 2, 3]
    assert dict(statuses)[0] == "done"


def test_check_mode_exits_0_when_current() -> None:
    assert gen.main(["--check"]) == 0
