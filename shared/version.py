"""The application's version, reported by /api/health and stamped on audit rows."""

__version__ = "0.1.0"
