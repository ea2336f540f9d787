"""Figures to bytes: the one place where a matplotlib Figure is rendered."""

from __future__ import annotations

import io
from typing import Any

__all__ = ["png_bytes"]


def png_bytes(fig: Any, dpi: int = 150, **savefig: Any) -> bytes:
    """Render a matplotlib Figure to PNG bytes (extra keywords go to ``savefig``)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, **savefig)
    return buf.getvalue()
