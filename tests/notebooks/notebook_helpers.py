"""Constants shared by the notebook tests and their fixtures."""

#: An alert name an attacker could get into Prometheus; it must stay text.
PLANTED_ALERTNAME = '<script>alert("stabmon-xss")</script>'
#: The day and times it fires (one episode of three snapshots).
PLANTED_DAY = 2
PLANTED_TIMES = ("2026-01-06_10-00-00", "2026-01-06_10-30-00", "2026-01-06_11-00-00")
#: A credential that must appear in no rendered file.
FAKE_TOKEN = "stabmon-test-token-7f3a9c1e5b"
