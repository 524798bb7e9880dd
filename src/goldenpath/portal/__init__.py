"""The developer portal: server-rendered pages over the same services as the API (issue 7).

``app.create_app(settings)`` is the API app with the portal mounted at ``/`` (what
``platform server`` runs). Pages are Jinja2 templates (``templates/``) rendered in-process by
routes in ``routes/``; sign-in (``session``) turns a local password or OIDC login into an
API token kept in a signed cookie, so the portal has exactly the API's permissions.
"""
