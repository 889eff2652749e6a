"""The WSGI entry point for production servers: ``fhirterm.web.wsgi:app``.

Content is loaded once per worker process at import, from the settings in
the environment (``FHIRTERM_*``).
"""

from . import create_app

app = create_app()
