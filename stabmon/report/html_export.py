"""Single-file HTML of an executed notebook that opens with the network off.

nbconvert's ``lab`` template loads require.js and MathJax from a CDN (and
Mermaid and the widget renderer when a notebook uses them). A report
attached to a ticket is opened anywhere, often offline or behind a proxy, so
this export keeps the ``lab`` look (its CSS is inlined by nbconvert) and
drops every script the template would fetch; images are embedded as
``data:`` URIs and the code cells and prompts are hidden.

The reports hold no LaTeX: without MathJax a ``$`` in a text stays a ``$``.
Outputs that only a script could show (JavaScript, widget views) are not
rendered; their plain-text form is shown instead.
"""

from __future__ import annotations

import logging
import re
from typing import Any

#: The template: JupyterLab's ``lab`` page without the blocks that load scripts
#: (require.js, widgets, MathJax, Mermaid) and without the widget state the footer carries.
OFFLINE_TEMPLATE_NAME = "stabmon_offline.html.j2"
OFFLINE_TEMPLATE = """\
{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block footer -%}
</html>
{%- endblock footer -%}
"""

#: Which representation of an output is shown, best first: nbconvert's default
#: order, pinned here because it holds neither ``application/javascript`` nor
#: the widget view (both need a script), whatever a later nbconvert adds.
DISPLAY_PRIORITY = [
    "text/html", "application/pdf", "text/latex", "image/svg+xml", "image/png", "image/jpeg", "text/markdown",
    "text/plain",
]

#: An element attribute that makes a browser fetch something when the page loads.
_LOADING_ATTRIBUTE = re.compile(
    r"<(?:script|link|img|iframe|embed|source|audio|video|object)\b[^>]*?\s(?:src|href|data)\s*=\s*"
    r"[\"']?\s*((?:https?:)?//[^\"'\s>]+)",
    re.IGNORECASE,
)
_CSS_IMPORT = re.compile(r"@import\s+(?:url\()?\s*[\"']?((?:https?:)?//[^\"')\s;]+)", re.IGNORECASE)
_CSS_URL = re.compile(r"url\(\s*[\"']?((?:https?:)?//[^\"')\s]+)", re.IGNORECASE)


def network_references(html: str) -> list[str]:
    """Addresses the page would fetch from a network when opened: script, style and media sources.

    Links a reader may click (``<a href>``) are not fetched and are not listed.
    """
    found = _LOADING_ATTRIBUTE.findall(html) + _CSS_IMPORT.findall(html) + _CSS_URL.findall(html)
    return sorted(set(found))


def html_exporter(log: logging.Logger | None = None) -> Any:
    """The nbconvert exporter of offline single-file HTML (making one compiles its templates: reuse it)."""
    # The notebook stack takes seconds to import: only when a report is exported.
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    config = Config({"NbConvertBase": {"display_data_priority": DISPLAY_PRIORITY}})
    options: dict[str, Any] = {"log": log} if log is not None else {}
    return HTMLExporter(
        config=config, template_name="lab", template_file=OFFLINE_TEMPLATE_NAME,
        extra_loaders=[DictLoader({OFFLINE_TEMPLATE_NAME: OFFLINE_TEMPLATE})],
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
        exclude_anchor_links=True, embed_images=True,
        # The notebook is validated once, after all the preprocessors, not after each of them (a dozen).
        optimistic_validation=True, **options,
    )


def export_html(nb: Any, title: str, *, log: logging.Logger | None = None, exporter: Any = None) -> str:
    """Single-file HTML of ``nb``: code hidden, images embedded, no script or style from a network.

    Parameters
    ----------
    nb
        An executed notebook (``nbformat.NotebookNode``).
    title
        The page title.
    log
        The logger nbconvert reports to.
    exporter
        An exporter made by :func:`html_exporter` to reuse (one is made otherwise).
    """
    exporter = exporter if exporter is not None else html_exporter(log)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return body
