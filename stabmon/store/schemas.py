"""The JSON Schemas that ship in the package, and validation against them."""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from stabmon.core import paths
from stabmon.core.errors import StabmonError

if TYPE_CHECKING:  # pragma: no cover
    import jsonschema

#: Schema names and their files in ``stabmon/schemas/``.
SCHEMA_FILES = {
    "snapshot": "snapshot.schema.json",
    "daily": "daily_summary.schema.json",
    "weekly": "weekly_summary.schema.json",
    "run": "run.schema.json",
    "baseline": "baseline.schema.json",
    "anomaly": "anomaly.schema.json",
    "burndown": "slo_burndown.schema.json",
    "fleet": "fleet_summary.schema.json",
    "release_comparison": "release_comparison.schema.json",
}


class SchemaError(StabmonError):
    """A document does not validate against its schema."""


@lru_cache(maxsize=None)
def load(name: str) -> dict[str, Any]:
    """Return the packaged schema ``name`` (see :data:`SCHEMA_FILES`)."""
    text = (paths.SCHEMAS_DIR / SCHEMA_FILES[name]).read_text(encoding="utf-8")
    return json.loads(text)


def keep_out_iri_grammar() -> None:
    """Keep jsonschema from importing ``rfc3987_syntax`` in this process.

    jsonschema imports it when it is installed (jupyter pulls it in), and that
    module compiles a grammar at import: ~2.4 s of CPU in every process that
    imports nbformat (papermill, nbconvert) or jsonschema. No stabmon schema
    and no notebook checks an IRI format, so jsonschema may treat it as
    absent. Called by the ``stabmon`` command and a Dask worker's render task
    before the notebook stack is imported; it does nothing once jsonschema is
    imported (it has its format checkers already).
    """
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


@lru_cache(maxsize=None)
def _jsonschema() -> Any:
    """jsonschema, imported when a document is first refused by the fast path (0.2 s of every report kernel's
    start-up otherwise: the notebooks read run folders without validating them)."""
    keep_out_iri_grammar()
    import jsonschema

    return jsonschema


def _validator(name: str) -> jsonschema.protocols.Validator:
    schema = load(name)
    cls = _jsonschema().validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


# --- fast path (issue 7: a 1,000-service fleet validates ~700,000 documents) ---
# fastjsonschema (installed with nbformat) compiles a schema to Python, ~30x
# faster than jsonschema. It is trusted only to accept: a document it rejects
# goes to jsonschema, which decides and explains. The packaged schemas use only
# keywords whose meaning is the same in draft 7 (fastjsonschema) and 2020-12.
@lru_cache(maxsize=None)
def _fast_validator(name: str) -> Any:
    try:
        import fastjsonschema
    except ImportError:  # pragma: no cover - nbformat depends on it
        return None
    try:
        return fastjsonschema.compile(load(name))
    except Exception:  # an unsupported construct: jsonschema alone
        return None


def validate(document: Any, name: str) -> None:
    """Validate ``document`` against schema ``name``.

    Raises
    ------
    SchemaError
        With the first error's path and message.
    """
    fast = _fast_validator(name)
    if fast is not None:
        try:
            fast(document)
            return
        except Exception:  # rejected or not checkable: jsonschema decides
            pass
    error = _jsonschema().exceptions.best_match(_validator(name).iter_errors(document))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise SchemaError(f"{name} schema: {where}: {error.message}")
