"""What an account holds beyond its identifiers: consents, security history (more come later)."""
