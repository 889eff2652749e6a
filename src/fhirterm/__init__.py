"""fhirterm: a FHIR terminology server for ICD-10-CM with an editorial layer."""

__version__ = "0.1.0"
__release_date__ = "2026-11-25"  # CapabilityStatement.software.releaseDate; set on release
