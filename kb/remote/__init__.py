"""Read side, remote: talking to SPARQL servers (HTTP client, ``kb publish``, ``kb query --endpoint``)."""
