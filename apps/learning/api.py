"""REST endpoints for training: datasets and training runs (start, stop, resume, epochs, evaluation)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.errors import FieldsError
from apps.swarms.models import Swarm

from . import services
from .access import visible_datasets, visible_training_runs
from .models import EnvironmentKind, EpochMetrics, TrainingDataset, TrainingRun


class DatasetSerializer(serializers.ModelSerializer):
    task_count = serializers.SerializerMethodField()

    class Meta:
        model = TrainingDataset
        fields = ["id", "name", "description", "test_fraction", "task_count", "created_at"]

    def get_task_count(self, obj) -> int:
        return len(obj.tasks)


class CreateDatasetSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    test_fraction = serializers.FloatField(required=False, default=0.2)
    jsonl = serializers.CharField(required=False, allow_blank=True, help_text="The tasks, one JSON object per line.")
    file = serializers.FileField(required=False, help_text="Or upload the JSONL as a file.")


class TrainingRunSerializer(serializers.ModelSerializer):
    progress = serializers.FloatField(read_only=True)

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "name",
            "environment",
            "swarm",
            "dataset",
            "agent_names",
            "config",
            "benchmark",
            "call_costs",
            "epochs",
            "episodes_per_epoch",
            "status",
            "epochs_done",
            "episodes_done",
            "training_seconds",
            "progress",
            "evaluation",
            "topology",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class StartTrainingSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, default="orchestrator")
    environment = serializers.ChoiceField(choices=EnvironmentKind.choices, default=EnvironmentKind.BUILTIN)
    swarm = serializers.IntegerField(required=False, allow_null=True)
    dataset = serializers.IntegerField(required=False, allow_null=True)
    config = serializers.DictField(
        required=False, default=dict, help_text="TrainConfig fields (seed, cost_weight, ...)."
    )
    benchmark = serializers.DictField(required=False, default=dict, help_text="Built-in: seed, train_size, test_size.")
    call_costs = serializers.DictField(required=False, default=dict, help_text="Agent name -> cost units per call.")
    epochs = serializers.IntegerField(
        min_value=1, required=False, allow_null=True, help_text="Default: 40 (built-in), 10."
    )
    episodes_per_epoch = serializers.IntegerField(
        min_value=1, required=False, allow_null=True, help_text="Default: 4096 (built-in), 64 (a swarm's agents)."
    )


class ResumeSerializer(serializers.Serializer):
    extra_epochs = serializers.IntegerField(min_value=0, default=0)


class EpochSerializer(serializers.ModelSerializer):
    class Meta:
        model = EpochMetrics
        fields = ["epoch", "metrics", "created_at"]


class TrainingDatasetViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Uploaded training datasets. Create from JSONL (a string field or a file); bad lines -> 400, nothing saved."""

    serializer_class = DatasetSerializer
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_queryset(self):
        return visible_datasets(self.request.user)

    @extend_schema(request=CreateDatasetSerializer, responses={201: DatasetSerializer})
    def create(self, request: Request) -> Response:
        payload = CreateDatasetSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        text = data.get("jsonl") or ""
        if data.get("file") is not None:
            text = data["file"].read().decode("utf-8", errors="replace")
        dataset = services.create_dataset(
            owner=request.user,
            name=data["name"],
            description=data["description"],
            jsonl=text,
            test_fraction=data["test_fraction"],
        )
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)


class TrainingRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Training runs of the learned orchestrator. Create starts one; each epoch runs on the training queue."""

    serializer_class = TrainingRunSerializer

    def get_queryset(self):
        return visible_training_runs(self.request.user)

    @extend_schema(request=StartTrainingSerializer, responses={201: TrainingRunSerializer})
    def create(self, request: Request) -> Response:
        payload = StartTrainingSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        swarm = dataset = None
        if data.get("swarm") is not None:
            swarm = Swarm.objects.filter(owner=request.user, pk=data["swarm"]).first()
            if swarm is None:
                raise FieldsError("Unknown swarm.", fields={"swarm": ["No swarm of yours has this id."]})
        if data.get("dataset") is not None:
            dataset = TrainingDataset.objects.filter(owner=request.user, pk=data["dataset"]).first()
            if dataset is None:
                raise FieldsError("Unknown dataset.", fields={"dataset": ["No dataset of yours has this id."]})
        run = services.start_training(
            owner=request.user,
            name=data["name"],
            environment=data["environment"],
            swarm=swarm,
            dataset=dataset,
            config=data["config"],
            benchmark=data["benchmark"],
            call_costs=data["call_costs"],
            epochs=data.get("epochs"),
            episodes_per_epoch=data.get("episodes_per_epoch"),
        )
        return Response(TrainingRunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=TrainingRunSerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk=None) -> Response:
        run = services.stop_training(self.get_object())
        return Response(TrainingRunSerializer(run).data)

    @extend_schema(request=ResumeSerializer, responses=TrainingRunSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk=None) -> Response:
        payload = ResumeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        run = services.resume_training(self.get_object(), extra_epochs=payload.validated_data["extra_epochs"])
        return Response(TrainingRunSerializer(run).data)

    @extend_schema(responses=EpochSerializer(many=True))
    @action(detail=True)
    def epochs(self, request: Request, pk=None) -> Response:
        run = self.get_object()
        return Response(EpochSerializer(run.epoch_metrics.order_by("epoch"), many=True).data)
