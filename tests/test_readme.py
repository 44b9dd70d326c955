"""The README's parameter table states what the code really builds."""

from __future__ import annotations

import pathlib
import re
import shlex

import pytest
import torch

import mde_hub

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
ROW = re.compile(r"^\| `(?P<config>\w+(?:Config)\.?\w*\([^`]*\))`[^|]*\| (?P<count>[\d,]+) \|", re.MULTILINE)
MODEL_FOR = {config: model for config, model in mde_hub.MODEL_CLASSES.values()}


def table_rows() -> list[tuple[str, int]]:
    rows = [(m["config"], int(m["count"].replace(",", ""))) for m in ROW.finditer(README.read_text())]
    assert len(rows) >= 8, "parameter table not found in README.md"
    return rows


@pytest.mark.parametrize("expression,count", table_rows())
def test_parameter_count_in_readme(expression: str, count: int) -> None:
    config = eval(expression, vars(mde_hub))  # noqa: S307 - expressions come from our own README
    with torch.device("meta"):
        model = MODEL_FOR[type(config)](config)
    assert sum(p.numel() for p in model.parameters()) == count


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}")
    return text[start: text.index("\n## ", start + 1)]


def test_zoo_listing_in_readme_is_the_zoo_tables() -> None:
    from mde_hub.zoo.table import readme_block

    text = README.read_text()
    start, end = "<!-- zoo-table:start -->\n", "\n<!-- zoo-table:end -->"
    assert text[text.index(start) + len(start): text.index(end)] == readme_block()


def test_zoo_section_commands_parse() -> None:
    """Every `mde-hub` command of the Model zoo section is valid (optional [groups] taken, comments dropped)."""
    from mde_hub.cli import build_parser

    section = _section("Model zoo")
    commands = [line for block in re.findall(r"```bash\n(.*?)```", section, re.DOTALL) for line in block.splitlines()]
    commands = [re.sub(r"\[([^\]]*)\]", r"\1", line.split(" # ")[0]) for line in commands if line.startswith("mde-hub ")]
    assert len(commands) >= 20
    for command in commands:
        try:
            build_parser().parse_args(shlex.split(command)[1:])
        except SystemExit:
            pytest.fail(f"README command does not parse: {command}")
