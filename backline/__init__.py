"""backline: the fallback URL for Twilio voice numbers.

The package is split so that its layout shows what may fail and what may not:

* ``backline.core``   pure decisions (no I/O): validation, the call planner, TwiML.
* ``backline.store``  the database, the in-memory snapshot and the local journal.
* ``backline.web``    the ASGI app; ``web.twilio`` is the lean answer path.
* ``backline.notify`` telling the team (dispatcher, grouping, one module per channel).
* ``backline.cli``    the ``backline`` command.
* ``backline.aws``    the Lambda handlers.
"""

__version__ = "0.1.0"
