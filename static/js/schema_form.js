// SchemaForm: a form generated from a JSON Schema (draft 2020-12 subset), plain ES2017, no dependencies.
//
//   const form = SchemaForm.render(containerEl, schema, value, {members, nodes, trainingRuns,
//                                  templateNames, idPrefix, onChange, omit});
//   form.getValue(); form.setValue(v); form.setOptions({members: [...]});
//   form.showErrors({"nodes[0].agent": ["Unknown agent."]}); form.clearErrors();
//
// Round trips are exact: a field nobody edited gives back exactly the value it was given, and a key that
// was absent stays absent until someone edits its field (so defaults are not written into the config).
// Validation is the server's job: this module renders what the schema allows (types, enums, min/max) and
// shows the server's messages beside the field they name (engine paths: `nodes[0].agent`, `workers[1]`).
(function () {
  "use strict";

  const ABSENT = undefined;

  // ---- small helpers -------------------------------------------------------------------------------

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, val] of Object.entries(attrs || {})) {
      if (val === null || val === undefined || val === false) continue;
      if (key === "text") node.textContent = val;
      else if (key === "className") node.className = val;
      else node.setAttribute(key, val === true ? "" : String(val));
    }
    for (const child of children || []) if (child) node.appendChild(child);
    return node;
  }

  function deepEqual(a, b) {
    if (a === b) return true;
    if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
    if (Array.isArray(a) !== Array.isArray(b)) return false;
    if (Array.isArray(a)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
    const ka = Object.keys(a), kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
  }

  function clone(value) {
    return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
  }

  function has(obj, key) {
    return obj !== null && typeof obj === "object" && Object.prototype.hasOwnProperty.call(obj, key);
  }

  function jsonType(value) {
    if (value === null) return "null";
    if (Array.isArray(value)) return "array";
    if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
    return typeof value;
  }

  function typesOf(schema) {
    if (Array.isArray(schema.type)) return schema.type;
    if (schema.type) return [schema.type];
    if (has(schema, "const")) return [jsonType(schema.const)];
    if (schema.enum) return [...new Set(schema.enum.map(jsonType))];
    if (schema.properties) return ["object"];
    if (schema.items) return ["array"];
    return [];
  }

  // The type a field edits: the first one that is not null (["integer", "null"] edits an integer).
  function mainType(schema) {
    const types = typesOf(schema).filter((t) => t !== "null");
    return types[0] || (typesOf(schema).length ? "null" : "any");
  }

  function typeAccepts(types, value) {
    if (!types.length) return true;
    const t = jsonType(value);
    return types.includes(t) || (t === "integer" && types.includes("number"));
  }

  // Resolve local references ("#/$defs/judge") against the root schema; merge a plain allOf.
  function resolve(schema, root) {
    let current = schema || {};
    for (let hops = 0; current.$ref && hops < 20; hops++) {
      const ref = current.$ref;
      if (!ref.startsWith("#")) break;
      let target = root;
      for (const part of ref.slice(1).split("/").filter(Boolean)) {
        target = target ? target[part.replace(/~1/g, "/").replace(/~0/g, "~")] : undefined;
      }
      const { $ref, ...rest } = current;
      current = Object.assign({}, target || {}, rest);
    }
    if (Array.isArray(current.allOf)) {
      const merged = Object.assign({}, current);
      delete merged.allOf;
      for (const part of current.allOf) {
        const sub = resolve(part, root);
        merged.properties = Object.assign({}, merged.properties || {}, sub.properties || {});
        merged.required = [...(merged.required || []), ...(sub.required || [])];
        for (const [k, v] of Object.entries(sub)) if (!(k in merged)) merged[k] = v;
      }
      current = merged;
    }
    return current;
  }

  // Whether ``value`` plausibly is an instance of ``schema`` (picks the oneOf/anyOf alternative to show).
  function fits(schema, value, root) {
    schema = resolve(schema, root);
    if (has(schema, "const")) return deepEqual(schema.const, value);
    if (schema.enum) return schema.enum.some((option) => deepEqual(option, value));
    if (!typeAccepts(typesOf(schema), value)) return false;
    if (jsonType(value) === "object") {
      const props = schema.properties || {};
      if ((schema.required || []).some((key) => !has(value, key))) return false;
      if (schema.additionalProperties === false && Object.keys(value).some((key) => !has(props, key))) return false;
      return Object.entries(props).every(([key, sub]) => {
        if (!has(value, key)) return true;
        const s = resolve(sub, root);
        return has(s, "const") ? deepEqual(s.const, value[key]) : typeAccepts(typesOf(s), value[key]);
      });
    }
    return true;
  }

  function titleOf(schema, fallback) {
    return schema.title || fallback;
  }

  function alternativeLabel(schema, index, root) {
    const s = resolve(schema, root);
    if (s.title) return s.title;
    if (has(s, "const")) return String(s.const);
    return `Option ${index + 1}`;
  }

  // A fresh value for a row or an alternative: its const, default or an empty container.
  function blankFor(schema, root) {
    const s = resolve(schema, root);
    if (has(s, "const")) return clone(s.const);
    if (has(s, "default")) return clone(s.default);
    if (s.oneOf || s.anyOf) return blankFor((s.oneOf || s.anyOf)[0], root);
    switch (mainType(s)) {
      case "object": return {};
      case "array": return [];
      case "boolean": return false;
      case "integer": case "number": return has(s, "minimum") ? s.minimum : 0;
      default: return s.enum ? clone(s.enum[0]) : "";
    }
  }

  function pathId(prefix, path) {
    return `${prefix}-${path || "root"}`.replace(/[^A-Za-z0-9_-]+/g, "-").replace(/-+$/, "");
  }

  function childPath(parent, key) {
    if (typeof key === "number") return `${parent}[${key}]`;
    return parent ? `${parent}.${key}` : key;
  }

  // ---- fields --------------------------------------------------------------------------------------
  // Every field has: node (its element), value() (ABSENT when it is to be left out), children() (pairs
  // [key, field] for the error walk), and errorBox (where its messages go).

  class Context {
    constructor(root, options) {
      this.root = root;
      this.options = options;
    }
    changed() {
      if (this.options.onChange && !this.silent) this.options.onChange(this.form.getValue());
    }
  }

  function errorBox(path) {
    return el("ul", { className: "sf-errors field-error", "data-error-for": path, hidden: true });
  }

  function wrap(field, schema, path, label, ctx, input) {
    const id = input && input.id;
    const labelEl = label ? el("label", { className: "sf-label", for: id || null, text: label }) : null;
    const help = schema.description ? el("div", { className: "sf-help muted", text: schema.description }) : null;
    field.errorBox = errorBox(path);
    field.node = el("div", { className: "sf-field field", "data-path": path, "data-type": mainType(schema) },
      [labelEl, input, field.extra || null, help, field.errorBox]);
    return field;
  }

  // A leaf field (string, number, boolean, select): untouched, it gives back what it was given.
  function leafField(schema, value, path, label, ctx, required) {
    const field = { touched: false, original: value, children: () => [] };
    const id = pathId(ctx.options.idPrefix, path);
    const format = schema.format;
    const type = mainType(schema);
    let input;
    let read;
    const defaultText = has(schema, "default") ? `default: ${JSON.stringify(schema.default)}` : "";

    const choiceSelect = (choices, current) => {
      // choices: [{value, label}]; a blank first option means "leave it out" (the default applies).
      const select = el("select", { id, name: path, "data-format": format || null });
      const known = choices.some((c) => deepEqual(c.value, current));
      const blank = current === ABSENT || current === "";
      if (!required || !known) {
        select.appendChild(el("option", { value: "", text: defaultText ? `(${defaultText})` : "—" }));
      }
      const all = blank || known ? choices : [...choices, { value: current, label: `${current} (not available)` }];
      all.forEach((choice, i) => {
        const option = el("option", { value: String(i + 1), text: choice.label });
        if (deepEqual(choice.value, current)) option.selected = true;
        select.appendChild(option);
      });
      read = () => (select.value === "" ? ABSENT : clone(all[Number(select.value) - 1].value));
      return select;
    };

    if (schema.enum) {
      const labels = schema["x-enumLabels"] || schema.enumNames || [];
      input = choiceSelect(schema.enum.map((v, i) => ({ value: v, label: labels[i] || String(v) })), value);
    } else if (format === "member" || format === "node") {
      const names = (format === "member" ? ctx.options.members : ctx.options.nodes) || [];
      input = choiceSelect(names.map((n) => ({ value: n, label: n })), value);
    } else if (format === "training-run") {
      const runs = ctx.options.trainingRuns || [];
      input = choiceSelect(runs.map((r) => ({ value: r.id, label: r.label || `#${r.id}` })), value);
    } else if (type === "boolean") {
      input = el("input", { type: "checkbox", id, name: path });
      input.checked = value === ABSENT ? Boolean(schema.default) : Boolean(value);
      read = () => input.checked;
    } else if (type === "integer" || type === "number") {
      input = el("input", {
        type: "number", id, name: path, min: schema.minimum, max: schema.maximum,
        step: type === "integer" ? 1 : (schema.multipleOf || "any"),
        placeholder: has(schema, "default") ? String(schema.default) : null,
      });
      if (value !== ABSENT && value !== null) input.value = String(value);
      read = () => {
        if (input.value.trim() === "") return ABSENT;
        const n = Number(input.value);
        return Number.isNaN(n) ? input.value : n;
      };
    } else if (type === "string" || type === "any" || type === "null") {
      const multiline = format === "template" || schema["x-multiline"] || (schema.maxLength || 0) > 200;
      input = el(multiline ? "textarea" : "input", {
        type: multiline ? null : "text", id, name: path, rows: multiline ? 2 : null,
        className: format === "template" ? "mono sf-template" : null, "data-format": format || null,
        placeholder: has(schema, "default") ? String(schema.default) : null, spellcheck: format === "template" ? "false" : null,
      });
      if (value !== ABSENT && value !== null) input.value = typeof value === "string" ? value : JSON.stringify(value);
      read = () => (input.value === "" ? ABSENT : input.value);
      if (format === "template") field.extra = templateButtons(input, ctx, () => markEdited());
    }

    function markEdited() {
      field.touched = true;
      ctx.changed();
    }
    input.addEventListener(input.tagName === "SELECT" || input.type === "checkbox" ? "change" : "input", markEdited);

    field.value = () => {
      if (!field.touched) return field.original;
      const current = read();
      // Edited back to the default it was absent with: leave it out again.
      if (field.original === ABSENT && has(schema, "default") && deepEqual(current, schema.default)) return ABSENT;
      return current;
    };
    field.input = input;
    return wrap(field, schema, path, label, ctx, input);
  }

  // Buttons that insert `{{ name }}` at the caret of a template field.
  function templateButtons(input, ctx, edited) {
    const names = ctx.options.templateNames || [];
    if (!names.length) return null;
    const bar = el("div", { className: "sf-template-names" }, [el("span", { className: "muted", text: "Insert: " })]);
    for (const name of names) {
      const button = el("button", { type: "button", className: "sf-chip", "data-insert": name, text: `{{ ${name} }}` });
      button.addEventListener("click", () => {
        const text = `{{ ${name} }}`;
        const start = input.selectionStart ?? input.value.length, end = input.selectionEnd ?? input.value.length;
        input.value = input.value.slice(0, start) + text + input.value.slice(end);
        input.focus();
        input.selectionStart = input.selectionEnd = start + text.length;
        edited();
      });
      bar.appendChild(button);
    }
    return bar;
  }

  // Anything the form cannot draw as fields (free-form objects, unknown shapes): JSON in a textarea.
  function jsonField(schema, value, path, label, ctx) {
    const field = { touched: false, original: value, children: () => [] };
    const id = pathId(ctx.options.idPrefix, path);
    const input = el("textarea", { id, name: path, rows: 3, className: "mono sf-json", spellcheck: "false" });
    if (value !== ABSENT) input.value = JSON.stringify(value, null, 2);
    const problem = el("div", { className: "sf-json-problem field-error", hidden: true });
    field.extra = problem;
    let last = value;
    input.addEventListener("input", () => {
      field.touched = true;
      if (input.value.trim() === "") {
        last = ABSENT;
        problem.hidden = true;
      } else {
        try {
          last = JSON.parse(input.value);
          problem.hidden = true;
        } catch (exc) {
          problem.textContent = `Not valid JSON yet: ${exc.message}`;
          problem.hidden = false;
          return;
        }
      }
      ctx.changed();
    });
    field.value = () => (field.touched ? clone(last) : field.original);
    return wrap(field, schema, path, label, ctx, input);
  }

  function objectField(schema, value, path, label, ctx, omit) {
    const given = value !== null && typeof value === "object" && !Array.isArray(value) ? value : ABSENT;
    const props = schema.properties || {};
    const required = schema.required || [];
    const fields = [];
    const body = el("div", { className: "sf-object-body" });
    for (const [key, sub] of Object.entries(props)) {
      if (omit && omit.includes(key)) continue;
      const child = build(sub, given ? given[key] : ABSENT, childPath(path, key), titleOf(resolve(sub, ctx.root), key), ctx, required.includes(key));
      fields.push([key, child]);
      body.appendChild(child.node);
    }
    // Keys the schema does not list (or the caller omits) are kept as they were; the server names them.
    const extras = {};
    if (given) for (const key of Object.keys(given)) if (!fields.some(([k]) => k === key)) extras[key] = given[key];

    const field = { children: () => fields };
    field.value = () => {
      const out = {};
      for (const [key, child] of fields) {
        const v = child.value();
        if (v !== ABSENT) out[key] = v;
      }
      Object.assign(out, clone(extras));
      if (given === ABSENT && !Object.keys(out).length) return value;
      return out;
    };
    field.errorBox = errorBox(path);
    const legend = label ? el("legend", { text: label }) : null;
    const help = schema.description && label ? el("div", { className: "sf-help muted", text: schema.description }) : null;
    field.node = el(path ? "fieldset" : "div", { className: "sf-object", "data-path": path }, [legend, help, field.errorBox, body]);
    return field;
  }

  function arrayField(schema, value, path, label, ctx) {
    const itemSchema = schema.items || {};
    const field = { original: value, touched: false };
    let rows = [];
    const list = el("ol", { className: "sf-rows", "data-rows-for": path });
    const addButton = el("button", { type: "button", className: "small sf-add", "data-action": "add", "data-path": path, text: `+ Add ${resolve(itemSchema, ctx.root).title || "row"}` });

    const draw = (values) => {
      list.textContent = "";
      rows = values.map((item, i) => {
        const rowPath = childPath(path, i);
        const child = build(itemSchema, item, rowPath, null, ctx, true);
        const controls = el("div", { className: "sf-row-controls" }, [
          el("span", { className: "sf-row-index muted", text: `#${i + 1}` }),
          rowButton("up", "↑", "Move up", i === 0, () => move(i, i - 1)),
          rowButton("down", "↓", "Move down", i === values.length - 1, () => move(i, i + 1)),
          rowButton("remove", "✕", "Remove", false, () => remove(i)),
        ]);
        list.appendChild(el("li", { className: "sf-row", "data-path": rowPath }, [controls, child.node]));
        return child;
      });
      const max = schema.maxItems;
      addButton.disabled = max !== undefined && rows.length >= max;
    };
    const rowButton = (action, text, title, disabled, handler) => {
      const b = el("button", { type: "button", className: "small sf-row-button", "data-action": action, title, "aria-label": title, text, disabled });
      b.addEventListener("click", handler);
      return b;
    };
    const current = () => rows.map((r) => r.value());
    const edit = (values) => {
      field.touched = true;
      draw(values);
      ctx.changed();
    };
    const move = (from, to) => {
      const values = current();
      const [item] = values.splice(from, 1);
      values.splice(to, 0, item);
      edit(values);
    };
    const remove = (i) => {
      const values = current();
      values.splice(i, 1);
      edit(values);
    };
    addButton.addEventListener("click", () => {
      edit([...current(), blankFor(itemSchema, ctx.root)]);
      const inputs = list.lastElementChild && list.lastElementChild.querySelector("input, select, textarea");
      if (inputs) inputs.focus();
    });
    draw(Array.isArray(value) ? value : []);

    field.children = () => rows.map((r, i) => [i, r]);
    field.value = () => {
      // Untouched and not drawn from an array (absent): still absent. Rows edited inside count as edits.
      const values = current();
      if (!field.touched && !Array.isArray(value)) return values.length ? values : value;
      return values.map((v) => (v === ABSENT ? null : v));
    };
    field.errorBox = errorBox(path);
    const legend = label ? el("legend", { text: label }) : null;
    const help = schema.description ? el("div", { className: "sf-help muted", text: schema.description }) : null;
    field.node = el("fieldset", { className: "sf-array", "data-path": path }, [legend, help, field.errorBox, list, addButton]);
    return field;
  }

  // oneOf / anyOf: a select of the alternatives by title, and the chosen one's field below it.
  function choiceField(schema, value, path, label, ctx, required) {
    const alternatives = schema.oneOf || schema.anyOf;
    const id = pathId(ctx.options.idPrefix, path) + "--choice";
    const field = { original: value, touched: false };
    const select = el("select", { id, className: "sf-alternative", "data-alternative-for": path });
    if (!required) {
      const defaultText = has(schema, "default") ? `(default: ${JSON.stringify(schema.default)})` : "—";
      select.appendChild(el("option", { value: "", text: defaultText }));
    }
    alternatives.forEach((alt, i) => select.appendChild(el("option", { value: String(i), text: alternativeLabel(alt, i, ctx.root) })));
    const slot = el("div", { className: "sf-alternative-body" });
    let inner = null;
    const show = (index, v) => {
      slot.textContent = "";
      inner = null;
      if (index === null) return;
      const alt = resolve(alternatives[index], ctx.root);
      if (has(alt, "const")) {
        inner = { value: () => clone(alt.const), children: () => [] };
      } else {
        inner = build(alt, v, path, null, ctx, true, { noErrorBox: true });
        slot.appendChild(inner.node);
      }
    };
    let chosen = value === ABSENT ? -1 : alternatives.findIndex((alt) => fits(alt, value, ctx.root));
    if (chosen < 0 && value !== ABSENT) chosen = 0;
    if (chosen < 0 && required) chosen = 0;
    select.value = chosen < 0 ? "" : String(chosen);
    show(chosen < 0 ? null : chosen, value);
    let shown = chosen < 0 ? null : chosen;
    select.addEventListener("change", () => {
      const index = select.value === "" ? null : Number(select.value);
      if (index === shown) return;
      shown = index;
      field.touched = true;
      show(index, index === null ? ABSENT : blankFor(alternatives[index], ctx.root));
      ctx.changed();
    });
    field.children = () => (inner && inner.children ? inner.children() : []);
    field.value = () => {
      if (!field.touched && inner === null) return value;
      return inner === null ? ABSENT : inner.value();
    };
    field.errorBox = errorBox(path);
    const labelEl = label ? el("label", { className: "sf-label", for: id, text: label }) : null;
    const help = schema.description ? el("div", { className: "sf-help muted", text: schema.description }) : null;
    field.node = el("div", { className: "sf-field sf-choice field", "data-path": path }, [labelEl, select, help, field.errorBox, slot]);
    return field;
  }

  function build(rawSchema, value, path, label, ctx, required, opts) {
    const schema = resolve(rawSchema, ctx.root);
    if (schema.oneOf || schema.anyOf) return choiceField(schema, value, path, label, ctx, required);
    const type = mainType(schema);
    // A value of another type than the schema's (a hand-edited config) is shown as JSON, untouched.
    if (value !== ABSENT && value !== null && !typeAccepts(typesOf(schema), value)) return jsonField(schema, value, path, label, ctx);
    if (type === "object") {
      if (schema.properties && Object.keys(schema.properties).length) return objectField(schema, value, path, label, ctx, opts && opts.omit);
      return jsonField(schema, value, path, label, ctx);
    }
    if (type === "array") {
      const items = resolve(schema.items || {}, ctx.root);
      if (Array.isArray(schema.items) || !typesOf(items).length && !items.oneOf && !items.anyOf) return jsonField(schema, value, path, label, ctx);
      return arrayField(schema, value, path, label, ctx);
    }
    if (["string", "integer", "number", "boolean"].includes(type) || schema.enum || has(schema, "const")) {
      if (has(schema, "const") && !schema.enum) return jsonField(schema, value, path, label, ctx);
      return leafField(schema, value, path, label, ctx, required);
    }
    return jsonField(schema, value, path, label, ctx);
  }

  // ---- the form ------------------------------------------------------------------------------------

  function parsePath(path) {
    // "nodes[0].agent" -> ["nodes", 0, "agent"]
    const parts = [];
    String(path).replace(/([^.[\]]+)|\[(\d+)\]/g, (_, key, index) => {
      parts.push(index !== undefined ? Number(index) : key);
      return "";
    });
    return parts;
  }

  function render(container, schema, value, options) {
    const ctx = new Context(schema || {}, Object.assign({ idPrefix: "sf" }, options || {}));
    let rootField = null;
    const topErrors = el("ul", { className: "sf-errors sf-form-errors field-error", "data-error-for": "", hidden: true });
    const form = {};
    ctx.form = form;

    function draw(v) {
      const focusedId = document.activeElement && container.contains(document.activeElement) ? document.activeElement.id : null;
      container.textContent = "";
      container.classList.add("sf-form");
      rootField = build(ctx.root, v === null ? ABSENT : clone(v), "", null, ctx, true, { omit: ctx.options.omit });
      container.appendChild(topErrors);
      container.appendChild(rootField.node);
      if (focusedId) {
        const again = document.getElementById(focusedId);
        if (again) again.focus();
      }
    }

    form.getValue = () => {
      const v = rootField.value();
      return v === ABSENT ? {} : clone(v);
    };
    form.setValue = (v) => {
      ctx.silent = true;
      draw(v === undefined ? {} : v);
      ctx.silent = false;
    };
    form.setOptions = (changes) => {
      const current = form.getValue();
      Object.assign(ctx.options, changes || {});
      form.setValue(current);
    };
    form.clearErrors = () => {
      for (const box of container.querySelectorAll(".sf-errors")) {
        box.textContent = "";
        box.hidden = true;
      }
      for (const node of container.querySelectorAll(".sf-invalid")) node.classList.remove("sf-invalid");
      for (const node of container.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
    };
    // Messages beside the field each path names; a path with no field of its own (a row, a key the form
    // does not draw) goes to the nearest field above it, naming the rest of the path.
    form.showErrors = (errors) => {
      form.clearErrors();
      for (const [path, messages] of Object.entries(errors || {})) {
        const parts = parsePath(path);
        let field = rootField;
        let depth = 0;
        for (const part of parts) {
          const next = (field.children ? field.children() : []).find(([key]) => key === part);
          if (!next) break;
          field = next[1];
          depth += 1;
        }
        const rest = parts.slice(depth);
        const box = field === rootField ? topErrors : field.errorBox;
        const prefix = rest.length ? `${rest.map((p) => (typeof p === "number" ? `[${p}]` : p)).join(".").replace(/\.\[/g, "[")}: ` : "";
        for (const message of [].concat(messages)) box.appendChild(el("li", { text: prefix + message }));
        box.hidden = false;
        if (field.node) field.node.classList.add("sf-invalid");
        if (field.input) field.input.setAttribute("aria-invalid", "true");
      }
    };
    form.element = container;

    draw(value === undefined ? {} : value);
    return form;
  }

  // resolve/fits/mainType are exposed for pages that walk a config along its schema (the designer finds
  // the members a config names with them).
  window.SchemaForm = { render, parsePath, deepEqual, resolve, fits, mainType };
})();
