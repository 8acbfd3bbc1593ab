"""Templates: plain text comes back as written, exactly as Jinja would give it."""

import pytest

from apps.engine.errors import TemplateError
from apps.engine.templating import _compile, render

CONTEXT = {"task": "write a poem\r\n{{ not a template }}\n", "outputs": {"a": "x"}, "n": 3, "empty": ""}


@pytest.mark.parametrize(
    "source",
    [
        "ok",
        "",
        "line one\nline two\n",
        "trailing newlines\n\n",
        "windows\r\nnewlines\r\n",
        "a lone } brace",
        "{{ task }} and more",
        "{% if task %}yes{% endif %}",
        "{# a comment #}text",
        "{{ task }}",
        "{{task}}",
        "{{  task  }}",
        "{{ empty }}",
        "{{ n }}",
        "{{ outputs }}",
        "{{ task }}\n",
        "{{- task -}}",
        "{{ task|upper }}",
    ],
)
def test_render_gives_what_jinja_gives(source):
    assert render(source, CONTEXT) == _compile(source).render(**CONTEXT)


def test_unknown_names_are_still_errors():
    with pytest.raises(TemplateError):
        render("{{ nope }}", CONTEXT)
