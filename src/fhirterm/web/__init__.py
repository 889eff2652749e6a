"""HTTP: the Flask app factory, the mountable FHIR blueprint, negotiation and error handling."""

from .app import create_app
from .routes import fhir_blueprint

__all__ = ["create_app", "fhir_blueprint"]
