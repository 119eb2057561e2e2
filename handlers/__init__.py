"""Hand-written operation implementations, one module per spec tag, one function per operationId.

Nothing here imports fastapi or starlette (ruff's banned-api rule enforces it).
"""
