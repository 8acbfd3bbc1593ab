"""Uploaded JSONL datasets: every bad line reported with its number, nothing saved."""

import json

import pytest

from apps.core.errors import FieldsError
from apps.learning import services
from apps.learning.datasets import parse_jsonl
from apps.learning.environments import dataset_tasks, parse_judgement, split
from apps.learning.models import TrainingDataset

GOOD = "\n".join(
    json.dumps(row)
    for row in [
        {"task": "What is 6 * 7?", "expected": 42, "checker": "numeric", "tolerance": 0.5},
        {"task": "Capital of Peru?", "expected": "Lima", "checker": "contains", "family": "geo"},
        {"task": "Give an ISO date", "expected": r"\d{4}-\d{2}-\d{2}", "checker": "regex"},
        {"task": "Summarise", "expected": "mentions the deadline", "checker": "judge", "judge": "reviewer"},
    ]
)


def test_it_parses_every_checker_kind_and_skips_blank_and_comment_lines():
    tasks = parse_jsonl("# a comment\n\n" + GOOD + "\n")
    assert [t["checker"] for t in tasks] == ["numeric", "contains", "regex", "judge"]
    assert tasks[0]["expected"] == "42" and tasks[0]["tolerance"] == 0.5
    assert tasks[1]["family"] == "geo"
    assert tasks[3]["judge"] == "reviewer"


def test_it_reports_each_bad_line_by_number():
    text = "\n".join(
        [
            '{"task": "ok", "expected": "1"}',
            "not json",
            '{"task": "", "expected": "1"}',
            '{"task": "x", "expected": "1", "checker": "vibes"}',
            '{"task": "x", "expected": "(", "checker": "regex"}',
            '{"task": "x", "expected": "y", "checker": "judge"}',
            '{"task": "x", "expected": "1", "colour": "red"}',
        ]
    )
    with pytest.raises(FieldsError) as caught:
        parse_jsonl(text)
    problems = " | ".join(caught.value.fields["tasks"])
    for number, words in [
        (2, "not valid JSON"),
        (3, '"task"'),
        (4, '"checker"'),
        (5, "regular expression"),
        (6, '"judge"'),
        (7, "unknown keys: colour"),
    ]:
        assert f"line {number}: " in problems and words in problems
    assert "line 1:" not in problems


@pytest.mark.django_db
def test_a_dataset_with_a_bad_line_saves_nothing(alice):
    with pytest.raises(FieldsError) as caught:
        services.create_dataset(owner=alice, name="d", jsonl=GOOD + "\n{oops")
    assert "line 5" in caught.value.fields["tasks"][0]
    assert not TrainingDataset.objects.exists()


@pytest.mark.django_db
def test_names_are_unique_per_owner_and_the_split_fraction_is_checked(alice):
    services.create_dataset(owner=alice, name="d", jsonl=GOOD)
    with pytest.raises(FieldsError) as caught:
        services.create_dataset(owner=alice, name="d", jsonl=GOOD, test_fraction=1.5)
    assert set(caught.value.fields) == {"name", "test_fraction"}


def test_judged_tasks_carry_their_judge_and_the_split_is_seeded():
    tasks = dataset_tasks(parse_jsonl(GOOD))
    assert tasks[3].id.startswith("judge:reviewer:")
    train, test = split(tasks, test_fraction=0.25, seed=3)
    assert len(train) == 3 and len(test) == 1
    assert split(tasks, test_fraction=0.25, seed=3) == (train, test)


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ('{"correct": true}', True),
        ('Sure. {"correct": false}', False),
        ("Yes, it does.", True),
        ("no", False),
        ("{broken", False),
    ],
)
def test_judge_replies_are_read_as_json_or_a_plain_yes(reply, verdict):
    assert parse_judgement(reply) is verdict
