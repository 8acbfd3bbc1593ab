from __future__ import annotations

from rest_framework import serializers

from apps.agents.models import Agent
from apps.runs.models import HumanRequest, Message, Run, RunEvent, Step
from apps.swarms.models import Swarm


class AgentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Agent
        fields = ["id", "name", "description", "provider", "instructions", "config", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        # The agent service validates name, uniqueness per owner and config together,
        # so a client sees every problem in one response.
        validators: list = []
        extra_kwargs = {"name": {"validators": []}}


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
