"""Every strategy's config JSON Schema: README examples validate and build, invalid configs are
refused by the schema and by ``build_strategy`` under the same field path, and the schema and
the strategy's own parser agree on what is valid."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from apps.engine.errors import StrategyConfigError, UnknownStrategyError
from apps.engine.schema import check_config, schema_errors
from apps.engine.strategies import (
    STRATEGIES,
    StrategyName,
    build_strategy,
    puppeteer,
    strategy_catalogue,
    strategy_info,
)
from apps.engine.strategies.puppeteer import LoadedPolicy, use_policy_source

README = Path(__file__).resolve().parents[2] / "README.md"

# Snippets in the Strategies section that are not a strategy's config: what an agent replies
# (a director's orders, a planner's graph, a critic's score) or the value of one key.
NOT_CONFIGS = {
    '{"nodes": [...]}',
    '{"orders": [{"agent": "calc", "task": "6 * 7"}]}',
    '{"answer": "..."}',
    '{"selector": "chair"}',
    '{"score", "critique"}',
}


def strategies_section() -> str:
    text = README.read_text()
    start = text.index("\n## Strategies\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def readme_examples() -> list[tuple[str, str]]:
    """``(strategy, JSON text)`` for every JSON snippet in the section, by the bullet it is in."""
    examples = []
    bullets = re.split(r"\n(?=- `)", strategies_section())
    for bullet in bullets:
        named = re.match(r"- `([a-z_]+)`", bullet)
        if not named:
            continue
        fenced = re.findall(r"```json\n(.*?)```", bullet, flags=re.S)
        rest = re.sub(r"```json\n.*?```", "", bullet, flags=re.S)
        inline = [s for s in re.findall(r"`(\{.*?\})`", rest, flags=re.S) if not s.startswith("{{")]
        for snippet in [*fenced, *inline]:
            flat = " ".join(snippet.split())
            if flat not in NOT_CONFIGS:
                examples.append((named[1], flat))
    return examples


def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


@pytest.fixture
def policies():
    """Training runs' policies served to the puppeteer strategy (the platform's loader is restored after)."""
    known: dict[int, LoadedPolicy] = {}

    def load(run_id: int) -> LoadedPolicy:
        if run_id not in known:
            raise LookupError(f"No training run {run_id}.")
        return known[run_id]

    previous = puppeteer._policy_source
    use_policy_source(load)
    yield known
    use_policy_source(previous)


def a_policy(*agents: str) -> LoadedPolicy:
    return LoadedPolicy(agent_names=agents, call_costs={a: 1.0 for a in agents}, choose=lambda *args, **kwargs: None)


# ---- the README's examples -------------------------------------------------------------------


def test_the_readme_gives_examples_for_the_strategies_it_documents():
    names = {name for name, _ in readme_examples()}
    assert {"sequential", "chat_room", "heist", "hive", "forge", "puppeteer"} <= names
    assert names <= set(StrategyName)


def test_every_snippet_the_readme_calls_something_else_is_still_in_the_readme():
    flat = " ".join(strategies_section().split())
    assert [s for s in NOT_CONFIGS if s not in flat] == []


@pytest.mark.parametrize(("name", "text"), readme_examples())
def test_every_readme_example_validates_against_its_schema_and_builds(name, text, policies):
    config = json.loads(text)
    members = sorted(set(strings_in(config)))
    if name == StrategyName.PUPPETEER:
        policies[config["training_run"]] = a_policy("lookup", "calc")
        members = ["lookup", "calc"]
    info = strategy_info(name)
    assert schema_errors(info.config_schema, config) == {}
    check_config(info.config_schema, config, error=StrategyConfigError, what=name)
    assert build_strategy(name, config, members).name == name


# ---- invalid configs: refused by the schema and by build_strategy, at the same field ---------

INVALID: list[tuple[str, dict[str, Any], str]] = [
    # sequential
    ("sequential", {"stages": []}, "stages"),
    ("sequential", {"stages": [{"agent": "a", "retries": 11}]}, "stages[0].retries"),
    ("sequential", {"stages": [{"agent": "a", "retries": "2"}]}, "stages[0].retries"),
    ("sequential", {"stages": [{"agent": "a", "colour": "red"}]}, "stages[0]"),
    ("sequential", {"stages": [{"agent": "a", "ask_human": {"prompt": "OK?"}}]}, "stages[0]"),
    ("sequential", {"stages": [{"ask_human": {"fields": []}}]}, "stages[0].ask_human.prompt"),
    ("sequential", {"stages": [{"ask_human": {"prompt": "OK?", "fields": []}}]}, "stages[0].ask_human.fields"),
    (
        "sequential",
        {"stages": [{"ask_human": {"prompt": "OK?", "fields": [{"name": "d", "kind": "choice"}]}}]},
        "stages[0].ask_human.fields[0]",
    ),
    (
        "sequential",
        {"stages": [{"ask_human": {"prompt": "OK?", "fields": [{"name": "d", "kind": "slider"}]}}]},
        "stages[0].ask_human.fields[0]",
    ),
    ("sequential", {"room": " "}, "room"),
    ("sequential", {"steps": []}, "steps"),
    # chat_room and board
    ("chat_room", {"max_turns": 0}, "max_turns"),
    ("chat_room", {"max_turns": 2.5}, "max_turns"),
    ("chat_room", {"on_error": "retry"}, "on_error"),
    ("chat_room", {"order": []}, "order"),
    ("chat_room", {"order": ["a", 7]}, "order"),
    ("chat_room", {"moderator": "random"}, "moderator"),
    ("chat_room", {"moderator": {"selector": "a", "retries": 2}}, "moderator"),
    ("chat_room", {"selector_retries": 6}, "selector_retries"),
    ("chat_room", {"speakers": ["a"]}, "speakers"),
    ("board", {"board_only": "yes"}, "board_only"),
    ("board", {"allow_repeat": 1}, "allow_repeat"),
    # heist
    ("heist", {}, "nodes"),
    ("heist", {"nodes": []}, "nodes"),
    ("heist", {"nodes": ["fetch"]}, "nodes[0]"),
    ("heist", {"nodes": [{"name": "-fetch", "agent": "a"}]}, "nodes[0].name"),
    ("heist", {"nodes": [{"name": "fetch", "agent": "a", "retry": {"attempts": 11}}]}, "nodes[0].retry.attempts"),
    ("heist", {"nodes": [{"name": "fetch", "agent": "a", "retry": {"backoff_s": 301}}]}, "nodes[0].retry.backoff_s"),
    ("heist", {"nodes": [{"name": "fetch", "agent": "a", "retry": [2]}]}, "nodes[0].retry"),
    ("heist", {"nodes": [{"name": "fetch", "agent": "a", "timeout_s": 0}]}, "nodes[0].timeout_s"),
    ("heist", {"nodes": [{"name": "fetch", "agent": "a", "fallbacks": "b"}]}, "nodes[0].fallbacks"),
    ("heist", {"nodes": [{"name": "fetch", "agent": "a", "depends_on": "x"}]}, "nodes[0].depends_on"),
    ("heist", {"nodes": [{"name": "fetch", "agent": "a", "after": []}]}, "nodes[0]"),
    ("heist", {"nodes": [{"name": "fetch", "agent": "a"}], "max_replans": 11}, "max_replans"),
    ("heist", {"nodes": [{"name": "fetch", "agent": "a"}], "retries": 1}, "retries"),
    # boss_worker
    ("boss_worker", {"director": " "}, "director"),
    ("boss_worker", {"workers": []}, "workers"),
    ("boss_worker", {"max_loops": 51}, "max_loops"),
    ("boss_worker", {"max_invalid": 0}, "max_invalid"),
    ("boss_worker", {"retry": {"attempts": 11}}, "retry"),
    ("boss_worker", {"room": 5}, "room"),
    ("boss_worker", {"boss": "a"}, "boss"),
    # hive
    ("hive", {"agents": []}, "agents"),
    ("hive", {"agents": ["a", "a"]}, "agents"),
    ("hive", {"threshold": 0}, "threshold"),
    ("hive", {"quorum": 1.5}, "quorum"),
    ("hive", {"max_rounds": "3"}, "max_rounds"),
    ("hive", {"voting": "show_of_hands"}, "voting"),
    ("hive", {"step_timeout_s": 0}, "step_timeout_s"),
    ("hive", {"rounds": 3}, "rounds"),
    # forge
    ("forge", {"critics": []}, "critics"),
    ("forge", {"critics": ["b"]}, "critics[0]"),
    ("forge", {"critics": [{"agent": "b", "threshold": 1.5}]}, "critics[0].threshold"),
    ("forge", {"critics": [{"agent": "b", "score_max": 0}]}, "critics[0].score_max"),
    ("forge", {"critics": [{"agent": "b", "weight": 2}]}, "critics[0]"),
    ("forge", {"critics": [{"agent": "b", "judge": {"kind": "rule", "expected": "x"}}]}, "critics[0]"),
    ("forge", {"critics": [{"judge": {"kind": "llm", "agent": "b"}}]}, "critics[0].judge.kind"),
    ("forge", {"critics": [{"judge": {"kind": "rule", "mode": "contains"}}]}, "critics[0].judge.expected"),
    ("forge", {"critics": [{"judge": {"kind": "rule", "mode": "fuzzy", "expected": "x"}}]}, "critics[0].judge.mode"),
    ("forge", {"critics": [{"judge": {"expected": "x", "strict": True}}]}, "critics[0].judge"),
    (
        "forge",
        {"critics": [{"judge": {"kind": "metrics", "weights": {"accuracy": -1}}}]},
        "critics[0].judge.weights.accuracy",
    ),
    ("forge", {"critics": [{"judge": {"kind": "metrics", "weights": {"style": 1}}}]}, "critics[0].judge.weights"),
    ("forge", {"max_iterations": 21}, "max_iterations"),
    ("forge", {"on_cap": "first"}, "on_cap"),
    ("forge", {"critic_failure": "retry"}, "critic_failure"),
    ("forge", {"generator_retries": -1}, "generator_retries"),
    # orc
    ("orc", {"domains": {}}, "domains"),
    ("orc", {"domains": {"math": ["a"]}}, "domains.math"),
    ("orc", {"domains": {"math": {"agents": ["a"], "leader": "a"}}}, "domains.math"),
    ("orc", {"domains": {"math": {"agents": []}}}, "domains.math.agents"),
    ("orc", {"tasks": []}, "tasks"),
    ("orc", {"tasks": [{"task": "2+2", "answer": 4}]}, "tasks[0]"),
    ("orc", {"tasks": [7]}, "tasks[0]"),
    ("orc", {"expected": [4]}, "expected"),
    ("orc", {"judge": {"kind": "oracle"}}, "judge.kind"),
    ("orc", {"judge": {"kind": "llm", "agent": "a", "retries": 6}}, "judge.retries"),
    ("orc", {"judge": {"kind": "consensus", "judges": [{"kind": "rule"}]}}, "judge.judges"),
    ("orc", {"judge": {"kind": "rule", "tolerance": -1}}, "judge.tolerance"),
    ("orc", {"judge": {"kind": "rule", "case_sensitive": "no"}}, "judge.case_sensitive"),
    ("orc", {"challenge": {"probability": 0.5, "often": True}}, "challenge"),
    ("orc", {"challenge": {"pick": "worst"}}, "challenge.pick"),
    ("orc", {"challenge": {"cooldown": -1}}, "challenge.cooldown"),
    ("orc", {"k_factor": 0}, "k_factor"),
    ("orc", {"max_defences": 0}, "max_defences"),
    ("orc", {"contest": "melee"}, "contest"),
    ("orc", {"decay": 2}, "decay"),
    ("orc", {"seed": -1}, "seed"),
    # sao
    ("sao", {"levels": []}, "levels"),
    ("sao", {"levels": [5]}, "levels[0]"),
    ("sao", {"levels": [{"difficulty": 11}]}, "levels[0].difficulty"),
    ("sao", {"levels": [{"reward": -1}]}, "levels[0].reward"),
    ("sao", {"levels": [{"name": ""}]}, "levels[0].name"),
    ("sao", {"levels": [{"bonus": 1}]}, "levels[0].bonus"),
    ("sao", {"levels": [{"source": {"generator": "poetry"}}]}, "levels[0].source.generator"),
    ("sao", {"levels": [{"source": {"generator": "strings", "dataset": []}}]}, "levels[0].source"),
    ("sao", {"levels": [{"source": {"dataset": []}}]}, "levels[0].source.dataset"),
    (
        "sao",
        {"levels": [{"source": {"dataset": [{"task": "1+1", "expected": 2, "hint": "sum"}]}}]},
        "levels[0].source.dataset[0]",
    ),
    (
        "sao",
        {"levels": [{"source": {"dataset": [{"task": "1+1", "expected": 2, "checker": "fuzzy"}]}}]},
        "levels[0].source.dataset[0].checker",
    ),
    ("sao", {"agents": []}, "agents"),
    ("sao", {"pass_score": 1.5}, "pass_score"),
    ("sao", {"max_attempts": 0}, "max_attempts"),
    ("sao", {"finish_when": "last"}, "finish_when"),
    ("sao", {"resume": "yes"}, "resume"),
    ("sao", {"time_limit_s": 0}, "time_limit_s"),
    # puppeteer
    ("puppeteer", {}, "training_run"),
    ("puppeteer", {"training_run": "7"}, "training_run"),
    ("puppeteer", {"training_run": 0}, "training_run"),
    ("puppeteer", {"training_run": 7, "greedy": "yes"}, "greedy"),
    ("puppeteer", {"training_run": 7, "max_steps": 101}, "max_steps"),
    ("puppeteer", {"training_run": 7, "policy": "x"}, "policy"),
]

MEMBERS = ["a", "b", "c"]


@pytest.mark.parametrize(("name", "config", "path"), INVALID, ids=[f"{n}-{p}" for n, _, p in INVALID])
def test_an_invalid_config_is_refused_by_the_schema_and_by_build_strategy_at_the_same_field(
    name, config, path, policies
):
    policies[7] = a_policy("a", "b")
    schema = strategy_info(name).config_schema
    with pytest.raises(StrategyConfigError) as by_schema:
        check_config(schema, config, error=StrategyConfigError, what=name)
    with pytest.raises(StrategyConfigError) as by_engine:
        build_strategy(name, config, MEMBERS)
    assert path in by_schema.value.fields
    assert path in by_engine.value.fields
    assert all(by_schema.value.fields.values())


def test_the_schema_words_its_messages_as_the_engine_does():
    fields = schema_errors(
        strategy_info("chat_room").config_schema,
        {"max_turns": "many", "on_error": "retry", "selector_retries": 9, "room": " ", "colour": "red"},
    )
    assert fields == {
        "max_turns": ["Must be a whole number."],
        "on_error": ["Must be one of: skip, fail."],
        "selector_retries": ["Must be between 0 and 5."],
        "room": ["This field is required."],
        "colour": [
            "Unknown setting. Allowed: allow_repeat, board_only, max_turns, moderator, on_error, order, room, "
            "selector_retries."
        ],
    }


def test_a_config_that_is_not_an_object_is_refused_without_fields():
    with pytest.raises(StrategyConfigError) as refused:
        check_config(strategy_info("hive").config_schema, ["a"], error=StrategyConfigError, what="hive")
    assert refused.value.fields == {}
    assert "Must be a mapping." in refused.value.message


def test_build_strategy_refuses_what_only_the_schema_catches():
    # The boss-worker parser reads backoff_s without bounds; the schema says at least 0.
    with pytest.raises(StrategyConfigError) as refused:
        build_strategy("boss_worker", {"retry": {"attempts": 1, "backoff_s": -2}}, MEMBERS)
    assert list(refused.value.fields) == ["retry"]


def test_build_strategy_keeps_the_parser_message_and_adds_the_schema_s_other_findings():
    # A HEIST parser error (an unknown agent) and a schema-only one (an unknown retry key).
    config = {"nodes": [{"name": "fetch", "agent": "zed", "retry": {"attempts": 1, "tries": 2}}]}
    with pytest.raises(StrategyConfigError) as refused:
        build_strategy("heist", config, MEMBERS)
    assert refused.value.fields["nodes[0].agent"] == ["Unknown agent 'zed': not a member of this swarm."]
    assert refused.value.fields["nodes[0].retry.tries"][0].startswith("Unknown setting.")


# ---- the schema and the parser agree --------------------------------------------------------

# Where the schema is deliberately stricter than the parser, which converts or ignores the value.
STRICTER = {
    ("heist", "room"),  # the parser str()s anything
    ("boss_worker", "retry"),  # the parser ignores a retry that is not an object
    ("orc", "expected"),  # the parser takes true and false for 1 and 0
    ("orc", "challenge"),  # the parser ignores an empty list
}

WRONG_VALUES: list[Any] = ["x", -1, 10**7, 0.5, True, [], {}, [1], {"q": 1}, ["c", "c"]]


def base_configs() -> list[tuple[str, dict[str, Any]]]:
    bases = [(name, json.loads(text)) for name, text in readme_examples() if name != "puppeteer"]
    return [*bases, *((name, {}) for name in STRATEGIES if name not in ("heist", "puppeteer"))]


def types_of(schema: dict[str, Any]) -> set[str]:
    if "type" in schema:
        return {schema["type"]} if isinstance(schema["type"], str) else set(schema["type"])
    return {t for alt in schema.get("oneOf", []) for t in types_of(alt)} or {"string"}


def top_keys(fields: dict[str, list[str]]) -> set[str]:
    return {re.split(r"[.\[]", path)[0] for path in fields}


def parser_refuses(name: str, config: dict[str, Any], members: list[str]) -> dict[str, list[str]] | None:
    try:
        STRATEGIES[name](config, members)
    except StrategyConfigError as exc:
        return exc.fields
    except Exception as exc:  # a parser that crashes on a wrong value is a disagreement too
        return {"<crash>": [repr(exc)]}
    return None


def test_the_schema_and_the_strategy_s_parser_agree_on_wrong_values_of_every_setting():
    disagreements = []
    for name, base in base_configs():
        schema = STRATEGIES[name].config_schema
        members = sorted({*MEMBERS, *strings_in(base)})
        for key, sub in schema["properties"].items():
            for value in [*WRONG_VALUES, *bounds_and_beyond(sub)]:
                if names_only_the_parser_checks(value, sub):
                    continue
                config = {**copy.deepcopy(base), key: value}
                by_schema = schema_errors(schema, config)
                by_parser = parser_refuses(name, config, members)
                if (name, key) in STRICTER:
                    assert by_schema or by_parser is None
                    continue
                both_refuse_the_key = (
                    bool(by_schema) and by_parser is not None and top_keys(by_schema) & top_keys(by_parser)
                )
                if bool(by_schema) != (by_parser is not None) or (by_schema and not both_refuse_the_key):
                    disagreements.append((name, key, value, by_schema, by_parser))
    assert disagreements == []


def bounds_and_beyond(schema: dict[str, Any]) -> list[float]:
    """A number setting's bounds and the values just past them."""
    step = 1 if "integer" in types_of(schema) else 0.001
    values: list[float] = []
    if "minimum" in schema:
        values += [schema["minimum"], schema["minimum"] - step]
    if "maximum" in schema:
        values += [schema["maximum"], schema["maximum"] + step]
    if "exclusiveMinimum" in schema:
        values += [schema["exclusiveMinimum"], schema["exclusiveMinimum"] + step]
    return values


