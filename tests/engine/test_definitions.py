"""YAML swarm definitions: every problem reported at once, with file, line and key."""

from pathlib import Path

import pytest

from apps.engine.definitions import DefinitionError, dump_definition, parse_definition, resolved

TOOLS = {"calculator", "python", "echo", "judge", "terminator"}
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "definitions"


def read_folder(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()}


def parse(text: str, **files):
    return parse_definition({"swarm.yaml": text, **files}, known_tools=TOOLS)


def problems(text: str, **files) -> dict[str, list[str]]:
    with pytest.raises(DefinitionError) as caught:
        parse(text, **files)
    return caught.value.fields


def test_the_shipped_examples_are_valid():
    board = parse_definition({"swarm.yaml": (EXAMPLES / "haas_board.yaml").read_text()}, known_tools=TOOLS)
    levels = {a.name: a.level for a in resolved(board)}
    assert levels == {
        "sob-chair": 0,
        "sob-ethicist": 0,
        "sob-strategist": 0,
        "cto": 1,
        "coo": 1,
        "analyst": 2,
        "coder": 2,
        "scribe": 2,
    }
    team = parse_definition(read_folder(EXAMPLES / "boss_worker"), known_tools=TOOLS)
    assert [a.name for a in team.agents] == ["boss", "calc", "checker", "report-writer"]
    assert team.agents[0].instructions.startswith("You are {{ name }}")  # rendered when the agent acts


def test_every_problem_is_reported_at_once_with_its_line_and_key():
    text = """name: broken
strategy: chat_room
agents:
  - name: boss
    level: 1
    provider: scripted
    config: {replies: [hi]}
    privileges: [spawn]
  - name: boss
    provider: scripted
    config: {replies: [hi]}
  - name: worker
    parent: ghost
    provider: skill
    config: {skill: calculator}
  - name: upstart
    parent: boss
    level: 3
    provider: scripted
    config: {replies: [x]}
  - name: greedy
    parent: boss
    provider: scripted
    config: {replies: [x]}
    privileges: [terminate]
  - name: toolish
    provider: skill
    config: {skill: telepathy}
    tools: [hammer]
    instructions: "I am {{ nmae }}"
"""
    found = problems(text)
    assert found["swarm.yaml:9 agents[1].name"] == ["Duplicate agent name 'boss'."]
    assert found["swarm.yaml:13 agents[2].parent"] == ["Unknown parent 'ghost'."]
    assert any("level_skip" in m for m in found["swarm.yaml:18 agents[3].level"])
    assert any("privilege_escalation" in m for m in found["swarm.yaml:25 agents[4].privileges"])
    assert "swarm.yaml:28 agents[5].config.skill" in found
    assert any("hammer" in m for m in found["swarm.yaml:29 agents[5].tools"])
    assert any("nmae" in m for m in found["swarm.yaml:30 agents[5].instructions"])
    assert len(found) == 7


def test_a_missing_template_file_is_reported():
    text = """name: t
strategy: sequential
agents:
  - {name: a, provider: scripted, config: {replies: [x]}, instructions_file: prompts/a.md}
"""
    assert problems(text) == {"swarm.yaml:4 agents[0].instructions_file": ["Missing template 'prompts/a.md'."]}


def test_folder_agents_report_their_own_file():
    found = problems(
        "name: t\nstrategy: sequential\n", **{"agents/x.yaml": "name: x\nprovider: scripted\nconfig:\n  replies: 3\n"}
    )
    assert list(found) == ["agents/x.yaml:4 config.replies"]


def test_strategy_config_is_checked_against_the_members():
    text = """name: t
strategy: chat_room
strategy_config: {max_turns: 0}
members: [a, zed]
agents:
  - {name: a, provider: scripted, config: {replies: [x]}}
"""
    found = problems(text)
    assert found["swarm.yaml:4 members[1]"] == ["Unknown agent 'zed'."]


def test_bad_yaml_is_reported_with_its_line():
    found = problems("name: t\nagents: [\n")
    assert next(iter(found)).startswith("swarm.yaml:3")


def test_an_export_reads_back_as_the_same_definition():
    board = parse_definition({"swarm.yaml": (EXAMPLES / "haas_board.yaml").read_text()}, known_tools=TOOLS)
    again = parse_definition({"swarm.yaml": dump_definition(board)}, known_tools=TOOLS)
    assert resolved(again) == resolved(board)
    assert again.members == board.members and again.strategy_config == board.strategy_config


def test_a_real_parent_cycle_is_reported_once():
    text = """name: t
strategy: sequential
agents:
  - {name: a, parent: b, provider: scripted, config: {replies: [x]}}
  - {name: b, parent: a, provider: scripted, config: {replies: [x]}}
"""
    found = problems(text)
    assert sum("Parent cycle" in m for ms in found.values() for m in ms) == 1
