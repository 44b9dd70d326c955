"""Every architecture has a model-card template that fills completely from the documented placeholders."""

from __future__ import annotations

import pathlib
import string

import pytest

from mde_hub import MODEL_CLASSES

TEMPLATES = pathlib.Path(__file__).resolve().parents[1] / "model_cards"
PLACEHOLDERS = (
    "model_name",
    "config_summary",
    "depth_meaning",
    "training_summary",
    "evaluation_protocol",
    "results_table",
    "published_table",
    "usage_path",
    "install",
    "input_size",
    "training_data",
)


@pytest.mark.parametrize("model_type", sorted(MODEL_CLASSES))
def test_template_fills_from_the_placeholders(model_type: str) -> None:
    template = string.Template((TEMPLATES / f"{model_type.removeprefix('mde_')}.md").read_text())
    values = {name: f"<{name}>" for name in PLACEHOLDERS}
    card = template.substitute(values)
    assert all(value in card for value in values.values())
    assert f"model_type: {model_type}" in card or f"`{model_type}`" in card
    assert "| 0." not in card, "published numbers belong in mde_hub/evaluation/published.py, filled in as ${published_table}"