def names_only_the_parser_checks(value: Any, schema: dict[str, Any]) -> bool:
    """A string (or list of strings) where the schema wants one: whether it names a member, a
    node or a domain that exists only the parser knows."""
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return "array" in types_of(schema) and types_of(schema.get("items", {})) == {"string"}
    return isinstance(value, str) and "string" in types_of(schema)


def item_schema(prop: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """The schema of one row of a list: the oneOf alternative whose required keys the row has."""
    schema = prop["items"]
    for alternative in schema.get("oneOf", []):
        if set(alternative.get("required", ())) <= set(item) and alternative.get("type") == "object":
            return alternative
    return schema


# Settings of a row that the parser str()s, so any value passes it; the schema wants a string.
STRICTER_IN_ROWS = {
    ("sequential", "stages", "name"),
    ("sequential", "stages", "input"),
    ("heist", "nodes", "input"),
    ("forge", "critics", "name"),
    ("forge", "critics", "input"),
    ("heist", "nodes", "retry"),  # the parser ignores unknown retry keys and an empty list
}
# Settings of a row whose bound depends on the row's place, which only the parser knows:
# a SAO level's setback is at most its position in the list.
PARSER_STRICTER_IN_ROWS = {("sao", "levels", "setback")}


def test_the_schema_and_the_parser_agree_on_wrong_values_inside_each_row_of_a_list():
    disagreements = []
    for name, base in base_configs():
        schema = STRATEGIES[name].config_schema
        members = sorted({*MEMBERS, *strings_in(base)})
        for key, rows in base.items():
            if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
                continue
            for i, row in enumerate(rows):
                sub = item_schema(schema["properties"][key], row)
                for field, field_schema in sub["properties"].items():
                    values = [
                        v
                        for v in [*WRONG_VALUES, *bounds_and_beyond(field_schema)]
                        if not names_only_the_parser_checks(v, field_schema)
                    ]
                    for value in [*values, "unknown-key"]:
                        config = copy.deepcopy(base)
                        if value == "unknown-key":
                            config[key][i]["no_such_setting"] = 1
                        else:
                            config[key][i][field] = value
                        by_schema = schema_errors(schema, config)
                        by_parser = parser_refuses(name, config, members)
                        if (name, key, field) in STRICTER_IN_ROWS and value != "unknown-key":
                            assert by_schema or by_parser is None
                            continue
                        if (name, key, field) in PARSER_STRICTER_IN_ROWS and value != "unknown-key":
                            assert by_parser or not by_schema
                            continue
                        row_path = f"{key}[{i}]"
                        schema_says = any(p.startswith(row_path) for p in by_schema)
                        parser_says = by_parser is not None and any(p.startswith(row_path) for p in by_parser)
                        if schema_says != parser_says:
                            disagreements.append((name, row_path, field, value, by_schema, by_parser))
    assert disagreements == []


# ---- the schemas themselves and the catalogue -----------------------------------------------


def all_properties(schema: Any, where: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(schema, dict):
        for key, sub in schema.get("properties", {}).items():
            found.append((f"{where}.{key}", sub))
        for key, sub in schema.items():
            if key in ("if", "then", "else"):
                continue  # conditions on fields listed elsewhere, not fields of their own
            if key in ("properties", "const", "default", "enum", "x-messages"):
                if key == "properties":
                    for name, prop in sub.items():
                        found.extend(all_properties(prop, f"{where}.{name}"))
                continue
            found.extend(all_properties(sub, f"{where}/{key}"))
    elif isinstance(schema, list):
        for i, sub in enumerate(schema):
            found.extend(all_properties(sub, f"{where}[{i}]"))
    return found


@pytest.mark.parametrize("name", list(StrategyName))
def test_each_schema_is_a_valid_draft_2020_12_schema_with_a_title_and_a_description_on_every_property(name):
    schema = strategy_info(name).config_schema
    Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    untitled = [path for path, sub in all_properties(schema) if not sub.get("title")]
    assert untitled == []
    undescribed = [path for path, sub in all_properties(schema) if not sub.get("description")]
    assert undescribed == []


@pytest.mark.parametrize("name", list(StrategyName))
def test_each_default_in_a_schema_is_valid_for_its_property(name):
    schema = strategy_info(name).config_schema
    wrong = {
        key: errors
        for key, sub in schema["properties"].items()
        if "default" in sub
        for path, errors in schema_errors(schema, {key: sub["default"]}).items()
        if path.startswith(key)
    }
    assert wrong == {}


def test_the_catalogue_lists_every_strategy_with_a_label_a_description_and_a_schema():
    catalogue = strategy_catalogue()
    assert [info.name for info in catalogue] == list(StrategyName)
    for info in catalogue:
        assert info.label and info.description and info.config_schema["properties"]
        for role in info.roles:
            assert set(role) == {"role", "key", "many", "description"}
            assert role["key"].split(".")[0] in info.config_schema["properties"]


def test_the_catalogue_labels_are_the_ones_the_swarm_model_shows():
    from apps.swarms.models import Strategy

    assert {info.name: info.label for info in strategy_catalogue()} == {c.value: c.label for c in Strategy}


def roles_in(schema: Any, path: str = "") -> list[tuple[str, str]]:
    """``(dotted config path, x-role)`` of every property that carries a role (rows and
    alternatives add nothing to the path, as the designer reads a role's key)."""
    found = []
    if isinstance(schema, dict):
        if "x-role" in schema:
            found.append((path, schema["x-role"]))
        for key, sub in schema.items():
            if key == "properties":
                for name, prop in sub.items():
                    found.extend(roles_in(prop, f"{path}.{name}" if path else name))
            elif key in ("items", "additionalProperties"):
                found.extend(roles_in(sub, path))
            elif key in ("oneOf", "anyOf"):
                for alternative in sub:
                    found.extend(roles_in(alternative, path))
    return found


@pytest.mark.parametrize("name", list(StrategyName))
def test_every_member_a_role_marks_in_the_schema_lies_under_that_role_s_key(name):
    info = strategy_info(name)
    keys = {role["role"]: role["key"] for role in info.roles}
    marked = roles_in(info.config_schema)
    assert sorted({role for _, role in marked}) == sorted(keys)
    for path, role in marked:
        assert path == keys[role] or path.startswith(f"{keys[role]}."), (path, role)


def test_a_member_role_marks_the_properties_that_name_members():
    info = strategy_info("boss_worker")
    assert [r["role"] for r in info.roles] == ["director", "workers"]
    props = info.config_schema["properties"]
    assert props["director"]["format"] == "member" and props["director"]["x-role"] == "director"
    assert props["workers"]["items"]["format"] == "member" and props["workers"]["x-role"] == "workers"
    node = strategy_info("heist").config_schema["properties"]["nodes"]["items"]["properties"]
    assert node["depends_on"]["items"]["format"] == "node"
    assert node["input"]["format"] == "template"
    assert strategy_info("puppeteer").config_schema["properties"]["training_run"]["format"] == "training-run"


def test_an_unknown_strategy_has_no_catalogue_entry():
    with pytest.raises(UnknownStrategyError):
        strategy_info("swarm_of_bees")


def test_the_same_config_checked_again_gets_the_same_problems_whatever_the_caller_did_with_them():
    schema = strategy_info("hive").config_schema
    first = schema_errors(schema, {"max_rounds": 0})
    first["max_rounds"].append("scribbled on")
    first["elsewhere"] = ["added"]
    assert schema_errors(schema, {"max_rounds": 0}) == {"max_rounds": ["Must be between 1 and 50."]}


def test_a_config_that_is_not_plain_json_is_checked_as_it_is():
    # A tuple reads as a list once written as JSON, but the parser refuses it, and so does the schema.
    schema = strategy_info("heist").config_schema
    assert schema_errors(schema, {"nodes": ({"name": "fetch", "agent": "a"},)}) == {
        "nodes": ["Must be a non-empty list of nodes."]
    }
    assert schema_errors(schema, {"nodes": [{"name": "fetch", "agent": "a"}]}) == {}
