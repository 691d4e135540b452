"""devstack: runs the whole system on one machine with embedded Postgres, Redis and S3."""
