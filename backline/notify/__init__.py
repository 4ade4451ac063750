"""Telling the team: channels, the durable outbox, outage grouping and the dispatcher.

Nothing in this package is imported by the answer path (backline/web/twilio.py); the answer
path only writes ``events`` rows (or journal records) that the dispatcher reads later.
"""
