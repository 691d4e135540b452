"""Local fake servers that speak the wire formats of external providers."""
