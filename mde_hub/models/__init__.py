"""The model families, one folder each (configuration_*.py and modeling_*.py)."""
