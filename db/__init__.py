"""Database layer shared by the API, the workers and the migrations."""
