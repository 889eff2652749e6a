"""Runner for the HL7 FHIR Terminology Ecosystem test suite (see README.md here)."""
