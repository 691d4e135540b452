"""Server-only plumbing: database, migrations, gRPC serving. Clients never import it."""
