"""Running backline on AWS Lambda behind API Gateway or a Lambda Function URL.

* ``events``     pure parsing of API Gateway (REST v1, HTTP v2) and Function URL events.
* ``fallback``   the lean fallback handler: the Answerer without a web framework.
* ``asgi``       the same ASGI app the server runs, through Mangum (heavier cold start).
* ``dispatcher`` the notification dispatcher's handler (schedule and on-demand kicks).
* ``runtime``    what a warm instance keeps: configuration, the service, the kick.
* ``secrets``    secrets from Secrets Manager or SSM Parameter Store, read at cold start.
* ``invoke``     the asynchronous Lambda Invoke that wakes the dispatcher.
* ``awsapi``     a small AWS HTTP client over the standard library (no SDK import).
* ``sigv4``      AWS Signature Version 4, pure functions.

Nothing here is imported by the server or the CLI, and nothing here runs after a handler has
returned: Lambda freezes the instance then, so any work left behind would stall until the next
event (or never run).
"""
