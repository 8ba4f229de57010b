"""Entry points: HTTP (Litestar), workers (taskiq), CLI. Thin translators over the core."""
