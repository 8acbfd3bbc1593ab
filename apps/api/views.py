"""REST endpoints. Viewsets scope every queryset to the user and call services."""

from __future__ import annotations

from django.db.models import Q
from django.http import HttpResponse
from django.utils.text import slugify
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.agents import checks as agent_checks
from apps.agents import services as agent_services
from apps.agents.governance import Acting, grant_privilege, revoke_privilege, spawn_agent, terminate_agent
from apps.agents.models import Agent, AuditEntry
from apps.core.errors import FieldsError
from apps.engine.errors import ErrorCode
from apps.engine.providers import provider_catalogue
from apps.engine.strategies import strategy_catalogue
from apps.runs import services as run_services
from apps.runs.access import visible_runs
from apps.runs.models import HumanRequest
from apps.swarms import definitions
from apps.swarms import services as swarm_services
from apps.swarms.access import visible_swarms

from . import serializers as s

VALIDATE_RESPONSES = {200: s.ValidSerializer, 400: s.ErrorSerializer, 403: s.ErrorSerializer, 409: s.ErrorSerializer}


def _edited(queryset, data, what: str):
    """The object a validate request edits (its ``id``), or None for a new one."""
    pk = data.get("id") if hasattr(data, "get") else None
    if pk is None:
        return None
    if isinstance(pk, bool) or not isinstance(pk, int):
        raise FieldsError(f"Invalid {what} id.", fields={"id": [f"Must be the id of a {what} (a whole number)."]})
    found = queryset.filter(pk=pk).first()
    if found is None:
        raise FieldsError(f"Unknown {what}.", fields={"id": [f"No {what} of yours has this id."]})
    return found


class StrategyViewSet(viewsets.ViewSet):
    """The engine's coordination strategies, each with the member roles its config assigns and
    the JSON Schema of its config (what the designer builds its forms from)."""

    @extend_schema(responses=s.StrategyInfoSerializer(many=True))
    def list(self, request: Request) -> Response:
        return Response(s.StrategyInfoSerializer(strategy_catalogue(), many=True).data)


class ProviderViewSet(viewsets.ViewSet):
    """Where agents' replies come from (built-in skills, scripted replies, OpenAI-compatible
    models), each with the JSON Schema of an agent's config."""

    @extend_schema(responses=s.ProviderInfoSerializer(many=True))
    def list(self, request: Request) -> Response:
        return Response(s.ProviderInfoSerializer(provider_catalogue(), many=True).data)


