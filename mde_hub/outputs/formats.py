"""The file formats `mde-hub predict` writes; free of torch, so the command line lists them at once
(`prediction_files` writes them)."""

FORMATS: tuple[str, ...] = ("png16", "npy", "color", "ply", "glb")
"""Output formats, in the order they are written."""


def parse_formats(formats: str) -> tuple[str, ...]:
    """Comma-separated format names (`"npy,color"`) as a tuple in writing order; unknown names are refused."""
    names = formats.split(",")
    unknown = sorted(set(names) - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown output formats {unknown}; choose from {FORMATS}")
    return tuple(name for name in FORMATS if name in names)
