"""One family of errors: every expected failure is a :class:`StabmonError`.

The command line turns a ``StabmonError`` into one line on stderr and exit
code 1; anything else is a bug and keeps its traceback.
"""


class StabmonError(Exception):
    """An expected failure with a message fit for one line on stderr."""


class InputError(StabmonError):
    """Bad input from the user: a flag, a baseline, a queries file."""


class BaselineError(InputError):
    """The baseline file is missing, not JSON, or holds bad values."""


class PrometheusError(StabmonError):
    """Prometheus could not be reached or refused a query."""


class AuthenticationError(PrometheusError):
    """Prometheus answered 401 or 403."""


class QueryError(PrometheusError):
    """Prometheus rejected a query (400 bad_data, 422 execution) or its result has the wrong shape."""


class StoreError(StabmonError):
    """The output folder cannot be read or written."""


class ReportError(StabmonError):
    """A notebook failed while rendering the reports."""
