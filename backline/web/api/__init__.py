"""The REST API under ``/api``: loaded only when the admin surface is enabled, never by the
answer path."""
