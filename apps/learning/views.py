"""Training pages: the list with the start and upload forms, and one run's live page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.core.errors import Conflict, FieldsError
from apps.swarms.models import Swarm

from . import services
from .access import visible_datasets, visible_training_runs
from .forms import DatasetForm, StartTrainingForm
from .presenters import snapshot

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def _forms(request, *, start_data=None, dataset_data=None, dataset_files=None):
    swarms = Swarm.objects.filter(owner=request.user).order_by("name")
    datasets = visible_datasets(request.user).filter(owner=request.user)
    start = StartTrainingForm(start_data, swarms=swarms, datasets=datasets)
    upload = DatasetForm(dataset_data, dataset_files)
    return start, upload


def _add_errors(form, exc: FieldsError) -> None:
    for field, problems in (exc.fields or {}).items():
        key = field.split(".")[0]
        for problem in problems:
            form.add_error(key if key in form.fields else None, problem)
    if not exc.fields:
        form.add_error(None, exc.message)


@login_required
@require_http_methods(["GET", "POST"])
def training_list(request: HttpRequest) -> HttpResponse:
    """Training runs; start one; upload a dataset. Problems show beside their fields, nothing is written."""
    start, upload = _forms(request)
    status = 200
    if request.method == "POST" and request.POST.get("form") == "start":
        start, upload = _forms(request, start_data=request.POST)
        if start.is_valid():
            data = start.cleaned_data
            config = {k: data[k] for k in ("cost_weight", "seed") if data.get(k) is not None}
            try:
                run = services.start_training(
                    owner=request.user,
                    name=data["name"],
                    environment=data["environment"],
                    swarm=Swarm.objects.filter(owner=request.user, pk=data["swarm"]).first() if data["swarm"] else None,
                    dataset=visible_datasets(request.user).filter(pk=data["dataset"]).first()
                    if data["dataset"]
                    else None,
                    config=config,
                    epochs=data["epochs"],
                    episodes_per_epoch=data["episodes_per_epoch"],
                )
            except FieldsError as exc:
                _add_errors(start, exc)
            else:
                return redirect("learning:training-detail", pk=run.pk)
        status = 400
    elif request.method == "POST" and request.POST.get("form") == "dataset":
        start, upload = _forms(request, dataset_data=request.POST, dataset_files=request.FILES)
        if upload.is_valid():
            data = upload.cleaned_data
            text = data["text"] or ""
            if data["file"] is not None:
                if data["file"].size > MAX_UPLOAD_BYTES:
                    upload.add_error("file", f"At most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
                text = data["file"].read().decode("utf-8", errors="replace")
            if not upload.errors:
                try:
                    dataset = services.create_dataset(
                        owner=request.user, name=data["name"], jsonl=text, test_fraction=data["test_fraction"]
                    )
                except FieldsError as exc:
                    fields = {("file" if k == "tasks" else k): v for k, v in (exc.fields or {}).items()}
                    _add_errors(upload, FieldsError(exc.message, fields=fields))
                else:
                    messages.success(request, f"Dataset {dataset.name!r} saved with {len(dataset.tasks)} tasks.")
                    return redirect("learning:training-list")
        status = 400
    context = {
        "runs": visible_training_runs(request.user),
        "datasets": visible_datasets(request.user),
        "start_form": start,
        "dataset_form": upload,
    }
    return render(request, "learning/training_list.html", context, status=status)


@login_required
def training_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(visible_training_runs(request.user).select_related("swarm", "dataset"), pk=pk)
    context = {"run": run, "state": snapshot(run), "ws_path": f"/ws/training/{run.pk}/"}
    return render(request, "learning/training_detail.html", context)


@login_required
@require_POST
def training_stop(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(visible_training_runs(request.user), pk=pk)
    try:
        services.stop_training(run)
    except Conflict as exc:
        messages.error(request, exc.message)
    return redirect("learning:training-detail", pk=run.pk)


@login_required
@require_POST
def training_resume(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(visible_training_runs(request.user), pk=pk)
    try:
        extra = int(request.POST.get("extra_epochs") or 0)
        services.resume_training(run, extra_epochs=extra)
    except ValueError:
        messages.error(request, "Extra epochs must be a whole number.")
    except (Conflict, FieldsError) as exc:
        messages.error(request, exc.message)
    return redirect("learning:training-detail", pk=run.pk)
