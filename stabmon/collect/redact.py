"""Credentials never reach a log line, an error message or a file: the one redaction.

Credentials come only from the environment (docs/contract.md §5); every
text that may carry one (a log record of any library, a server's error
body, an exception) passes through :func:`redact` first.
"""

from __future__ import annotations

import logging
import os
import re

ENV_TOKEN = "STABMON_PROMETHEUS_TOKEN"
ENV_USER = "STABMON_PROMETHEUS_USER"
ENV_PASSWORD = "STABMON_PROMETHEUS_PASSWORD"
#: Environment variables whose values are credentials. The user name is one
#: too: with the password it is the login, and alone it says whom to attack.
SECRET_ENV = (ENV_TOKEN, ENV_PASSWORD, ENV_USER)
#: Shorter values are not blanked out: they would cut ordinary words apart.
MIN_SECRET_LENGTH = 3
MARK = "<redacted>"

_HEADER = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(?:(?:bearer|basic)\s+)?[^'\",}\s]+")
_URL_USERINFO = re.compile(r"(?i)(://)[^/@\s:]+:[^/@\s]+@")


def env_secrets() -> tuple[str, ...]:
    """The credential values of the current environment."""
    return tuple(v for v in (os.environ.get(name, "") for name in SECRET_ENV) if len(v) >= MIN_SECRET_LENGTH)


def redact(text: str, secrets: tuple[str, ...] | None = None) -> str:
    """Remove credentials from ``text``: Authorization headers, URL userinfo and known secrets.

    Parameters
    ----------
    text
        Any text about to be logged or shown.
    secrets
        Literal secrets to blank out; defaults to :func:`env_secrets`.
    """
    if not text:
        return text
    out = _HEADER.sub(lambda m: m.group(1) + MARK, str(text))
    out = _URL_USERINFO.sub(rf"\1{MARK}@", out)
    for secret in sorted(env_secrets() if secrets is None else secrets, key=len, reverse=True):
        if secret and len(secret) >= MIN_SECRET_LENGTH:
            out = out.replace(secret, MARK)
    return out


class RedactingFilter(logging.Filter):
    """A logging filter that passes every record's message through :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not stop logging
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
