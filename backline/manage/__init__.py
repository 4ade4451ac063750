"""The management side: everything that edits the table or reads the call log (the CLI, imports,
later a REST API), one module per thing managed. Values are checked before the database is
opened; what is refused is a :class:`backline.manage.errors.ManageError`. Never imported by the
answer path."""
