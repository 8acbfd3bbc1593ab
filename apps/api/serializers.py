from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.agents.models import Agent, AuditEntry
from apps.engine.definitions import LAYOUT_SCHEMA
from apps.runs.models import HumanRequest, Message, Run, RunEvent, Step
from apps.swarms.models import Swarm


class AgentSerializer(serializers.ModelSerializer):
    privileges = serializers.ListField(
        child=serializers.CharField(max_length=120),
        required=False,
        help_text="On create: defaults to what the provider needs (model.<name>, tool.<skill>). "
        "Change later with grant/revoke.",
    )

    class Meta:
        model = Agent
        fields = [
            "id",
            "name",
            "description",
            "provider",
            "instructions",
            "config",
            "level",
            "parent",
            "privileges",
            "memory_top_k",
            "memory_scope",
            "status",
            "terminated_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "status", "terminated_at", "created_at", "updated_at"]
        # The agent service validates name, uniqueness per owner and config together,
        # so a client sees every problem in one response.
        validators: list = []
        extra_kwargs = {"name": {"validators": []}, "level": {"required": False}}

    def validate_parent(self, parent: Agent | None) -> Agent | None:
        request = self.context.get("request")
        if parent is not None and request is not None and parent.owner_id != request.user.pk:
            raise serializers.ValidationError("No agent of yours has this id.")
        return parent

    def update(self, instance, validated_data):  # hierarchy fields change only through the governance actions
        for field in ("level", "parent", "privileges"):
            validated_data.pop(field, None)
        return super().update(instance, validated_data)


@extend_schema_field({k: v for k, v in LAYOUT_SCHEMA.items() if k != "$schema"})
class LayoutField(serializers.JSONField):
    """The designer's drawing (checked by the swarm service against ``LAYOUT_SCHEMA``)."""


class SwarmSerializer(serializers.ModelSerializer):
    members = serializers.ListField(
        source="member_names",
        child=serializers.CharField(max_length=80),
        help_text="Agent names, in order. The strategy refers to agents by these names.",
    )
    layout = LayoutField(
        required=False,
        help_text='Where the designer drew it: {"members": {"<member>": {"x": 120.0, "y": 80.0}}, '
        '"nodes": {"<heist node>": {"x": 40.0, "y": 200.0}}}. Presentation only; kept by YAML export and import.',
    )
    version = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="1 when created, +1 on every saved change. On PUT/PATCH, send the version you edited: if "
        "someone saved it since, the save is refused (409, code 'conflict') and nothing is written. "
        "Omitted: no check. Ignored on create.",
    )

    class Meta:
        model = Swarm
        fields = [
            "id",
            "name",
            "description",
            "strategy",
            "strategy_config",
            "members",
            "layout",
            "max_steps",
            "max_cost",
            "max_seconds",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators: list = []


class EditedIdMixin(serializers.Serializer):
    id = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="The id of the one being edited (the check is then that of a PATCH of it); omitted: a new one.",
    )


class SwarmValidationSerializer(EditedIdMixin, SwarmSerializer):
    """The body of POST /api/swarms/ (or, with ``id``, of a PATCH of that swarm)."""

    class Meta(SwarmSerializer.Meta):
        read_only_fields = ["created_at", "updated_at"]


class AgentValidationSerializer(EditedIdMixin, AgentSerializer):
    """The body of POST /api/agents/ (or, with ``id``, of a PATCH of that agent)."""

    class Meta(AgentSerializer.Meta):
        read_only_fields = ["status", "terminated_at", "created_at", "updated_at"]


class ValidSerializer(serializers.Serializer):
    valid = serializers.BooleanField(help_text="Always true: an invalid body is answered 400 (or 403, 409).")


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable error code: invalid, invalid_strategy_config, conflict, ...")
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text='Messages per field, by path: {"strategy_config.nodes[0].agent": ["..."]}.',
    )


class ErrorSerializer(serializers.Serializer):
    """The API's one error shape."""

    error = ErrorDetailSerializer()


class RoleSerializer(serializers.Serializer):
    role = serializers.CharField(help_text="The part the member plays on the canvas: director, workers, judge, ...")
    key = serializers.CharField(help_text="The config key holding the member (or members).")
    many = serializers.BooleanField(help_text="Whether the key holds a list of members.")
    description = serializers.CharField()


class StrategyInfoSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="What a swarm's 'strategy' holds: heist, boss_worker, ...")
    label = serializers.CharField()
    description = serializers.CharField()
    roles = RoleSerializer(many=True, help_text="The member roles its config assigns.")
    config_schema = serializers.DictField(
        help_text="JSON Schema (draft 2020-12) of 'strategy_config'; the engine validates with it."
    )


class ProviderInfoSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="What an agent's 'provider' holds: skill, scripted, openai.")
    label = serializers.CharField()
    description = serializers.CharField()
    config_schema = serializers.DictField(
        help_text="JSON Schema (draft 2020-12) of the agent's 'config'; the engine validates with it."
    )


class RunSerializer(serializers.ModelSerializer):
    swarm_name = serializers.CharField(source="swarm.name", read_only=True, default=None)

    class Meta:
        model = Run
        fields = [
            "id",
            "swarm",
            "swarm_name",
            "task",
            "status",
            "strategy",
            "result",
            "error",
            "max_steps",
            "max_cost",
            "max_seconds",
            "steps_started",
            "cost",
            "tokens",
            "event_seq",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class StartRunSerializer(serializers.Serializer):
    swarm = serializers.IntegerField(help_text="Id of a swarm you own.")
    task = serializers.CharField(max_length=100_000, trim_whitespace=True)
    max_steps = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    max_cost = serializers.DecimalField(required=False, allow_null=True, max_digits=12, decimal_places=6, min_value=0)
    max_seconds = serializers.IntegerField(required=False, allow_null=True, min_value=1)


class StepSerializer(serializers.ModelSerializer):
    room = serializers.CharField(source="room.name", default=None, read_only=True)

    class Meta:
        model = Step
        fields = [
            "id",
            "key",
            "index",
            "agent",
            "agent_name",
            "room",
            "call_index",
            "input",
            "status",
            "outcome",
            "output",
            "error",
            "done",
            "data",
            "cost",
            "prompt_tokens",
            "completion_tokens",
            "latency_ms",
            "attempts",
            "queued_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class MessageSerializer(serializers.ModelSerializer):
    room = serializers.CharField(source="room.name", read_only=True)

    class Meta:
        model = Message
        fields = ["id", "room", "sender", "is_human", "content", "step", "created_at"]
        read_only_fields = fields


class RunEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunEvent
        fields = ["seq", "kind", "data", "created_at"]
        read_only_fields = fields


class HumanRequestSerializer(serializers.ModelSerializer):
    class Meta:
        model = HumanRequest
        fields = [
            "id",
            "run",
            "key",
            "prompt",
            "fields",
            "status",
            "answer",
            "answered_by",
            "created_at",
            "answered_at",
        ]
        read_only_fields = fields


class AnswerSerializer(serializers.Serializer):
    answer = serializers.DictField(help_text="Field name -> value, as described by the request's fields.")


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)


class GovernanceActionSerializer(serializers.Serializer):
    acting_agent = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Act as this agent of yours (its privileges and position apply). "
        "Omitted: you act for the board of your own hierarchy.",
    )
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)


class PrivilegeActionSerializer(GovernanceActionSerializer):
    privilege = serializers.CharField(max_length=120)


class SpawnSerializer(GovernanceActionSerializer):
    name = serializers.CharField(max_length=80)
    provider = serializers.CharField(max_length=20)
    config = serializers.JSONField()
    instructions = serializers.CharField(required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    privileges = serializers.ListField(child=serializers.CharField(max_length=120), required=False)


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "action",
            "allowed",
            "actor_agent",
            "actor_user",
            "actor_label",
            "target",
            "target_label",
            "privilege",
            "rule",
            "reason",
            "run",
            "created_at",
        ]
        read_only_fields = fields


class DefinitionTextSerializer(serializers.Serializer):
    yaml = serializers.CharField(required=False, help_text="A single-file definition (swarm.yaml).")
    files = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        required=False,
        help_text="A folder definition: relative path -> text (swarm.yaml, agents/*.yaml, templates).",
    )

    def validate(self, data):
        if not data.get("yaml") and not data.get("files"):
            raise serializers.ValidationError("Give 'yaml' or 'files'.")
        return data


class DefinitionUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="swarm.yaml")
