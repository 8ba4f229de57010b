"""Blob storage: local filesystem (embedded default) and S3 (production)."""
