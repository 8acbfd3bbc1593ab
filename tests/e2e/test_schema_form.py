"""SchemaForm (static/js/schema_form.js) in Debian's chromium: every README example of every strategy's
config round-trips exactly, the server's errors land beside the field their path names, arrays grow,
shrink and reorder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apps.engine.strategies.registry import strategy_catalogue
from tests.engine.test_strategy_schemas import readme_examples

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = (ROOT / "static" / "js" / "schema_form.js").read_text()

# The README's configs, found the way the schema tests find them (one reading of the README for both).
EXAMPLES: dict[str, list[dict]] = {}
for _name, _text in readme_examples():
    EXAMPLES.setdefault(_name, []).append(json.loads(_text))
CASES = [(name, i) for name, values in EXAMPLES.items() for i in range(len(values))]


@pytest.fixture
def form_page(browser):
    page = browser.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_content('<!doctype html><html><body><form id="f" onsubmit="return false"></form></body></html>')
    page.add_script_tag(content=SCRIPT)
    yield page
    assert errors == []
    page.close()


def _render(page, schema: dict, value, **options) -> None:
    page.evaluate(
        """([schema, value, options]) => {
            window.changes = [];
            options.onChange = (v) => window.changes.push(v);
            window.form = SchemaForm.render(document.getElementById("f"), schema, value, options);
        }""",
        [schema, value, options],
    )


def _value(page):
    return page.evaluate("window.form.getValue()")


def _members(example) -> list[str]:
    """Every string in an example, offered as members so member selects can show them."""
    if isinstance(example, dict):
        return [s for v in example.values() for s in _members(v)]
    if isinstance(example, list):
        return [s for v in example for s in _members(v)]
    return [example] if isinstance(example, str) else []


def test_the_readme_examples_cover_the_strategies_that_document_a_config():
    assert {"sequential", "chat_room", "heist", "hive", "forge", "puppeteer"} <= set(EXAMPLES)


@pytest.mark.parametrize(("strategy", "index"), CASES, ids=[f"{s}-{i}" for s, i in CASES])
def test_every_readme_example_round_trips_exactly(form_page, strategy, index):
    example = EXAMPLES[strategy][index]
    schema = next(info.config_schema for info in strategy_catalogue() if info.name == strategy)
    _render(form_page, schema, {}, members=_members(example), nodes=_members(example))
    form_page.evaluate("(v) => window.form.setValue(v)", example)
    assert _value(form_page) == example
    assert form_page.evaluate("window.changes.length") == 0  # setValue is not an edit

    # The fields really hold the example: touching every field (an input event without changing it)
    # makes each read its value back from the page, and the result is still the example.
    form_page.evaluate(
        """() => {
            for (const input of document.querySelectorAll("#f input:not([type=checkbox]), #f textarea, #f select")) {
                input.dispatchEvent(new Event(input.tagName === "SELECT" ? "change" : "input", {bubbles: true}));
            }
        }"""
    )
    assert _value(form_page) == example


@pytest.mark.parametrize("info", strategy_catalogue(), ids=lambda info: info.name)
def test_an_empty_config_stays_empty_until_something_is_typed(form_page, info):
    """Every strategy's form draws from its schema, and shows the engine's defaults without writing them."""
    _render(form_page, info.config_schema, {}, members=["ann", "ben"], nodes=["a"])
    assert form_page.locator("#f .sf-field").count() >= 1
    form_page.evaluate(
        """() => {
            for (const input of document.querySelectorAll("#f input:not([type=checkbox]), #f textarea, #f select")) {
                input.dispatchEvent(new Event(input.tagName === "SELECT" ? "change" : "input", {bubbles: true}));
            }
        }"""
    )
    assert _value(form_page) == {}


# A schema written the way the strategies' are (member, node and template formats, a oneOf, arrays of
# strings and of objects), so these tests do not depend on one strategy's current options.
WORKFLOW = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "planner": {"type": "string", "format": "member", "title": "Planner", "description": "Replans failures."},
        "moderator": {
            "title": "Moderator",
            "default": "round_robin",
            "oneOf": [
                {"const": "round_robin", "title": "Round robin"},
                {
                    "type": "object",
                    "title": "A selector agent",
                    "required": ["selector"],
                    "additionalProperties": False,
                    "properties": {"selector": {"type": "string", "format": "member", "title": "Selector"}},
                },
            ],
        },
        "max_loops": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5, "title": "Max loops"},
        "greedy": {"type": "boolean", "default": False, "title": "Greedy"},
        "workers": {"type": "array", "title": "Workers", "items": {"type": "string", "format": "member"}},
        "nodes": {
            "type": "array",
            "title": "Nodes",
            "items": {
                "type": "object",
                "title": "node",
                "required": ["name", "agent"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "title": "Name"},
                    "agent": {"type": "string", "format": "member", "title": "Agent"},
                    "depends_on": {"type": "array", "items": {"type": "string", "format": "node"}},
                    "input": {"type": "string", "format": "template", "title": "Input"},
                    "retry": {"$ref": "#/$defs/retry"},
                },
            },
        },
    },
    "$defs": {
        "retry": {
            "type": "object",
            "title": "Retry",
            "additionalProperties": False,
            "properties": {
                "attempts": {"type": "integer", "minimum": 0, "default": 0, "title": "Attempts"},
                "backoff_s": {"type": "number", "minimum": 0, "default": 0.5, "title": "Backoff (s)"},
            },
        }
    },
}
MEMBERS = ["ann", "ben", "cy"]
NODES_VALUE = {
    "planner": "cy",
    "moderator": {"selector": "ben"},
    "nodes": [
        {"name": "fetch", "agent": "ann", "retry": {"attempts": 2, "backoff_s": 0.5}},
        {"name": "parse", "agent": "ben", "depends_on": ["fetch"], "input": "{{ outputs.fetch }}"},
    ],
}


def test_fields_show_the_value_and_keys_left_at_their_default_stay_out(form_page):
    _render(form_page, WORKFLOW, NODES_VALUE, members=MEMBERS, nodes=["fetch", "parse"])
    assert form_page.input_value("#sf-planner") == form_page.evaluate(
        "[...document.querySelector('#sf-planner').options].find(o => o.text === 'cy').value"
    )
    assert form_page.locator("#sf-moderator--choice option:checked").inner_text() == "A selector agent"
    assert form_page.locator("#sf-nodes-1-input").input_value() == "{{ outputs.fetch }}"
    assert form_page.locator("#sf-nodes-0-retry-attempts").input_value() == "2"
    assert form_page.get_attribute("#sf-max_loops", "placeholder") == "5"

    # Typing a loop count adds the key; clearing it takes it out again (the engine's default applies).
    form_page.fill("#sf-max_loops", "7")
    assert _value(form_page)["max_loops"] == 7
    form_page.fill("#sf-max_loops", "")
    assert _value(form_page) == NODES_VALUE
    # Ticking a default-off box and unticking it leaves the config as it was.
    form_page.check("#sf-greedy")
    assert _value(form_page)["greedy"] is True
    form_page.uncheck("#sf-greedy")
    assert _value(form_page) == NODES_VALUE
    # Switching the moderator to round robin writes the constant; every edit was reported.
    form_page.select_option("#sf-moderator--choice", label="Round robin")
    assert _value(form_page)["moderator"] == "round_robin"
    assert form_page.evaluate("window.changes.at(-1)") == _value(form_page)


def test_array_rows_are_added_removed_and_moved(form_page):
    _render(form_page, WORKFLOW, {"workers": ["ann"]}, members=MEMBERS)
    form_page.click('button[data-action=add][data-path="workers"]')
    form_page.select_option("#sf-workers-1", label="ben")
    form_page.click('button[data-action=add][data-path="workers"]')
    form_page.select_option("#sf-workers-2", label="cy")
    assert _value(form_page) == {"workers": ["ann", "ben", "cy"]}
    form_page.click('li[data-path="workers[2]"] button[data-action=up]')
    assert _value(form_page) == {"workers": ["ann", "cy", "ben"]}
    form_page.click('li[data-path="workers[0]"] button[data-action=remove]')
    assert _value(form_page) == {"workers": ["cy", "ben"]}
    assert form_page.locator('li[data-path="workers[0]"] button[data-action=up]').is_disabled()

    # A row of objects: a new node is drawn with its fields; what is typed lands in that row.
    form_page.click('button[data-action=add][data-path="nodes"]')
    form_page.fill("#sf-nodes-0-name", "fetch")
    form_page.select_option("#sf-nodes-0-agent", label="ann")
    form_page.fill("#sf-nodes-0-retry-attempts", "3")
    assert _value(form_page)["nodes"] == [{"name": "fetch", "agent": "ann", "retry": {"attempts": 3}}]


def test_a_template_field_offers_the_names_it_may_use(form_page):
    _render(form_page, WORKFLOW, NODES_VALUE, members=MEMBERS, templateNames=["task", "outputs.fetch"])
    form_page.fill("#sf-nodes-0-input", "Fetch ")
    form_page.click('div[data-path="nodes[0].input"] button[data-insert="task"]')
    assert _value(form_page)["nodes"][0]["input"] == "Fetch {{ task }}"


def test_errors_appear_beside_the_field_their_path_names(form_page):
    _render(form_page, WORKFLOW, NODES_VALUE, members=MEMBERS)
    form_page.evaluate(
        """() => window.form.showErrors({
            "nodes[1].agent": ["Unknown agent 'zed'."],
            "nodes[0].retry.attempts": ["Must be at least 0."],
            "nodes[0].timeout_s": ["Unknown key."],
            "workers": ["At least one worker."],
            "": ["The config is wrong."],
        })"""
    )
    assert form_page.inner_text('[data-error-for="nodes[1].agent"]') == "Unknown agent 'zed'."
    assert form_page.get_attribute("#sf-nodes-1-agent", "aria-invalid") == "true"
    assert form_page.inner_text('[data-error-for="nodes[0].retry.attempts"]') == "Must be at least 0."
    # A key the form does not draw goes to the nearest field above it, naming the rest of the path.
    assert form_page.inner_text('[data-error-for="nodes[0]"]') == "timeout_s: Unknown key."
    assert form_page.inner_text('[data-error-for="workers"]') == "At least one worker."
    assert form_page.inner_text('.sf-form-errors[data-error-for=""]') == "The config is wrong."
    # The message sits inside the field's own box, below its input.
    agent_box = form_page.locator('div[data-path="nodes[1].agent"]')
    assert agent_box.locator(".sf-errors li").count() == 1
    assert agent_box.locator("select").count() == 1

    form_page.evaluate("window.form.clearErrors()")
    assert form_page.locator(".sf-errors li").count() == 0
    assert form_page.locator(".sf-invalid").count() == 0


def test_new_options_keep_the_value(form_page):
    _render(form_page, WORKFLOW, NODES_VALUE, members=["ann"])
    assert "cy (not available)" in form_page.inner_text("#sf-planner")
    form_page.evaluate("window.form.setOptions({members: ['ann', 'ben', 'cy']})")
    assert "cy (not available)" not in form_page.inner_text("#sf-planner")
    assert _value(form_page) == NODES_VALUE
