"""`fluxcat serve`: the /api/v1/flux/dev protocol over a local backend: app (routes), guards, protocol, server."""
