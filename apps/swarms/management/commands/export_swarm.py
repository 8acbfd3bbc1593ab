from django.core.management.base import BaseCommand, CommandError

from apps.swarms.definitions import export_definition
from apps.swarms.models import Swarm


class Command(BaseCommand):
    help = "Print a swarm (with its member agents and their ancestors) as a YAML definition."

    def add_arguments(self, parser):
        parser.add_argument("swarm_id", type=int)

    def handle(self, *args, swarm_id: int, **options):
        swarm = Swarm.objects.filter(pk=swarm_id).first()
        if swarm is None:
            raise CommandError(f"No swarm with id {swarm_id}.")
        self.stdout.write(export_definition(swarm), ending="")
