"""The WSGI entry point for production servers: ``fhirterm.web.wsgi:app``.

Content is loaded once per process at import, from the settings in the
environment (``FHIRTERM_*``). The stack is ``create_wsgi``'s: CORS and
security headers, the response cache, the fast path for GET operations,
then Flask.
"""

from ..config import Settings
from ..loading import load_registry
from .app import create_wsgi, serving_gc

serving_gc()
settings = Settings.from_env()
registry = load_registry(settings)
app = create_wsgi(settings, registry)
