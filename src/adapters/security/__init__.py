"""Password hashing (argon2) and session tokens (JWT)."""
