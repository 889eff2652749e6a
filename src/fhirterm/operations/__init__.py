"""FHIR terminology operations: plain functions of (registry, request) -> result.

They own the FHIR meaning of each operation and know no HTTP, JSON shapes or
files; errors that stop an operation are raised as ``fhirterm.errors``
exceptions, and problems with the thing being checked are returned as issues.
"""
