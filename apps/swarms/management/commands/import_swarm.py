from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.engine.definitions import DefinitionError
from apps.swarms.definitions import import_definition, read_folder


class Command(BaseCommand):
    help = "Import a swarm definition (a YAML file, or a folder with swarm.yaml) for a user. All or nothing."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--owner", default="admin", help="Username that will own the agents and the swarm.")

    def handle(self, *args, path: Path, owner: str, **options):
        user = get_user_model().objects.filter(username=owner).first()
        if user is None:
            raise CommandError(f"No user named {owner!r}.")
        if not path.exists():
            raise CommandError(f"{path} does not exist.")
        try:
            swarm = import_definition(user, read_folder(path))
        except DefinitionError as exc:
            lines = "\n".join(f"  {p}" for p in exc.problems)
            raise CommandError(f"{exc.message} Nothing was imported.\n{lines}") from None
        agents = swarm.members.count()
        self.stdout.write(self.style.SUCCESS(f"Imported swarm {swarm.name!r} (id {swarm.pk}) with {agents} members."))
