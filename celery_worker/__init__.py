"""Celery worker and beat entry points and the queue layout. No task code lives here."""
