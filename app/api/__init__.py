"""The HTTP layer: routers, errors, auth, metrics. Logic lives in :mod:`app.services`."""
