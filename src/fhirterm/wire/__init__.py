"""FHIR JSON at the edges: request parameters in, Parameters/OperationOutcome/resources out.

Builds plain dicts (serialised with orjson by the web layer); fhir.resources is
not used here, so the hot path does no model validation.
"""
