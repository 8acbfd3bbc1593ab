"""Dashboard: HTML pages (HTMX) for swarms and live runs."""
