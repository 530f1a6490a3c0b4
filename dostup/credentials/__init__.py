"""Credentials: passwords (argon2id, policy, rehash) and one-time codes."""
