"""REST endpoints for vector memory: list, write, read, delete entries; similarity search.

Registered on the API router as ``memory`` (see ``apps/api/urls.py``). Every
query is scoped to the user; writes, searches and deletes go through
``apps.memory.services``, whose ``FieldsError`` becomes a 400 (404 for an
unknown entry) in the project's error shape.
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from . import services
from .models import MemoryEntry


class MemoryEntrySerializer(serializers.ModelSerializer):
    scope = serializers.CharField(source="store.scope", read_only=True, help_text='"swarm" or "agent".')
    swarm = serializers.IntegerField(source="store.swarm_id", read_only=True, allow_null=True)
    agent = serializers.IntegerField(
        source="store.agent_id", read_only=True, allow_null=True, help_text="The agent whose own memory this is."
    )
    author_name = serializers.CharField(source="author.name", read_only=True, default=None)
    tags = serializers.ListField(source="tag_list", child=serializers.CharField(), read_only=True)

    class Meta:
        model = MemoryEntry
        fields = ["id", "scope", "swarm", "agent", "text", "author", "author_name", "run", "tags", "seq", "created_at"]
        read_only_fields = fields


class ScopeFields(serializers.Serializer):
    swarm = serializers.IntegerField(
        required=False, allow_null=True, help_text="The swarm whose shared memory to use (or give agent)."
    )
    agent = serializers.IntegerField(
        required=False, allow_null=True, help_text="The agent whose own memory to use (or give swarm)."
    )


class MemoryWriteSerializer(ScopeFields):
    text = serializers.CharField(max_length=services.MAX_TEXT)
    author = serializers.IntegerField(required=False, allow_null=True, help_text="The agent that wrote it.")
    run = serializers.IntegerField(required=False, allow_null=True, help_text="The run it came from.")
    tags = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, default=list, max_length=services.MAX_TAGS
    )


class MemorySearchSerializer(ScopeFields):
    query = serializers.CharField(max_length=services.MAX_QUERY, help_text="Text to find similar entries to.")
    k = serializers.IntegerField(required=False, default=5, min_value=1, max_value=services.MAX_K)
    author = serializers.IntegerField(required=False, allow_null=True, help_text="Only entries by this agent.")
    run = serializers.IntegerField(required=False, allow_null=True, help_text="Only entries from this run.")
    tag = serializers.CharField(required=False, allow_null=True, max_length=40, help_text="Only entries with this tag.")
    min_score = serializers.FloatField(
        required=False, allow_null=True, min_value=-1.0, max_value=1.0, help_text="Drop hits less similar than this."
    )


class MemoryListFilterSerializer(serializers.Serializer):
    swarm = serializers.IntegerField(required=False)
    agent = serializers.IntegerField(required=False)
    author = serializers.IntegerField(required=False)
    run = serializers.IntegerField(required=False)
    tag = serializers.CharField(required=False, max_length=40)


class MemoryHitSerializer(serializers.Serializer):
    score = serializers.FloatField(help_text="Cosine similarity to the query, -1..1 (higher is closer).")
    entry = MemoryEntrySerializer()


def _scope_args(data: dict) -> dict:
    return {"swarm": data.get("swarm"), "agent": data.get("agent")}


_LIST_PARAMETERS = [
    OpenApiParameter("swarm", int, description="Only entries of this swarm's shared memory."),
    OpenApiParameter("agent", int, description="Only entries of this agent's own memory."),
    OpenApiParameter("author", int, description="Only entries written by this agent."),
    OpenApiParameter("run", int, description="Only entries from this run."),
    OpenApiParameter("tag", str, description="Only entries with this tag."),
]


class MemoryEntryViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Vector memory: a swarm's shared memory or an agent's own. Entries are embedded with the
    packaged all-MiniLM-L6-v2 model when written; ``search`` ranks them by cosine similarity."""

    serializer_class = MemoryEntrySerializer

    def get_queryset(self) -> QuerySet[MemoryEntry]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return MemoryEntry.objects.none()
        entries = (
            MemoryEntry.objects.filter(owner=self.request.user).select_related("store", "author").defer("embedding")
        )
        if self.action != "list":
            return entries
        payload = MemoryListFilterSerializer(data=self.request.query_params)
        payload.is_valid(raise_exception=True)
        wanted = payload.validated_data
        lookups = {"swarm": "store__swarm_id", "agent": "store__agent_id", "author": "author_id", "run": "run_id"}
        entries = entries.filter(**{lookups[key]: value for key, value in wanted.items() if key in lookups})
        if "tag" in wanted:
            entries = entries.filter(tags__contains=f"|{wanted['tag']}|")
        return entries

    @extend_schema(parameters=_LIST_PARAMETERS)
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=MemoryWriteSerializer, responses={201: MemoryEntrySerializer})
    def create(self, request: Request) -> Response:
        """Remember a text in a swarm's or an agent's memory (give exactly one of ``swarm`` and ``agent``)."""
        payload = MemoryWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        entry = services.write_memory(
            owner=request.user,
            text=data["text"],
            author=data.get("author"),
            run=data.get("run"),
            tags=data["tags"],
            **_scope_args(data),
        )
        return Response(MemoryEntrySerializer(entry).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: MemoryEntry) -> None:
        services.delete_memory(owner=self.request.user, entry=instance)

    @extend_schema(
        methods=["GET"],
        operation_id="memory_search",
        parameters=[MemorySearchSerializer],
        request=None,
        responses=MemoryHitSerializer(many=True),
    )
    @extend_schema(
        methods=["POST"],
        operation_id="memory_search_post",
        request=MemorySearchSerializer,
        responses=MemoryHitSerializer(many=True),
    )
    @action(detail=False, methods=["get", "post"], pagination_class=None)
    def search(self, request: Request) -> Response:
        """The ``k`` entries most similar to ``query`` in one memory, best first, with their scores.
        Filters (``author``, ``run``, ``tag``, ``min_score``) narrow the candidates before ranking."""
        payload = MemorySearchSerializer(data=request.query_params if request.method == "GET" else request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        hits = services.search_memory(
            owner=request.user,
            query=data["query"],
            k=data["k"],
            author=data.get("author"),
            run=data.get("run"),
            tag=data.get("tag"),
            min_score=data.get("min_score"),
            **_scope_args(data),
        )
        return Response(MemoryHitSerializer(hits, many=True).data)
