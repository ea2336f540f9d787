"""A report as a list of blocks, rendered to Markdown and to standalone HTML.

Rendering only: the numbers come from the study; nothing here computes.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field

import pandas as pd

__all__ = ["Report", "format_number"]

#: Beyond this magnitude a number is printed in exponent form (``1.1e+14``).
LARGE = 1e6


def format_number(value: float | None, digits: int = 3) -> str:
    """A number as text for a person: fixed decimals, or exponent form when extreme.

    Parameters
    ----------
    value : float or None
    digits : int
        Decimals of the fixed form.

    Returns
    -------
    str
        ``""`` for None and NaN; ``"inf"``/``"-inf"``; two significant digits in exponent form
        (``1.1e+14``, ``3.2e-05``) when ``|value| >= 1e6`` or when the fixed form would show a
        non-zero value as zero; otherwise ``digits`` decimals (``0.244``).
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    v = float(value)
    if math.isnan(v):
        return ""
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    size = abs(v)
    if size >= LARGE or (0 < size < 0.5 * 10.0**-digits):
        return f"{v:.2g}"
    return f"{v:.{digits}f}"


@dataclass
class Report:
    """Blocks of a report: headings, paragraphs (Markdown inline), tables and figures.

    A builder used inside one function call (the study), so it is mutable by design.
    """

    title: str
    blocks: list[tuple[str, object]] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        """Add a heading (level 2 = section)."""
        self.blocks.append(("heading", (level, text)))

    def para(self, text: str) -> None:
        """Add a paragraph (Markdown inline: ``**bold**``, ``*italic*``, ```code```; lists)."""
        self.blocks.append(("para", text))

    def table(self, df: pd.DataFrame, caption: str = "", digits: int = 3) -> None:
        """Add a table (floats to ``digits`` decimals, extreme values in exponent form)."""
        self.blocks.append(("table", (df, caption, digits)))

    def figure(self, path: str, caption: str) -> None:
        """Add a figure (path relative to the report)."""
        self.blocks.append(("figure", (path, caption)))

    # ------------------------------------------------------------------ rendering
    @staticmethod
    def _fmt(df: pd.DataFrame, digits: int) -> pd.DataFrame:
        out = df.copy()
        for c in out.columns:
            if pd.api.types.is_float_dtype(out[c]):
                out[c] = out[c].map(lambda v: format_number(v, digits))
        return out.astype(str).replace({"nan": "", "<NA>": "", "None": ""})

    def to_markdown(self) -> str:
        """The report as GitHub-flavoured Markdown."""
        lines = [f"# {self.title}", ""]
        for kind, payload in self.blocks:
            if kind == "heading":
                level, text = payload
                lines += ["#" * level + " " + text, ""]
            elif kind == "para":
                lines += [str(payload), ""]
            elif kind == "table":
                df, caption, digits = payload
                if caption:
                    lines += [f"*{caption}*", ""]
                f = self._fmt(df, digits)
                cols = [str(c) for c in f.columns]
                lines.append("| " + " | ".join(cols) + " |")
                lines.append("|" + "|".join("---" for _ in cols) + "|")
                for row in f.itertuples(index=False):
                    cells = [str(v).replace("|", "\\|").replace("\n", " ") for v in row]
                    lines.append("| " + " | ".join(cells) + " |")
                lines.append("")
            elif kind == "figure":
                path, caption = payload
                lines += [f"![{caption}]({path})", "", f"*{caption}*", ""]
        return "\n".join(lines)

    @staticmethod
    def _inline(text: str) -> str:
        t = html.escape(text)
        t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
        t = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", t)
        t = re.sub(r"\*([^*]+)\*", r"<em>\1</em>", t)
        return t

    def _para_html(self, text: str) -> str:
        out, items = [], []
        for line in text.splitlines():
            s = line.strip()
            if s.startswith(("- ", "* ")):
                items.append(f"<li>{self._inline(s[2:])}</li>")
                continue
            if items:
                out.append("<ul>" + "".join(items) + "</ul>")
                items = []
            if s.startswith("#"):
                level = min(len(s) - len(s.lstrip("#")) + 1, 6)
                out.append(f"<h{level}>{self._inline(s.lstrip('#').strip())}</h{level}>")
            elif s:
                out.append(f"<p>{self._inline(s)}</p>")
        if items:
            out.append("<ul>" + "".join(items) + "</ul>")
        return "\n".join(out)

    def to_html(self) -> str:
        """The report as one standalone HTML page (figures linked, not embedded)."""
        body = [f"<h1>{html.escape(self.title)}</h1>"]
        for kind, payload in self.blocks:
            if kind == "heading":
                level, text = payload
                body.append(f"<h{level}>{self._inline(text)}</h{level}>")
            elif kind == "para":
                body.append(self._para_html(str(payload)))
            elif kind == "table":
                df, caption, digits = payload
                f = self._fmt(df, digits)
                cap = f"<caption>{self._inline(caption)}</caption>" if caption else ""
                body.append(
                    f.to_html(index=False, escape=True).replace(
                        '<table border="1" class="dataframe">', f"<table>{cap}", 1
                    )
                )
            elif kind == "figure":
                path, caption = payload
                body.append(
                    f'<figure><img src="{html.escape(path)}" alt="{html.escape(caption)}">'
                    f"<figcaption>{self._inline(caption)}</figcaption></figure>"
                )
        style = (
            "body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.45}"
            "table{border-collapse:collapse;margin:1em 0;font-size:0.85em}"
            "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
            "caption{text-align:left;font-style:italic;margin-bottom:4px}"
            "img{max-width:100%}figcaption{font-style:italic;font-size:0.9em}"
            "code{background:#f3f3f3;padding:0 3px}"
        )
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(self.title)}</title><style>{style}</style></head><body>\n"
            + "\n".join(body)
            + "\n</body></html>\n"
        )
