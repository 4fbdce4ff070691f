"""The one Markdown escaper (stabmon.core.text) and the weekly report that uses it."""

from __future__ import annotations

from factories import START, week_of

from stabmon.core.daily import aggregate_days
from stabmon.core.markdown import weekly_markdown
from stabmon.core.model import Window
from stabmon.core.text import md_code, md_escape
from stabmon.core.weekly import weekly_summary

WEEK = Window(start=START, duration_hours=168, interval_minutes=30)


def test_md_escape():
    assert md_escape("a*b_c|[x]") == "a\\*b\\_c\\|\\[x\\]"
    assert md_escape("# not a heading") == "\\# not a heading"
    assert md_escape("- not an item") == "\\- not an item"
    assert md_escape("<b>&</b>") == "&lt;b&gt;&amp;&lt;/b&gt;"
    assert md_escape("two\nlines\r\n") == "two lines  "
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
    assert text.startswith("# 7-Day Post-Release Stability Summary: &lt;b&gt;shop\\|eu&lt;/b&gt;\n")
    reasons = [line for line in text.splitlines() if line.startswith("- 7 days degraded")]
    assert len(reasons) == 1
    assert "availability SLO compliance 0.0% &lt; 95%" in reasons[0]
    assert "avg error rate 1.000% &gt;= 0.1%" in reasons[0]
    assert "<" not in reasons[0]
