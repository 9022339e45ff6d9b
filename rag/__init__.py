"""A small retrieval-augmented generation library: load → chunk → embed → store → prompt → generate."""
