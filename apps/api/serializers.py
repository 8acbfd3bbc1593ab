from __future__ import annotations

from rest_framework import serializers

from apps.agents.models import Agent, AuditEntry
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


class SwarmSerializer(serializers.ModelSerializer):
    members = serializers.ListField(
        source="member_names",
        child=serializers.CharField(max_length=80),
        help_text="Agent names, in order. The strategy refers to agents by these names.",
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
            "max_steps",
            "max_cost",
            "max_seconds",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators: list = []


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
