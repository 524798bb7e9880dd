"""The HTTP API (FastAPI): ``app.create_app(settings)`` and ``serve.run(settings)``.

Edges only: routes parse the request, call one service method and present the result.
Errors are mapped to RFC 9457 problem+json once, in ``problems``.
"""
