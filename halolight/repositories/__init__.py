"""All SQL, one module per aggregate. Repositories flush, never commit: the request's route commits."""
