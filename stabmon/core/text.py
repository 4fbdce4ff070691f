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

import re
from typing import Any

# Escapes only where CommonMark (and GitHub's tables and strikethrough) would
# read markup, so the Markdown pastes as plain text into Slack, Jira or a ticket:
# no HTML entity, no backslash before an underscore inside a word or a minus sign.
_ALWAYS = re.compile(r"[`*~]")  # code spans, emphasis, strikethrough: ambiguous anywhere
_BACKSLASH = re.compile(r"\\(?=[!-/:-@\[-`{-~]|$)")  # a backslash that would escape what follows
_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")  # emphasis only at a word's edge
_TAG = re.compile(r"<(?=[A-Za-z/!?])")  # an HTML tag or an autolink
_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")  # an entity or character reference
_LINK = re.compile(r"\](?=[(\[:])")  # the end of a link, image or reference definition
# At the start of a line these open a heading, a list item, a quote or a code block.
_BLOCK_START = re.compile(r"^(#{1,6}(?=\s|$)|[-+*>](?=\s|$)|\d{1,9}(?=[.)](\s|$)))")

_BACKTICK_RUN = re.compile(r"`+")


def md_escape(text: Any, *, cell: bool = False) -> str:
    """Escape text for CommonMark, only where a character would otherwise be read as markup.

    The result is one line (line breaks become spaces) that reads the same
    rendered or pasted as plain text: ``degraded_days``, ``-27.00`` and
    ``83.3 % < 95 %`` stay as they are, while ``<script>`` becomes
    ``\\<script>`` (text, never a tag) and ``a*b*c`` keeps its asterisks.
    No HTML entity is ever written.

    Parameters
    ----------
    text
        Anything; ``str(text)`` is escaped.
    cell
        The text goes into a table cell: ``|`` is escaped too.

    Returns
    -------
    str
        The escaped text: ``_x_ [a](b)`` becomes ``\\_x\\_ [a\\](b)``.
    """
    value = str(text).replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    value = _BACKSLASH.sub(r"\\\\", value)
    for pattern in (_ALWAYS, _UNDERSCORE, _TAG, _ENTITY, _LINK):
        value = pattern.sub(lambda m: "\\" + m.group(0), value)
    if cell:
        value = value.replace("|", "\\|")
    match = _BLOCK_START.match(value)
    if match:
        value = value[:match.end()] + "\\" + value[match.end():] if match.group(0)[0].isdigit() \
            else "\\" + value
    return value


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
