"""Cross-cutting pieces: system checks, health endpoint, demo seeding."""
