"""fhirterm: a FHIR terminology server for ICD-10-CM with an editorial layer."""

__version__ = "0.1.0"
