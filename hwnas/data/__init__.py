"""Package data: real measured tables shipped with hwnas (see README.md here for attribution)."""
