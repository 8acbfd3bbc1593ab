"""Human requests: parsing question specs and validating answers.

The same validation serves the HTMX form and the REST endpoint, so a person
and an API client get the same field messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import EngineError, ErrorCode
from .values import FieldKind, HumanField, HumanQuestion


class InvalidAnswer(EngineError):
    code = ErrorCode.INVALID_ANSWER


def parse_question(spec: Mapping[str, Any], *, where: str = "ask_human") -> HumanQuestion:
    """Build a ``HumanQuestion`` from its JSON form; raise ``EngineError`` naming bad keys."""
    errors: dict[str, list[str]] = {}
    prompt = spec.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        errors[f"{where}.prompt"] = ["A prompt is required."]
    raw_fields = spec.get("fields")
    fields: list[HumanField] = []
    if raw_fields is None:
        fields = list(HumanQuestion(prompt="").fields)
    elif not isinstance(raw_fields, list) or not raw_fields:
        errors[f"{where}.fields"] = ["Must be a non-empty list of fields."]
    else:
        seen: set[str] = set()
        for i, raw in enumerate(raw_fields):
            key = f"{where}.fields[{i}]"
            if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str) or not raw["name"].isidentifier():
                errors[key] = ["Each field needs a 'name' that is a valid identifier."]
                continue
            name = raw["name"]
            if name in seen:
                errors[key] = [f"Duplicate field name {name!r}."]
                continue
            seen.add(name)
            try:
                kind = FieldKind(raw.get("kind", FieldKind.TEXT))
            except ValueError:
                errors[key] = [f"Unknown kind. Use one of: {', '.join(k.value for k in FieldKind)}."]
                continue
            choices = raw.get("choices", [])
            if kind is FieldKind.CHOICE and (not isinstance(choices, list) or not choices):
                errors[key] = ["A choice field needs a non-empty 'choices' list."]
                continue
            fields.append(
                HumanField(
                    name=name,
                    label=str(raw.get("label") or name.replace("_", " ").capitalize()),
                    kind=kind,
                    required=bool(raw.get("required", True)),
                    choices=tuple(str(c) for c in choices),
                    help=str(raw.get("help", "")),
                )
            )
    if errors:
        raise EngineError("Invalid human request.", fields=errors, code=ErrorCode.INVALID)
    return HumanQuestion(prompt=str(prompt), fields=tuple(fields))


def question_to_dict(question: HumanQuestion) -> dict[str, Any]:
    return {
        "prompt": question.prompt,
        "fields": [
            {
                "name": f.name,
                "label": f.label,
                "kind": f.kind.value,
                "required": f.required,
                "choices": list(f.choices),
                "help": f.help,
            }
            for f in question.fields
        ],
    }


def _clean_value(f: HumanField, value: Any) -> Any:
    if f.kind is FieldKind.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "on", "yes", "1"}:
            return True
        if value in (None, "", "false", "off", "no", "0", False):
            return False
        raise ValueError("Must be true or false.")
    if value is None or (isinstance(value, str) and not value.strip()):
        if f.required:
            raise ValueError("This field is required.")
        return None
    if f.kind is FieldKind.NUMBER:
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError("Must be a number.") from None
        if not number.is_finite():
            raise ValueError("Must be a finite number.")
        return int(number) if number == number.to_integral_value() else float(number)
    text = str(value).strip() if f.kind is not FieldKind.TEXTAREA else str(value)
    if f.kind is FieldKind.CHOICE and text not in f.choices:
        raise ValueError(f"Choose one of: {', '.join(f.choices)}.")
    if len(text) > 20_000:
        raise ValueError("Too long (at most 20000 characters).")
    return text


def validate_answer(question: HumanQuestion, answer: Mapping[str, Any]) -> dict[str, Any]:
    """Return the cleaned answer or raise ``InvalidAnswer`` with a message per bad field."""
    if not isinstance(answer, Mapping):
        raise InvalidAnswer("The answer must be an object of field values.")
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    known = {f.name for f in question.fields}
    for extra in sorted(set(answer) - known):
        errors[extra] = ["Unknown field."]
    for f in question.fields:
        try:
            cleaned[f.name] = _clean_value(f, answer.get(f.name))
        except ValueError as exc:
            errors[f.name] = [str(exc)]
    if errors:
        raise InvalidAnswer("The answer is not valid.", fields=errors)
    return cleaned
