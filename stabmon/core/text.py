"""Text from outside (alert names, label values, service names, files) made safe for Markdown.

Two rules, one function each:

* :func:`md_escape` for running text, list items and table cells: the text
  reads the same once rendered, and cannot open markup (a ``<script>`` in an
  alert name stays text, a ``|`` does not split a table cell, a line break
  does not end the item).
* :func:`md_code` for a literal shown as inline code, where backslash escapes
  would show.
"""

from __future__ import annotations

import html
import re
from typing import Any

# Parentheses, "!" and "#" only matter next to characters escaped here or at
# the start of a line, so escaping these is enough and keeps the .md readable.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")

# At the start of a line these open a heading, a list item or a quote.
_BLOCK_MARKERS = ("#", "+", "-", ">")

_BACKTICK_RUN = re.compile(r"`+")


def md_escape(text: Any) -> str:
    """Escape text for Markdown: HTML specials as entities, Markdown specials with a backslash.

    Line breaks become spaces, so the result is always one line: safe in a
    table cell (``|`` is escaped too) and as one list item.

    Parameters
    ----------
    text
        Anything; ``str(text)`` is escaped.

    Returns
    -------
    str
        The escaped text: ``a*b_c|[x]`` becomes ``a\\*b\\_c\\|\\[x\\]``.
    """
    value = html.escape(str(text), quote=False)
    value = _MD_SPECIAL.sub(r"\\\1", value).replace("\r", " ").replace("\n", " ")
    return "\\" + value if value[:1] in _BLOCK_MARKERS else value


def md_code(text: Any) -> str:
    """``str(text)`` as an inline code span, backticks included.

    Inside a code span nothing is markup, so nothing is escaped; the fence is
    one backtick longer than the longest run of backticks in the text, and
    line breaks become spaces. A GitHub table cell still splits a code span
    at ``|``: use :func:`md_escape` for table cells.

    Returns
    -------
    str
        The code span: ``checkout_api`` between single backticks, for instance.
    """
    value = str(text).replace("\r", " ").replace("\n", " ")
    fence = "`" * (max((len(run) for run in _BACKTICK_RUN.findall(value)), default=0) + 1)
    # A space on each side keeps a backtick at either end apart from the fence.
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"
