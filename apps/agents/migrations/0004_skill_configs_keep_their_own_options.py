"""Skill configs used to accept every skill's options and ignore the ones a skill does not
read; they are now checked per skill. Drop the options a stored agent's skill never read,
so agents saved before keep running (and keep validating) as they did."""

from django.db import migrations

# What each skill reads besides ``skill``, as of this migration (frozen here on purpose:
# a migration must not follow later changes to the engine).
READS = {
    "calculator": set(),
    "python": {"timeout_s", "memory_mb"},
    "echo": {"template"},
    "judge": {"mode", "expected", "case_sensitive", "tolerance"},
    "terminator": {"template"},
}
# The options any skill accepted before; anything else was refused then and is left alone now.
ACCEPTED_BEFORE = {"template", "mode", "expected", "case_sensitive", "tolerance", "timeout_s", "memory_mb"}


def drop_unread_options(apps, schema_editor):
    Agent = apps.get_model("agents", "Agent")
    for agent in Agent.objects.filter(provider="skill").only("id", "config"):
        config = agent.config if isinstance(agent.config, dict) else {}
        reads = READS.get(config.get("skill"))
        if reads is None:
            continue
        unread = {key for key in config if key in ACCEPTED_BEFORE and key not in reads}
        if unread:
            agent.config = {key: value for key, value in config.items() if key not in unread}
            agent.save(update_fields=["config"])


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0003_agent_memory_scope_agent_memory_top_k"),
    ]

    operations = [migrations.RunPython(drop_unread_options, migrations.RunPython.noop)]