class AgentViewSet(viewsets.ModelViewSet):
    """Agents in your hierarchies. Creating one places it (a root, or under ``parent``);
    ``spawn``, ``terminate``, ``grant`` and ``revoke`` change the hierarchy under its rules.
    A broken rule answers 403 with the rule as the error code."""

    serializer_class = s.AgentSerializer
    queryset = Agent.objects.none()  # for the schema's path types; get_queryset scopes to the user

    def get_queryset(self):
        return Agent.objects.filter(owner=self.request.user)

    def perform_create(self, serializer):
        serializer.instance = agent_services.create_agent(owner=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        data = {k: v for k, v in serializer.validated_data.items() if k not in {"level", "parent", "privileges"}}
        agent_services.update_agent(serializer.instance, acting_user=self.request.user, **data)

    def perform_destroy(self, instance):
        raise FieldsError(
            "Agents are not deleted: terminate them (POST .../terminate/) so the audit trail stays whole.",
            fields={"id": ["Use terminate."]},
        )

    @extend_schema(request=s.AgentValidationSerializer, responses=VALIDATE_RESPONSES)
    @action(detail=False, methods=["post"])
    def validate(self, request: Request) -> Response:
        """Check an agent as a save would (the body of a create, or with ``id`` of a PATCH of
        that agent): the same field errors (400) and governance refusals (403, the rule as the
        code), in the same order. Writes nothing, not even an audit entry."""
        instance = _edited(self.get_queryset(), request.data, "agent")
        payload = s.AgentValidationSerializer(
            instance, data=request.data, partial=instance is not None, context=self.get_serializer_context()
        )
        payload.is_valid(raise_exception=True)
        data = {k: v for k, v in payload.validated_data.items() if k != "id"}
        if instance is None:
            agent_checks.check_create_agent(owner=request.user, **data)
        else:
            data = {k: v for k, v in data.items() if k not in {"level", "parent", "privileges"}}
            agent_checks.check_update_agent(instance, acting_user=request.user, **data)
        return Response({"valid": True})

    def _acting(self, payload: dict) -> Acting:
        agent_id = payload.get("acting_agent")
        if agent_id is None:
            return Acting(user=self.request.user)
        agent = Agent.objects.filter(owner=self.request.user, pk=agent_id).first()
        if agent is None:
            raise FieldsError("Unknown acting agent.", fields={"acting_agent": ["No agent of yours has this id."]})
        return Acting(user=self.request.user, agent=agent)

    @extend_schema(request=s.SpawnSerializer, responses={201: s.AgentSerializer})
    @action(detail=True, methods=["post"])
    def spawn(self, request: Request, pk=None) -> Response:
        """Create a child of this agent (one level below, privileges within its own)."""
        parent = self.get_object()
        payload = s.SpawnSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        acting = self._acting(data)
        child = spawn_agent(
            acting,
            owner=request.user,
            parent=parent,
            name=data["name"],
            provider=data["provider"],
            config=data["config"],
            privileges=data.get("privileges"),
            instructions=data.get("instructions", ""),
            description=data.get("description", ""),
        )
        return Response(s.AgentSerializer(child).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.GovernanceActionSerializer, responses=s.AgentSerializer(many=True))
    @action(detail=True, methods=["post"])
    def terminate(self, request: Request, pk=None) -> Response:
        """Terminate this agent and its whole subtree; their queued and running steps are cancelled."""
        target = self.get_object()
        payload = s.GovernanceActionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        ids = terminate_agent(
            self._acting(payload.validated_data), target, reason=payload.validated_data.get("reason", "")
        )
        return Response(s.AgentSerializer(Agent.objects.filter(pk__in=ids), many=True).data)

    @extend_schema(request=s.PrivilegeActionSerializer, responses=s.AgentSerializer)
    @action(detail=True, methods=["post"])
    def grant(self, request: Request, pk=None) -> Response:
        """Grant a privilege (the board, or you for it; the agent's creator must hold it)."""
        return self._privilege_action(request, grant_privilege)

    @extend_schema(request=s.PrivilegeActionSerializer, responses=s.AgentSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk=None) -> Response:
        """Revoke from this agent and all its descendants."""
        return self._privilege_action(request, revoke_privilege)

    def _privilege_action(self, request: Request, change) -> Response:
        target = self.get_object()
        payload = s.PrivilegeActionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        change(self._acting(payload.validated_data), target, payload.validated_data["privilege"])
        target.refresh_from_db()
        return Response(s.AgentSerializer(target).data)


class AuditEntryViewSet(viewsets.ReadOnlyModelViewSet):
    """The governance audit log of your hierarchies (``?agent=<id>`` filters by actor or target)."""

    serializer_class = s.AuditEntrySerializer
    queryset = AuditEntry.objects.none()  # for the schema's path types; get_queryset scopes to the user

    def get_queryset(self):
        entries = AuditEntry.objects.filter(owner=self.request.user)
        if (agent := self.request.query_params.get("agent", "")).isdigit():
            entries = entries.filter(Q(target_id=agent) | Q(actor_agent_id=agent))
        return entries


class SwarmViewSet(viewsets.ModelViewSet):
    serializer_class = s.SwarmSerializer

    def get_queryset(self):
        return visible_swarms(self.request.user)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("version", None)  # a new swarm is version 1
        members = data.pop("member_names")
        serializer.instance = swarm_services.create_swarm(owner=self.request.user, members=members, **data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        members = data.pop("member_names", None)
        expected = data.pop("version", None)
        swarm_services.update_swarm(serializer.instance, members=members, expected_version=expected, **data)

    @extend_schema(request=s.SwarmValidationSerializer, responses=VALIDATE_RESPONSES)
    @action(detail=False, methods=["post"])
    def validate(self, request: Request) -> Response:
        """Check a swarm as a save would (the body of a create, or with ``id`` of a PATCH of
        that swarm): the same field errors (``name``, ``members``, ``strategy_config.nodes[0].agent``,
        ``layout.members.x.y``, ...) and, with a stale ``version``, the same 409. Writes nothing."""
        instance = _edited(self.get_queryset(), request.data, "swarm")
        payload = s.SwarmValidationSerializer(
            instance, data=request.data, partial=instance is not None, context=self.get_serializer_context()
        )
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        if instance is not None:
            swarm_services.check_version(instance, data.get("version"))
        swarm_services.check_swarm(
            owner=instance.owner if instance is not None else request.user,
            name=data.get("name", instance.name if instance is not None else ""),
            strategy=data.get("strategy", instance.strategy if instance is not None else ""),
            strategy_config=data.get("strategy_config", instance.strategy_config if instance is not None else {}),
            members=data["member_names"] if "member_names" in data else instance.member_objects(),
            instance=instance,
            layout=data.get("layout"),
        )
        return Response({"valid": True})

    @extend_schema(
        request={"multipart/form-data": s.DefinitionUploadSerializer, "application/json": s.DefinitionTextSerializer},
        responses={201: s.SwarmSerializer},
    )
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser, JSONParser])
    def import_definition(self, request: Request) -> Response:
        """Import a YAML definition: ``{"yaml": "..."}``, ``{"files": {"swarm.yaml": ..., "agents/x.yaml": ...}}``,
        or a multipart upload of ``file`` (swarm.yaml). All or nothing; every problem is listed with its
        file, line and key under ``error.fields``."""
        if "file" in request.FILES:
            upload = request.FILES["file"]
            if upload.size > definitions.MAX_BYTES:
                raise FieldsError("Too large.", fields={"file": [f"At most {definitions.MAX_BYTES} bytes."]})
            files = {definitions.MAIN_FILE: upload.read().decode("utf-8", errors="replace")}
        else:
            payload = s.DefinitionTextSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            files = payload.validated_data.get("files") or {
                definitions.MAIN_FILE: payload.validated_data.get("yaml", "")
            }
        swarm = definitions.import_definition(request.user, files)
        return Response(s.SwarmSerializer(swarm).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={(200, "application/yaml"): str})
    @action(detail=True, methods=["get"])
    def export(self, request: Request, pk=None) -> HttpResponse:
        """The swarm as a YAML definition (members, their ancestors and sub-agents) that imports back."""
        swarm = self.get_object()
        response = HttpResponse(definitions.export_definition(swarm), content_type="application/yaml; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{slugify(swarm.name) or "swarm"}.yaml"'
        return response


class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Runs: create starts one; nested reads give its trajectory, messages and events."""

    serializer_class = s.RunSerializer

    def get_queryset(self):
        return visible_runs(self.request.user).select_related("swarm")

    @extend_schema(request=s.StartRunSerializer, responses={201: s.RunSerializer})
    def create(self, request: Request) -> Response:
        payload = s.StartRunSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        swarm = visible_swarms(request.user).filter(pk=data.pop("swarm")).first()
        if swarm is None:
            raise FieldsError(
                "Unknown swarm.", fields={"swarm": ["No swarm you can see has this id."]}, code=ErrorCode.INVALID
            )
        run = run_services.start_run(swarm=swarm, user=request.user, **data)
        return Response(s.RunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=s.StepSerializer(many=True))
    @action(detail=True)
    def steps(self, request: Request, pk=None) -> Response:
        run = self.get_object()
        return Response(s.StepSerializer(run.steps.select_related("room"), many=True).data)

    @extend_schema(responses=s.MessageSerializer(many=True))
    @action(detail=True)
    def messages(self, request: Request, pk=None) -> Response:
        run = self.get_object()
        return Response(s.MessageSerializer(run.messages.select_related("room"), many=True).data)

    @extend_schema(
        parameters=[OpenApiParameter("after", int, description="Only events with a greater sequence number.")],
        responses=s.RunEventSerializer(many=True),
    )
    @action(detail=True)
    def events(self, request: Request, pk=None) -> Response:
        run = self.get_object()
        try:
            after = int(request.query_params.get("after", 0))
        except ValueError:
            raise FieldsError("Invalid 'after'.", fields={"after": ["Must be a whole number."]}) from None
        events = run.events.filter(seq__gt=after).order_by("seq")[:1000]
        return Response(s.RunEventSerializer(events, many=True).data)

    @extend_schema(responses=s.HumanRequestSerializer(many=True))
    @action(detail=True, url_path="human-requests")
    def human_requests(self, request: Request, pk=None) -> Response:
        run = self.get_object()
        return Response(s.HumanRequestSerializer(run.human_requests.all(), many=True).data)

    @extend_schema(request=s.CancelSerializer, responses=s.RunSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk=None) -> Response:
        run = self.get_object()
        payload = s.CancelSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        run = run_services.cancel_run(run_id=run.pk, user=request.user, reason=payload.validated_data.get("reason", ""))
        return Response(s.RunSerializer(run).data)


class HumanRequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.HumanRequestSerializer

    def get_queryset(self):
        queryset = HumanRequest.objects.filter(run__in=visible_runs(self.request.user))
        if (wanted := self.request.query_params.get("status")) is not None:
            queryset = queryset.filter(status=wanted)
        return queryset

    @extend_schema(request=s.AnswerSerializer, responses=s.HumanRequestSerializer)
    @action(detail=True, methods=["post"])
    def answer(self, request: Request, pk=None) -> Response:
        human_request = self.get_object()
        payload = s.AnswerSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        answered = run_services.answer_human_request(
            request_id=human_request.pk, answer=payload.validated_data["answer"], user=request.user
        )
        return Response(s.HumanRequestSerializer(answered).data)
