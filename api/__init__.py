"""The velotrain REST API (FastAPI). It never imports JAX."""
