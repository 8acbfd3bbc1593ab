import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from apps.core.demo import seed_demo


class Command(BaseCommand):
    help = "Create the demo admin user (if missing) and the demo agents and swarms. Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("SWARMWEB_ADMIN_USER", "admin"))
        parser.add_argument("--password", default=os.environ.get("SWARMWEB_ADMIN_PASSWORD", "admin"))

    def handle(self, *args, username: str, password: str, **options):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_superuser(username=username, email="", password=password)
            self.stdout.write(self.style.SUCCESS(f"Created admin user '{username}' with password '{password}'."))
        else:
            self.stdout.write(f"Admin user '{username}' already exists (password unchanged).")
        swarms = seed_demo(user)
        self.stdout.write(self.style.SUCCESS(f"Demo swarms ready: {', '.join(s.name for s in swarms)}."))
