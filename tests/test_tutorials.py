"""The tutorials in docs/tutorials/ stay correct: their code runs against this codebase.

For each tutorial, the ```python blocks are executed in order in one namespace, in a
temporary working directory; a ```toml block whose first line is a comment naming a file
(``# subsidy.toml``) is written there first, as the tutorial tells the reader to do. The
```sh blocks are not executed, but every ``ecopark ...`` command in them must parse.
"""

from __future__ import annotations

import argparse
import re
import shlex
import traceback
from pathlib import Path

import pandas as pd
import pytest

from ecopark.cli import build_parser

TUTORIALS = Path(__file__).resolve().parents[1] / "docs" / "tutorials"
NAMES = ("analyst", "student", "researcher", "calibration")
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
FILE_COMMENT = re.compile(r"#\s*([\w.-]+\.toml)\s*")


def blocks(name: str, language: str) -> list[str]:
    """The fenced code blocks of ``docs/tutorials/<name>.md`` in ``language``, in order."""
    text = (TUTORIALS / f"{name}.md").read_text(encoding="utf-8")
    return [body for lang, body in FENCE.findall(text) if lang == language]


def test_every_tutorial_is_tested() -> None:
    assert sorted(p.stem for p in TUTORIALS.glob("*.md")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_python_blocks_run(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for body in blocks(name, "toml"):
        first = body.splitlines()[0] if body else ""
        match = FILE_COMMENT.fullmatch(first)
        if match:
            (tmp_path / match.group(1)).write_text(body, encoding="utf-8")
    code = blocks(name, "python")
    assert code, f"{name}.md has no python blocks"
    namespace: dict = {"__name__": f"tutorial_{name}"}
    failure = None
    with pd.option_context("display.max_columns", 20, "display.width", 80):  # undo any display settings
        for index, body in enumerate(code, start=1):
            where = f"docs/tutorials/{name}.md, python block {index}"
            try:
                exec(compile(body, where, "exec"), namespace)
            except Exception as exc:
                failure = f"{where} failed: {type(exc).__name__}: {exc}\n\n{body}\n{traceback.format_exc()}"
                break
    if failure:
        pytest.fail(failure, pytrace=False)


@pytest.mark.parametrize("name", NAMES)
def test_shell_commands_parse(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    for index, body in enumerate(blocks(name, "sh"), start=1):
        for line in body.splitlines():
            words = shlex.split(line, comments=True)
            commands, current = [], []
            for word in [*words, "&&"]:
                if word in ("&&", ";", "||"):
                    commands.append(current)
                    current = []
                else:
                    current.append(word)
            for command in commands:
                if command and command[0] == "ecopark" and not parses(parser, command[1:]):
                    pytest.fail(f"docs/tutorials/{name}.md, sh block {index}: {' '.join(command)!r} does not "
                                f"parse: {capsys.readouterr().err.strip()}", pytrace=False)


def parses(parser: argparse.ArgumentParser, args: list[str]) -> bool:
    """Whether the command line ``args`` parses (argparse prints its error and exits otherwise)."""
    try:
        parser.parse_args(args)
    except SystemExit:
        return False
    return True
