# fhirterm: FHIR terminology server for ICD-10-CM.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir .
COPY codesystems ./codesystems
# Parse the bundled releases once at build time so containers are ready in about a second.
ENV FHIRTERM_CACHE_DIR=/var/cache/fhirterm FHIRTERM_CONTENT_DIR=/app/codesystems
RUN fhirterm check
EXPOSE 8080
CMD ["fhirterm", "serve", "--host", "0.0.0.0", "--port", "8080"]
