"""The ASGI app. ``twilio`` is the answer path and stays lean; ``app`` wires the parts."""
