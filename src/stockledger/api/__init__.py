"""HTTP API (FastAPI): app factory, auth, schemas, routes, problem+json errors."""
