"""Parts of the embedded default: PostgreSQL started in-process, local files."""
