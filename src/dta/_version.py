"""The package version (single source: hatch reads it from here when building)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
