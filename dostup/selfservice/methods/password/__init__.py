"""The password (argon2id, ``dostup.credentials.password``)."""
