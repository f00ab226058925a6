"""The ``dta`` command line: a thin layer over the public API (see ``main``)."""

from __future__ import annotations

__all__: list[str] = []
