"""Reading numbers from elsewhere: CSV and JSON files, the legacy per-number TwiML files, and a
company's own database. Each source gives rows; :mod:`backline.manage.bulk` checks them all and
applies them together. Management side only: never imported by the answer path."""
