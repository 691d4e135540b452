"""Code shared by every mediabot process: settings, logging, gRPC plumbing."""
