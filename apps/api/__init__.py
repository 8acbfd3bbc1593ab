"""REST API (Django REST framework) with an OpenAPI 3 schema."""
