"""The README's parameter table states what the code really builds."""

from __future__ import annotations

import pathlib
import re

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
