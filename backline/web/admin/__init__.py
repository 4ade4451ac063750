"""The web admin under ``/admin``: server-rendered pages (Jinja2, no script), Japanese and
English. Loaded only when the admin surface is enabled, never by the answer path."""
