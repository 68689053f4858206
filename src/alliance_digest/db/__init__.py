"""The Django application: models, migrations and admin for a workspace."""
