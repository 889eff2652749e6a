"""The WSGI entry point for production servers: ``fhirterm.web.wsgi:app``.

Content is loaded once per worker process at import, from the settings in
the environment (``FHIRTERM_*``); deterministic reads are replayed from a
bounded response cache (``FHIRTERM_RESPONSE_CACHE`` entries, 0 disables).
"""

from ..config import Settings
from . import create_app
from .cache import ResponseCache

settings = Settings.from_env()
flask_app = create_app(settings)
app = ResponseCache(flask_app, max_entries=settings.response_cache)
