"""The one Markdown escaper (stabmon.core.text) and the weekly report that uses it."""

from __future__ import annotations

from factories import START, week_of

from stabmon.core.daily import aggregate_days
from stabmon.core.markdown import weekly_markdown
from stabmon.core.model import Window
from stabmon.core.text import md_code, md_escape
from stabmon.core.weekly import weekly_summary

WEEK = Window(start=START, duration_hours=168, interval_minutes=30)


def test_md_escape_escapes_only_what_commonmark_would_read_as_markup():
    # Intraword underscores, minus signs, "<" before a space and bare brackets are text in CommonMark.
    for plain in ("degraded_days", "-27.00", "83.3 % < 95 %", "a & b", "[namespace=production]", "x > y",
                  "p95_latency_ms level shift", "1.5x", "#3 of 7"):
        assert md_escape(plain) == plain
    assert md_escape("a*b_c|[x]") == "a\\*b_c|[x]"  # "*" can open emphasis anywhere
    assert md_escape("a|b", cell=True) == "a\\|b"  # only a table cell splits at "|"
    assert md_escape("_x_ and __init__") == "\\_x\\_ and \\_\\_init\\_\\_"  # "_" at a word's edge
    assert md_escape("[a](b) ![i](p)") == "[a\\](b) ![i\\](p)"  # no link, no image
    assert md_escape("<script>&amp;</b>") == "\\<script>\\&amp;\\</b>"  # no tag, no entity; never an entity
    assert md_escape("`code` ~~gone~~") == "\\`code\\` \\~\\~gone\\~\\~"
    assert md_escape("C:\\dir \\*") == "C:\\dir \\\\\\*"  # a backslash only doubled before punctuation
    assert md_escape("# not a heading") == "\\# not a heading"
    assert md_escape("- not an item") == "\\- not an item"
    assert md_escape("2026. not an item") == "2026\\. not an item"
    assert md_escape("> not a quote") == "\\> not a quote"
    assert md_escape("two\nlines\r\n") == "two lines "
    assert md_escape(12.5) == "12.5"


def test_md_code_keeps_the_text_literal():
    assert md_code("checkout_api") == "`checkout_api`"  # no backslash: it would show inside code
    assert md_code("a`b") == "``a`b``"  # the fence is longer than any backtick run inside
    assert md_code("`x") == "`` `x ``"  # padded so the inner backtick does not join the fence
    assert md_code("a\nb") == "`a b`"


def test_weekly_markdown_escapes_the_service_and_every_reason():
    # Every snapshot at 99.0 % availability: all 7 days degraded, so the
    # rollback reasons and recommendations carry "<" and ">=" comparisons.
    daily = aggregate_days(week_of(WEEK, availability=99.0, error_rate=1.0, errors=10.0), WEEK)
    text = weekly_markdown(weekly_summary(daily, WEEK, None, service="<b>shop|eu</b>"))
    assert text.startswith("# 7-Day Post-Release Stability Summary: \\<b>shop|eu\\</b>\n")
    assert "&lt;" not in text and "&gt;" not in text and "&amp;" not in text
    reasons = [line for line in text.splitlines() if line.startswith("- 7 degraded days")]
    assert len(reasons) == 1
    assert "(rollback limit: at least 2 degraded days)" in reasons[0]
    assert "availability SLO compliance 0.0 % < 95 %" in reasons[0]
    assert "average error rate 1.000 % ≥ 0.1 %" in reasons[0]
