"""Rules shared by several handlers."""
