"""Entities, values and pure policies of the inbox."""
