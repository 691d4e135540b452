"""The suite's fixtures, as plugins: engines (Postgres, Redis, S3, the money
invariants checked after every test) and services (billing_svc, job_svc, workers).
Helpers that tests import live in tests/support."""

pytest_plugins = ["tests.fixtures.engines", "tests.fixtures.services"]
