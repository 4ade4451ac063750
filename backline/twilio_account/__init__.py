"""The Twilio account as backline sees it: which numbers fall back to it (audit), and setting
their "Primary handler fails" URL (sync), over Twilio's REST API with the official client.

Management side only: the answer path never imports this package (the REST client alone costs a
cold start 100 ms or more).
"""
