"""The management side's checks on what people type (CLI, later the API); never imported by the
answer path."""
