"""The package reads along the data flow (docs/ARCHITECTURE.md): data -> processing -> models -> inference ->
evaluation -> outputs, then the faces (app, training, benchmarking, cli). No module imports from a later stage, no
import cycle exists, the top level stays small, and the old module paths still import, with a FutureWarning."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from mde_hub._deprecated_modules import MOVED_MODULES
from mde_hub.data.folder import write_rgbd_folder
from mde_hub.data.synthetic import SyntheticDepthDataset

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "mde_hub"
STAGES = ["data", "processing", "models", "inference", "evaluation", "outputs"]
FACES = ["app", "training", "benchmarking", "zoo", "cli"]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Every mde_hub module -> the mde_hub modules it imports (at any depth: lazy imports count)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                candidates = [target] + [f"{target}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            else:
                continue
            targets.update(c for c in candidates if c.startswith("mde_hub") and _exists(c))
        graph[name] = targets - {name}
    return graph


def _exists(module: str) -> bool:
    path = PACKAGE.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _stage(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None  # the package itself: it registers the models
    order = STAGES + FACES
    return order.index(parts[1]) if parts[1] in order else None


def test_no_module_imports_from_a_later_stage() -> None:
    backwards = []
    for module, targets in _imports().items():
        stage = _stage(module)
        if stage is None or stage >= len(STAGES):
            continue  # faces may import any stage
        backwards += [f"{module} -> {t}" for t in targets if (_stage(t) or 0) > stage and _stage(t) is not None]
    assert backwards == []


def test_no_import_cycle() -> None:
    graph = _imports()
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if target.startswith(module + "."):
                continue  # a package importing its own modules
            if state.get(target) == "open":
                cycle = trail[trail.index(target):] if target in trail else trail
                pytest.fail(" -> ".join([*cycle, target]))
            if target not in state:
                visit(target, [*trail, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_at_most_eight_top_level_modules() -> None:
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(modules) <= 8, modules
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert packages == sorted(STAGES + FACES[:-1])


@pytest.mark.parametrize("old", sorted(MOVED_MODULES))
def test_old_module_paths_import_with_a_future_warning(old: str) -> None:
    new = importlib.import_module(MOVED_MODULES[old])
    with pytest.warns(FutureWarning, match=f"{old} moved to {MOVED_MODULES[old]}"):
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            alias = importlib.reload(importlib.import_module(old)) if old in __import__("sys").modules else importlib.import_module(old)
    public = getattr(new, "__all__", None) or [name for name in vars(new) if not name.startswith("_")]
    assert all(getattr(alias, name) is getattr(new, name) for name in public)


def test_removed_functions_still_work_with_a_future_warning(tmp_path: Path) -> None:
    from mde_hub.data import folder, splits

    with pytest.warns(FutureWarning, match="mde_hub.data.specs.tail_fraction"):
        assert splits.parse_tail_split("tail:0.25") == 0.25
    with pytest.warns(FutureWarning, match="mde_hub.data.images.to_rgb_uint8"):
        rgb = folder.rgb_array(PIL.Image.fromarray(np.full((2, 3), 30000, dtype=np.uint16)))
    assert rgb.shape == (2, 3, 3) and (rgb == 117).all()  # 16-bit read as value / 257, as every loader reads it
    frames = tmp_path / "frames"
    write_rgbd_folder(SyntheticDepthDataset(size=2, height=32, width=48), frames)
    with pytest.warns(FutureWarning, match="mde_hub.data.specs.open_spec"):
        dataset = splits.open_folder_spec(f"rgbd_folder:{frames}")
    assert len(dataset) == 2


def test_imports_are_sorted() -> None:
    # One import order everywhere (ruff's isort rules, configured in pyproject.toml).
    checked = [str(REPO / name) for name in ("mde_hub", "tests", "train", "benchmarks", "app.py")]
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "I", "--no-cache", *checked],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
