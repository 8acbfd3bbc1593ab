"""Providers' config schemas: the definitions the providers validate with, and what the designer's forms show."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from apps.engine.errors import AgentConfigError
from apps.engine.providers import PROVIDERS, get_provider, provider_catalogue, validate_agent_config
from apps.engine.providers.skills import SKILL_SCHEMAS, SkillName
from apps.engine.values import ProviderKind

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "definitions"

# The README's provider examples ("Agents and providers", "Agents govern at run time").
README_CONFIGS = [
    ("skill", {"skill": "judge", "mode": "numeric", "expected": "42"}),
    (
        "scripted",
        {
            "replies": ["first", {"content": "bye", "done": True}],
            "rules": [{"match": "price", "reply": "It costs $3."}],
            "delay_ms": 300,
        },
    ),
    (
        "openai",
        {
            "base_url": "http://127.0.0.1:11434/v1",
            "model": "llama3.2",
            "api_key_env": "OPENAI_API_KEY",
            "temperature": 0.7,
            "max_tokens": 512,
            "prompt_price_per_1k": "0.00015",
            "completion_price_per_1k": "0.0006",
        },
    ),
    (
        "scripted",
        {
            "replies": [
                {
                    "content": "Hired: {{ tool_results | map(attribute='content') | join(' ') }}",
                    "tool_calls": [
                        {
                            "tool": "spawn_agent",
                            "arguments": {"name": "w1", "provider": "skill", "config": {"skill": "calculator"}},
                        }
                    ],
                }
            ]
        },
    ),
    ("openai", {"base_url": "https://api.openai.com/v1", "model": "gpt-4o-mini", "max_tool_rounds": 8}),
]

# Invalid configs and the field each is refused at, by the schema and by the provider alike.
REFUSED = [
    ("skill", {"skill": "telepathy"}, "skill"),
    ("skill", {}, "skill"),
    ("skill", {"skill": "python", "timeout_s": 0}, "timeout_s"),
    ("skill", {"skill": "python", "memory_mb": 1.5}, "memory_mb"),
    ("skill", {"skill": "calculator", "template": "{{ input }}"}, "template"),
    ("skill", {"skill": "judge", "mode": "fuzzy", "expected": "x"}, "mode"),
    ("skill", {"skill": "judge"}, "expected"),
    ("skill", {"skill": "judge", "expected": ""}, "expected"),
    ("scripted", {"replies": [3]}, "replies[0]"),
    ("scripted", {"replies": [{"content": "x", "colour": "red"}]}, "replies[0]"),
    ("scripted", {"replies": ["x"], "delay_ms": -1}, "delay_ms"),
    ("scripted", {"rules": [{"match": "a"}]}, "rules[0]"),
    ("scripted", {"replies": ["x"], "cycle": "yes"}, "cycle"),
    ("scripted", {"replies": ["x"], "tokens_per_call": -3}, "tokens_per_call"),
    ("openai", {"model": "m"}, "base_url"),
    ("openai", {"base_url": "http://h/v1", "model": "  "}, "model"),
    ("openai", {"base_url": "http://h/v1", "model": "m", "temperature": 3}, "temperature"),
    ("openai", {"base_url": "http://h/v1", "model": "m", "max_tokens": 0}, "max_tokens"),
    ("openai", {"base_url": "http://h/v1", "model": "m", "api_key_env": "sk-abc123"}, "api_key_env"),
    ("openai", {"base_url": "http://h/v1", "model": "m", "prompt_price_per_1k": -1}, "prompt_price_per_1k"),
    ("openai", {"base_url": "http://h/v1", "model": "m", "seed": 7}, "seed"),
]

# Problems only the provider's own checks see (a schema cannot compile a template or a regex).
REFUSED_BEYOND_THE_SCHEMA = [
    ("skill", {"skill": "echo", "template": "{{ oops"}, "template"),
    ("skill", {"skill": "judge", "mode": "regex", "expected": "("}, "expected"),
    ("scripted", {"rules": [{"match": "(", "reply": "x"}]}, "rules[0].match"),
    ("scripted", {"replies": ["{% if %}"]}, "replies[0]"),
    ("scripted", {}, "replies"),
    ("scripted", {"replies": ["x"], "cost_per_call": "lots"}, "cost_per_call"),
    ("openai", {"base_url": "ftp://h/v1", "model": "m"}, "base_url"),
]


def _properties(schema: dict, where: str = ""):
    """Every (path, property schema) of objects in ``schema``, through alternatives, items and $defs."""
    for key, prop in schema.get("properties", {}).items():
        yield f"{where}.{key}", prop
        yield from _properties(prop, f"{where}.{key}")
    for keyword in ("oneOf", "anyOf"):
        for i, alternative in enumerate(schema.get(keyword, [])):
            yield from _properties(alternative, f"{where}<{keyword}[{i}]>")
    for keyword in ("items", "additionalProperties"):
        if isinstance(schema.get(keyword), dict):
            yield from _properties(schema[keyword], f"{where}[]")
    for name, definition in schema.get("$defs", {}).items():
        yield from _properties(definition, f"$defs.{name}")


def _objects(schema: dict):
    if schema.get("type") == "object" and "properties" in schema:
        yield schema
    for value in schema.values():
        children = value if isinstance(value, list) else value.values() if isinstance(value, dict) else ()
        for child in children:
            if isinstance(child, dict):
                yield from _objects(child)


def test_the_catalogue_lists_every_provider_with_its_schema():
    catalogue = provider_catalogue()
    assert [p.name for p in catalogue] == [kind.value for kind in ProviderKind]
    for info in catalogue:
        assert info.label and info.description
        assert info.config_schema is get_provider(info.name).config_schema


@pytest.mark.parametrize("kind", [kind.value for kind in ProviderKind])
def test_each_schema_is_valid_json_schema_and_follows_the_designer_conventions(kind):
    schema = PROVIDERS[ProviderKind(kind)].config_schema
    Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object"
    for path, prop in _properties(schema):
        if "$ref" in prop and set(prop) == {"$ref"}:
            continue
        assert prop.get("title") and prop.get("description"), f"{kind}{path} needs a title and a description"
    for obj in _objects(schema):
        assert obj.get("additionalProperties") is False, f"{obj.get('title')} must refuse unknown keys"


def test_the_skill_schema_has_one_alternative_per_skill_naming_it():
    schema = get_provider("skill").config_schema
    assert [alt["properties"]["skill"]["const"] for alt in schema["oneOf"]] == [s.value for s in SkillName]
    assert set(SKILL_SCHEMAS[SkillName.PYTHON]["properties"]) == {"skill", "timeout_s", "memory_mb"}
    assert set(SKILL_SCHEMAS[SkillName.JUDGE]["properties"]) == {
        "skill",
        "mode",
        "expected",
        "case_sensitive",
        "tolerance",
    }


@pytest.mark.parametrize(("kind", "config"), README_CONFIGS)
def test_readme_examples_are_valid_for_the_provider_and_its_schema(kind, config):
    validate_agent_config(kind, config)
    assert Draft202012Validator(get_provider(kind).config_schema).is_valid(config)


def test_every_agent_in_the_example_definitions_is_valid_for_its_schema():
    checked = 0
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        agents = data.get("agents", []) if "agents" in data else [data] if "provider" in data else []
        for agent in agents:
            config = dict(agent.get("config") or {})
            if agent.get("model"):
                config.setdefault("model", agent["model"])
            validate_agent_config(agent["provider"], config)
            assert Draft202012Validator(get_provider(agent["provider"]).config_schema).is_valid(config), path
            checked += 1
    assert checked >= 5


@pytest.mark.parametrize(("kind", "config", "field"), REFUSED)
def test_what_the_schema_refuses_the_provider_refuses_at_the_same_field(kind, config, field):
    assert not Draft202012Validator(get_provider(kind).config_schema).is_valid(config)
    with pytest.raises(AgentConfigError) as caught:
        validate_agent_config(kind, config)
    assert field in caught.value.fields, caught.value.fields


@pytest.mark.parametrize(("kind", "config", "field"), REFUSED_BEYOND_THE_SCHEMA)
def test_the_provider_checks_what_a_schema_cannot(kind, config, field):
    with pytest.raises(AgentConfigError) as caught:
        validate_agent_config(kind, config)
    assert field in caught.value.fields, caught.value.fields


def test_a_config_that_is_not_a_mapping_is_refused_without_fields():
    with pytest.raises(AgentConfigError) as caught:
        validate_agent_config("scripted", ["hi"])
    assert caught.value.fields == {} and "Must be a mapping" in caught.value.message


def test_settings_left_out_take_the_schemas_defaults():
    python = get_provider("skill").parse_config({"skill": "python"})
    options = SKILL_SCHEMAS[SkillName.PYTHON]["properties"]
    assert (python.timeout_s, python.memory_mb) == (options["timeout_s"]["default"], options["memory_mb"]["default"])
    judge = get_provider("skill").parse_config({"skill": "judge", "expected": "42"})
    options = SKILL_SCHEMAS[SkillName.JUDGE]["properties"]
    assert (judge.mode, judge.case_sensitive, judge.tolerance) == (
        options["mode"]["default"],
        options["case_sensitive"]["default"],
        options["tolerance"]["default"],
    )
    openai = get_provider("openai").parse_config({"base_url": "http://h/v1/", "model": "m"})
    props = get_provider("openai").config_schema["properties"]
    for key in ("temperature", "stream", "timeout_s", "max_retries", "max_tool_rounds", "api_key_env"):
        assert getattr(openai, key) == props[key]["default"], key
    assert openai.base_url == "http://h/v1" and openai.max_tokens is None
    scripted = get_provider("scripted").parse_config({"replies": ["x"]})
    props = get_provider("scripted").config_schema["properties"]
    assert (scripted.cycle, scripted.delay_ms, scripted.tokens_per_call) == (
        props["cycle"]["default"],
        props["delay_ms"]["default"],
        props["tokens_per_call"]["default"],
    )
    assert scripted.cost_per_call == Decimal(props["cost_per_call"]["default"])
