"""`python -m codegen`: lint spec/openapi.yaml and generate `generated/` from it."""
