// The swarm designer: a Cytoscape canvas, a palette, the strategy's config as a SchemaForm, an "Advanced:
// JSON" view, undo/redo, and Save/Run through the REST API.
//
// One state object is the truth ({name, description, strategy, members, config, layout}); every edit goes
// through commit(), which records undo history, redraws every view except the one the edit came from, and
// asks the server to validate (POST /api/swarms/validate/, debounced). No rule is checked here: even a
// drawn cycle is refused because the server's validation of the swarm with that edge names one.
(function () {
  "use strict";

  const dataEl = document.getElementById("designer-data");
  const root = document.getElementById("designer");
  if (!dataEl || !root) return;
  const DATA = JSON.parse(dataEl.textContent);
  const CSRF = root.dataset.csrf;
  const CATALOGUE = {};
  for (const entry of DATA.catalogue) CATALOGUE[entry.name] = entry;
  const PALETTE = DATA.palette;
  const $ = (id) => document.getElementById(id);
  const ROLE_COLOURS = ["#e67700", "#3b5bdb", "#2b8a3e", "#ae3ec9", "#c92a2a", "#0c8599", "#5f3dc4", "#d6336c"];
  const HEIST = "heist";

  const clone = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, val] of Object.entries(attrs || {})) {
      if (val === null || val === undefined || val === false) continue;
      if (key === "text") node.textContent = val;
      else if (key === "className") node.className = val;
      else node.setAttribute(key, val === true ? "" : String(val));
    }
    for (const child of children || []) if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    return node;
  }

  // ---- state ---------------------------------------------------------------------------------------

  const initial = DATA.swarm;
  let state = {
    name: initial ? initial.name : "",
    description: initial ? initial.description : "",
    strategy: initial ? initial.strategy : HEIST,
    members: initial ? initial.members : [],
    config: initial ? initial.strategy_config || {} : {},
    layout: normalLayout(initial && initial.layout),
  };
  let swarmId = initial ? initial.id : null;
  let version = initial ? initial.version : null;
  let savedBody = initial ? JSON.stringify(savable()) : null;
  const undoStack = [];
  const redoStack = [];
  let lastCoalesce = null;
  const configsByStrategy = {};
  let selected = null; // {kind: "node", index} | {kind: "member", name} | {kind: "edge", source, target}
  let errors = {}; // the last validation's field errors
  let validity = "unknown"; // unknown | checking | valid | invalid | error
  let validationTimer = null;
  let validationSeq = 0;
  let pendingValidation = null;

  function normalLayout(layout) {
    const l = layout && typeof layout === "object" ? clone(layout) : {};
    l.members = l.members && typeof l.members === "object" ? l.members : {};
    l.nodes = l.nodes && typeof l.nodes === "object" ? l.nodes : {};
    return l;
  }

  function isHeist(s) {
    return (s || state).strategy === HEIST;
  }

  function schemaOf(strategy) {
    const entry = CATALOGUE[strategy];
    return (entry && entry.config_schema) || { type: "object" };
  }

  function nodeSchema() {
    const schema = schemaOf(HEIST);
    const nodes = schema.properties && schema.properties.nodes;
    const items = nodes ? SchemaForm.resolve(nodes, schema).items : null;
    return items ? Object.assign({}, SchemaForm.resolve(items, schema), { $defs: schema.$defs }) : { type: "object" };
  }

  function nodes(s) {
    const list = (s || state).config.nodes;
    return Array.isArray(list) ? list : [];
  }

  function memberRefs(s) {
    return (s || state).members.map((m) => m.ref);
  }

  // The body of POST /api/swarms/ (and of the JSON view, without the layout).
  function savable() {
    return {
      name: state.name,
      description: state.description,
      strategy: state.strategy,
      members: memberRefs(),
      strategy_config: state.config,
    };
  }

  function dirty() {
    return savedBody === null || savedBody !== JSON.stringify(savable()) || !same(state.layout, savedLayout);
  }
  let savedLayout = clone(state.layout);

  function paletteEntry(nameOrRef) {
    return PALETTE.find((p) => p.name === nameOrRef || p.ref === nameOrRef);
  }

  function memberEntry(nameOrRef) {
    const known = paletteEntry(nameOrRef);
    if (known) return { kind: known.kind, ref: known.ref, name: known.name };
    const kind = String(nameOrRef).startsWith("swarm:") ? "swarm" : "agent";
    return { kind, ref: nameOrRef, name: nameOrRef };
  }

  // Every member name the config names, with where: found by walking the config along its schema (the
  // properties marked "format": "member"), so nothing here knows a strategy's keys.
  function memberUses(schema, value, path, rootSchema, out) {
    const s = SchemaForm.resolve(schema || {}, rootSchema);
    if (value === undefined || value === null) return out;
    const alternatives = s.oneOf || s.anyOf;
    if (alternatives) {
      const fit = alternatives.find((alt) => SchemaForm.fits(alt, value, rootSchema));
      return fit ? memberUses(fit, value, path, rootSchema, out) : out;
    }
    if (s.format === "member" && typeof value === "string") out.push({ name: value, path });
    else if (Array.isArray(value) && s.items) value.forEach((v, i) => memberUses(s.items, v, `${path}[${i}]`, rootSchema, out));
    else if (value && typeof value === "object" && s.properties) {
      for (const [key, sub] of Object.entries(s.properties)) {
        if (key in value) memberUses(sub, value[key], path ? `${path}.${key}` : key, rootSchema, out);
      }
    }
    return out;
  }

  function usesOf(s) {
    const schema = schemaOf(s.strategy);
    return memberUses(schema, s.config, "", schema, []);
  }

  // A member picked in a form (a fallback, the planner) joins the swarm; the palette says what it is.
  function addReferencedMembers(s) {
    const names = new Set(s.members.map((m) => m.name));
    for (const use of usesOf(s)) {
      if (!names.has(use.name) && paletteEntry(use.name)) {
        s.members.push(memberEntry(use.name));
        names.add(use.name);
      }
    }
  }

  // ---- commits, undo and redo ----------------------------------------------------------------------

  function commit(change, source, options) {
    const next = clone(state);
    change(next);
    addReferencedMembers(next);
    if (same(next, state)) return false;
    const coalesce = options && options.coalesce;
    if (!(coalesce && coalesce === lastCoalesce && undoStack.length)) undoStack.push(clone(state));
    if (undoStack.length > 200) undoStack.shift();
    lastCoalesce = coalesce || null;
    redoStack.length = 0;
    state = next;
    renderAll(source);
    scheduleValidation();
    return true;
  }

  function restore(from, to) {
    if (!from.length) return;
    to.push(clone(state));
    state = from.pop();
    lastCoalesce = null;
    selected = null;
    renderAll("history");
    scheduleValidation();
  }

  const undo = () => restore(undoStack, redoStack);
  const redo = () => restore(redoStack, undoStack);

  // ---- validation ----------------------------------------------------------------------------------

  async function api(method, url, body) {
    const response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": CSRF, Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let payload = null;
    try {
      payload = await response.json();
    } catch (exc) {
      payload = null;
    }
    return { status: response.status, ok: response.ok, payload };
  }

  function errorFields(payload) {
    const error = payload && payload.error;
    if (!error) return { "": ["The server answered without a message."] };
    const fields = Object.assign({}, error.fields || {});
    if (!Object.keys(fields).length) fields[""] = [error.message || "Invalid."];
    return fields;
  }

  function validationBody(s) {
    const body = {
      name: s.name,
      description: s.description,
      strategy: s.strategy,
      members: memberRefs(s),
      strategy_config: s.config,
      layout: s.layout,
    };
    if (swarmId) body.id = swarmId;
    return body;
  }

  async function validateOnce(s) {
    const result = await api("POST", DATA.urls.validate, validationBody(s));
    if (result.ok) return {};
    if (result.status === 400) return errorFields(result.payload);
    throw new Error(`The server could not check the swarm (HTTP ${result.status}).`);
  }

  // The API checks the fields (a name, ...) before the strategy, so an unnamed swarm would hear only
  // "name: required". It is asked twice then: as it is, and under a stand-in name for everything else.
  async function validate(s) {
    if (s.name.trim()) return validateOnce(s);
    const named = Object.assign(clone(s), { name: "untitled swarm" });
    const [asIs, rest] = await Promise.all([validateOnce(s), validateOnce(named)]);
    const merged = Object.assign({}, asIs);
    for (const [key, messages] of Object.entries(rest)) if (key !== "name" && !(key in merged)) merged[key] = messages;
    return merged;
  }

  function scheduleValidation() {
    validity = "checking";
    renderStatus();
    clearTimeout(validationTimer);
    let resolveIt;
    pendingValidation = new Promise((r) => (resolveIt = r));
    validationTimer = setTimeout(() => runValidation().then(resolveIt), 350);
  }

  async function runValidation() {
    const seq = ++validationSeq;
    const checked = clone(state);
    try {
      const found = await validate(checked);
      if (seq !== validationSeq) return;
      errors = found;
      validity = Object.keys(found).length ? "invalid" : "valid";
    } catch (exc) {
      if (seq !== validationSeq) return;
      errors = {};
      validity = "error";
      setStatus(exc.message, "bad");
    }
    showValidation();
  }

  // ---- errors on the page --------------------------------------------------------------------------

  // Errors on the config, by engine path (prefix "strategy_config." taken off).
  function configErrors() {
    const out = {};
    for (const [key, messages] of Object.entries(errors)) {
      if (key === "strategy_config") out[""] = messages;
      else if (key.startsWith("strategy_config.")) out[key.slice("strategy_config.".length)] = messages;
    }
    return out;
  }

  function nodeErrors(index) {
    const prefix = `nodes[${index}]`;
    const out = {};
    for (const [key, messages] of Object.entries(configErrors())) {
      if (key === prefix) out[""] = messages;
      else if (key.startsWith(prefix + ".")) out[key.slice(prefix.length + 1)] = messages;
    }
    return out;
  }

  function showValidation() {
    const config = configErrors();
    if (configForm) {
      const formErrors = {};
      for (const [key, messages] of Object.entries(config)) {
        if (isHeist() && (key === "nodes" || key.startsWith("nodes["))) continue;
        formErrors[key] = messages;
      }
      configForm.showErrors(formErrors);
    }
    if (nodeForm && selected && selected.kind === "node") nodeForm.showErrors(nodeErrors(selected.index));
    for (const box of document.querySelectorAll("[data-error-for-field]")) {
      const field = box.dataset.errorForField;
      box.textContent = "";
      for (const [key, messages] of Object.entries(errors)) {
        if (key === field || key.startsWith(field + "[") || key.startsWith(field + ".")) {
          for (const m of messages) box.appendChild(el("li", { text: key === field ? m : `${key}: ${m}` }));
        }
      }
    }
    // Every problem, listed under the canvas, so none hides in a closed panel.
    const list = $("designer-errors");
    list.textContent = "";
    for (const [key, messages] of Object.entries(errors)) {
      for (const m of messages) list.appendChild(el("li", { "data-error-key": key, text: key ? `${errorLabel(key)}: ${m}` : m }));
    }
    list.hidden = !list.children.length;
    markCanvasErrors();
    renderStatus();
  }

  // "strategy_config.nodes[1].input" -> "node parse: input"; "strategy_config.max_turns" -> "max_turns".
  function errorLabel(key) {
    const node = /^strategy_config\.nodes\[(\d+)\]\.?(.*)$/.exec(key);
    if (node && isHeist() && nodes()[Number(node[1])]) return `node ${nodes()[Number(node[1])].name}${node[2] ? ` > ${node[2]}` : ""}`;
    return key.replace(/^strategy_config\./, "");
  }

  function markCanvasErrors() {
    if (!cy) return;
    cy.nodes().removeClass("has-error");
    const config = configErrors();
    if (isHeist()) {
      nodes().forEach((n, i) => {
        if (Object.keys(nodeErrors(i)).length) cy.$id(`n${i}`).addClass("has-error");
      });
      const graph = config.nodes;
      showCanvasMessage(graph ? graph.join(" ") : null, "bad", "validation");
    } else {
      // A problem under a role's key marks the members playing that role.
      for (const key of Object.keys(config)) {
        const top = SchemaForm.parsePath(key)[0];
        for (const use of usesOf(state)) {
          if (SchemaForm.parsePath(use.path)[0] === top) cy.$id(`m:${use.name}`).addClass("has-error");
        }
      }
      for (const key of Object.keys(errors)) {
        const match = /^members\[(\d+)\]/.exec(key);
        if (match && state.members[Number(match[1])]) cy.$id(`m:${state.members[Number(match[1])].name}`).addClass("has-error");
      }
    }
  }

  let canvasMessageKind = null;
  function showCanvasMessage(text, tone, kind) {
    const box = $("designer-canvas-message");
    if (!text) {
      if (canvasMessageKind === kind) box.hidden = true;
      return;
    }
    canvasMessageKind = kind;
    box.textContent = text;
    box.className = `canvas-message ${tone || ""}`;
    box.hidden = false;
  }

  function setStatus(text, tone) {
    const status = $("designer-status");
    status.textContent = text;
    status.dataset.tone = tone || "";
  }

  function renderStatus() {
    const count = Object.values(errors).reduce((n, m) => n + m.length, 0);
    const save = $("designer-save");
    save.disabled = validity === "invalid" || saving || conflicted;
    root.dataset.validity = validity;
    if (saving || conflicted) return;
    if (validity === "checking") setStatus("Checking…", "");
    else if (validity === "invalid") setStatus(`${count} problem${count === 1 ? "" : "s"} to fix before saving.`, "bad");
    else if (validity === "valid") setStatus(dirty() ? "Valid: ready to save." : "Saved.", "ok");
  }

  // ---- canvas --------------------------------------------------------------------------------------

  let cy = null;
  let eh = null;
  const handle = el("div", { className: "edge-handle", id: "designer-edge-handle", title: "Drag to a node to make it depend on this one", hidden: true });
  let handleNode = null;

  // Each catalogue role with the members playing it: the uses of members under the role's key (a config
  // path such as "director", "workers" or "moderator.selector").
  function rolesOf(s) {
    const entry = CATALOGUE[s.strategy];
    const uses = usesOf(s);
    return ((entry && entry.roles) || []).map((role) => {
      const names = uses.filter((u) => u.path === role.key || u.path.startsWith(role.key + "[") || u.path.startsWith(role.key + ".")).map((u) => u.name);
      return { role: role.role, key: role.key, many: role.many, description: role.description, names: [...new Set(names)] };
    });
  }

  // The schema of the value at a dotted config path (through a oneOf's alternative that has the key).
  function schemaAt(schema, path) {
    let current = SchemaForm.resolve(schema, schema);
    for (const key of path.split(".")) {
      const alternatives = current.oneOf || current.anyOf || [current];
      const holder = alternatives.map((a) => SchemaForm.resolve(a, schema)).find((a) => a.properties && a.properties[key]);
      if (!holder) return null;
      current = SchemaForm.resolve(holder.properties[key], schema);
    }
    return current;
  }

  function getPath(obj, path) {
    return path.split(".").reduce((o, k) => (o && typeof o === "object" ? o[k] : undefined), obj);
  }

  function setPath(obj, path, value) {
    const keys = path.split(".");
    let o = obj;
    for (const k of keys.slice(0, -1)) {
      if (!o[k] || typeof o[k] !== "object" || Array.isArray(o[k])) o[k] = {};
      o = o[k];
    }
    o[keys[keys.length - 1]] = value;
  }

  // Deletes the key, and the objects above it that it leaves empty.
  function deletePath(obj, path) {
    const keys = path.split(".");
    const parents = [obj];
    for (const k of keys.slice(0, -1)) {
      const next = parents[parents.length - 1][k];
      if (!next || typeof next !== "object") return;
      parents.push(next);
    }
    delete parents[parents.length - 1][keys[keys.length - 1]];
    for (let i = parents.length - 1; i > 0; i--) {
      if (Object.keys(parents[i]).length) break;
      delete parents[i - 1][keys[i - 1]];
    }
  }

  // How a role is given from the canvas: "single" (a member), "many" (a list of members) or null (in the form).
  function roleKind(strategy, key) {
    const schema = schemaOf(strategy);
    const at = schemaAt(schema, key);
    if (!at) return null;
    if (at.format === "member") return "single";
    const items = at.items ? SchemaForm.resolve(at.items, schema) : null;
    return items && items.format === "member" ? "many" : null;
  }

  function nodeLabel(n) {
    return `${n.name || "(unnamed)"}\n${n.agent || "no agent"}${(n.fallbacks || []).length ? ` ⤷ ${n.fallbacks.join(", ")}` : ""}`;
  }

  function elements() {
    const out = [];
    if (isHeist()) {
      const list = nodes();
      const ids = {};
      list.forEach((n, i) => {
        ids[n.name] = `n${i}`;
        const retry = n.retry && n.retry.attempts ? ` ↻${n.retry.attempts}` : "";
        out.push({ group: "nodes", data: { id: `n${i}`, name: n.name, kind: "node", label: nodeLabel(n) + retry }, position: clone(state.layout.nodes[n.name]) });
      });
      list.forEach((n, i) => {
        for (const dep of Array.isArray(n.depends_on) ? n.depends_on : []) {
          if (ids[dep]) out.push({ group: "edges", data: { id: `e:${dep}->${n.name}`, source: ids[dep], target: `n${i}`, dep, node: n.name } });
        }
      });
    } else {
      const roles = rolesOf(state);
      state.members.forEach((m) => {
        const held = roles.filter((r) => r.names.includes(m.name));
        const badges = held.map((r) => r.role).join(", ");
        const colourIndex = held.length ? roles.indexOf(held[0]) : -1;
        out.push({
          group: "nodes",
          data: {
            id: `m:${m.name}`, name: m.name, kind: "member", label: badges ? `${m.name}\n[${badges}]` : m.name,
            colour: colourIndex >= 0 ? ROLE_COLOURS[colourIndex % ROLE_COLOURS.length] : "#868e96", roles: badges,
          },
          classes: m.kind === "swarm" ? "swarm" : "",
          position: clone(state.layout.members[m.name]),
        });
      });
      // The hierarchy the roles make: each one-member role (a director, a generator, a judge) over the
      // members of the many-member roles (its workers, critics, contenders). Drawn, not editable.
      const present = new Set(state.members.map((m) => m.name));
      for (const lead of roles.filter((r) => !r.many)) {
        for (const crowd of roles.filter((r) => r.many)) {
          for (const from of lead.names) {
            for (const to of crowd.names) {
              if (from !== to && present.has(from) && present.has(to)) {
                out.push({ group: "edges", data: { id: `r:${lead.role}:${from}->${to}`, source: `m:${from}`, target: `m:${to}` }, classes: "role-edge", selectable: false });
              }
            }
          }
        }
      }
    }
    return out;
  }

  function initCanvas() {
    if (typeof cytoscape === "undefined") return;
    const container = $("designer-canvas");
    cy = cytoscape({
      container,
      minZoom: 0.2,
      maxZoom: 2.5,
      boxSelectionEnabled: false,
      style: [
        { selector: "node", style: {
          label: "data(label)", "text-wrap": "wrap", "text-valign": "center", "text-halign": "center", "font-size": 11,
          color: "#1d2330", width: 130, height: 46, shape: "round-rectangle", "background-color": "#edf2ff",
          "border-width": 2, "border-color": "#748ffc",
        } },
        { selector: "node[kind = 'member']", style: { "background-color": "data(colour)", color: "#fff", "border-color": "#343a40", "text-outline-width": 0 } },
        { selector: "node.swarm", style: { shape: "barrel" } },
        { selector: "node:selected", style: { "border-width": 4, "border-color": "#1d2330" } },
        { selector: "node.has-error", style: { "border-color": "#e03131", "border-width": 4, "border-style": "dashed" } },
        { selector: "edge", style: { width: 2, "line-color": "#adb5bd", "target-arrow-color": "#adb5bd", "target-arrow-shape": "triangle", "curve-style": "bezier" } },
        { selector: "edge.role-edge", style: { "line-style": "dashed", "line-color": "#ced4da", "target-arrow-color": "#ced4da", events: "no" } },
        { selector: "edge:selected", style: { "line-color": "#1d2330", "target-arrow-color": "#1d2330", width: 4 } },
        { selector: ".eh-preview, .eh-ghost-edge", style: { "line-color": "#4c6ef5", "target-arrow-color": "#4c6ef5", "line-style": "dashed" } },
        { selector: ".eh-ghost-edge.eh-preview-active", style: { opacity: 0 } },
        { selector: ".eh-ghost-node", style: { width: 1, height: 1, opacity: 0 } },
        { selector: ".eh-target", style: { "border-color": "#4c6ef5", "border-width": 4 } },
      ],
    });
    container.parentNode.appendChild(handle);
    // Cytoscape caches where its container is; panels opening beside it (or a scrollbar appearing) move
    // or resize it without a window resize, and clicks would land beside the nodes.
    if (typeof ResizeObserver !== "undefined") {
      const observer = new ResizeObserver(() => cy.resize());
      observer.observe(container);
      observer.observe(document.body); // content above the canvas (the gallery folding) moves it
    }
    window.addEventListener("scroll", () => cy.resize(), { passive: true });
    if (typeof cy.edgehandles === "function") {
      eh = cy.edgehandles({
        canConnect: (source, target) => isHeist() && !source.same(target) && target.data("kind") === "node",
        edgeParams: () => ({ data: { drawn: true } }),
        hoverDelay: 0,
        snap: false,
      });
      cy.on("ehcomplete", (event, source, target, added) => {
        added.remove();
        proposeDependency(source.data("name"), target.data("name"));
      });
      cy.on("ehstop", () => hideHandle());
      handle.addEventListener("mousedown", (event) => {
        if (!handleNode) return;
        event.preventDefault();
        eh.start(handleNode);
        // The press began on the handle, outside Cytoscape, so Cytoscape sends no tapend: end it here.
        document.addEventListener("mouseup", () => eh.stop(), { once: true });
      });
    }
    cy.on("mouseover", "node[kind = 'node']", (event) => showHandle(event.target));
    cy.on("pan zoom drag", () => (handleNode ? placeHandle() : null));
    cy.on("dragfree", "node", (event) => {
      const node = event.target;
      const pos = { x: Math.round(node.position("x")), y: Math.round(node.position("y")) };
      commit((s) => {
        const table = node.data("kind") === "node" ? s.layout.nodes : s.layout.members;
        table[node.data("name")] = pos;
      }, "canvas");
    });
    cy.on("select", "node, edge", (event) => {
      const t = event.target;
      if (t.isEdge()) selected = { kind: "edge", source: t.data("dep"), target: t.data("node") };
      else if (t.data("kind") === "node") {
        selected = { kind: "node", index: Number(t.id().slice(1)) };
        showHandle(t);
      }
      else selected = { kind: "member", name: t.data("name") };
      renderSelection();
    });
    cy.on("tap", (event) => {
      if (event.target === cy) {
        selected = null;
        renderSelection();
      }
    });
  }

  function showHandle(node) {
    if (eh && eh.active) return;
    handleNode = node;
    placeHandle();
  }

  function placeHandle() {
    if (!handleNode || !handleNode.inside()) return hideHandle();
    const box = handleNode.renderedBoundingBox({ includeLabels: false });
    handle.style.left = `${box.x2 - 7}px`;
    handle.style.top = `${(box.y1 + box.y2) / 2 - 7}px`;
    handle.dataset.node = handleNode.data("name");
    handle.hidden = false;
  }

  function hideHandle() {
    if (eh && eh.active) return;
    handle.hidden = true;
    handleNode = null;
  }

  function renderCanvas() {
    if (!cy) return;
    const els = elements();
    let missing = false;
    cy.batch(() => {
      cy.elements().remove();
      cy.add(els);
    });
    const unplaced = cy.nodes().filter((n) => !els.find((e) => e.data.id === n.id()).position);
    if (unplaced.length && unplaced.length === cy.nodes().length) arrange(false);
    else {
      // A few without a place (typed in the JSON view, renamed): beside the others.
      unplaced.forEach((n) => {
        const others = cy.nodes().difference(unplaced);
        const box = others.boundingBox();
        const pos = { x: Math.round(box.x2 + 90), y: Math.round((box.y1 + box.y2) / 2 + 60 * unplaced.indexOf(n)) };
        n.position(pos);
        (n.data("kind") === "node" ? state.layout.nodes : state.layout.members)[n.data("name")] = pos;
      });
    }
    if (selected) {
      const id = selectionId();
      if (id && cy.$id(id).nonempty()) cy.$id(id).select();
    }
    hideHandle();
    // The selected node keeps its handle: hovering is not the only way to find it (touch has none).
    if (selected && selected.kind === "node" && cy.$id(`n${selected.index}`).nonempty()) showHandle(cy.$id(`n${selected.index}`));
    markCanvasErrors();
    renderHint();
    $("designer-canvas-hint").hidden = false;
  }

  function selectionId() {
    if (!selected) return null;
    if (selected.kind === "node") return `n${selected.index}`;
    if (selected.kind === "member") return `m:${selected.name}`;
    return `e:${selected.source}->${selected.target}`;
  }

  function renderHint() {
    const hint = $("designer-canvas-hint");
    hint.textContent = "";
    if (isHeist()) {
      hint.appendChild(document.createTextNode(nodes().length
        ? "Drag from a node's handle (●) to another node: the second then depends on the first."
        : "Drag an agent here to make a workflow node."));
      if (state.config.planner) hint.appendChild(el("span", { className: "role-chip", text: `planner: ${state.config.planner}` }));
      return;
    }
    if (!state.members.length) hint.textContent = "Drag agents or swarms here to make them members.";
    rolesOf(state).forEach((r, i) => {
      const chip = el("span", { className: "role-chip", "data-role": r.role, text: `${r.role}: ${r.names.join(", ") || "—"}` });
      chip.style.borderColor = ROLE_COLOURS[i % ROLE_COLOURS.length];
      hint.appendChild(chip);
    });
  }

  // Positions for everything (auto-layout); ``record`` makes it an undoable edit.
  function arrange(record) {
    if (!cy || !cy.nodes().length) return;
    const heist = isHeist();
    const layout = cy.layout(heist || cy.edges().length
      ? { name: "dagre", rankDir: heist ? "LR" : "TB", nodeSep: 40, rankSep: heist ? 90 : 70, fit: false }
      : { name: "grid", fit: false, avoidOverlap: true, condense: true, spacingFactor: 1.3 });
    layout.run();
    const positions = {};
    cy.nodes().forEach((n) => (positions[n.data("name")] = { x: Math.round(n.position("x")), y: Math.round(n.position("y")) }));
    const apply = (s) => {
      const table = heist ? s.layout.nodes : s.layout.members;
      Object.assign(table, positions);
    };
    if (record) commit(apply, "canvas");
    else apply(state);
    cy.fit(undefined, 40);
    if (cy.zoom() > 1.2) {
      cy.zoom(1.2);
      cy.center();
    }
  }

  // A drawn edge: the target comes to depend on the source, if the server finds no cycle in the result.
  async function proposeDependency(source, target) {
    const index = nodes().findIndex((n) => n.name === target);
    if (index < 0) return;
    const deps = Array.isArray(nodes()[index].depends_on) ? nodes()[index].depends_on : [];
    if (deps.includes(source)) {
      showCanvasMessage(`${target} already depends on ${source}.`, "", "edge");
      return;
    }
    const candidate = clone(state);
    candidate.config.nodes[index].depends_on = [...deps, source];
    showCanvasMessage(`Checking ${source} → ${target}…`, "", "edge");
    let found;
    try {
      found = await validate(candidate);
    } catch (exc) {
      showCanvasMessage(`Not added: ${exc.message}`, "bad", "edge");
      return;
    }
    const graphErrors = (found["strategy_config.nodes"] || []).filter((m) => /cycle/i.test(m));
    if (graphErrors.length) {
      showCanvasMessage(`Refused ${source} → ${target}: ${graphErrors.join(" ")}`, "bad", "edge");
      root.dataset.lastRefusal = graphErrors.join(" ");
      return;
    }
    showCanvasMessage(null, "", "edge");
    commit((s) => {
      const node = s.config.nodes.find((n) => n.name === target);
      if (node) node.depends_on = [...(Array.isArray(node.depends_on) ? node.depends_on : []), source];
    }, "canvas");
  }

  function uniqueNodeName(base) {
    const names = new Set(nodes().map((n) => n.name));
    const clean = String(base).replace(/[^A-Za-z0-9_.-]+/g, "-").replace(/^[^A-Za-z0-9]+/, "") || "node";
    if (!names.has(clean)) return clean;
    for (let i = 2; ; i++) if (!names.has(`${clean}-${i}`)) return `${clean}-${i}`;
  }

  // A palette item placed on the canvas: a workflow node (HEIST) or a member (the others).
  function place(entry, position) {
    const pos = position || freePosition();
    if (isHeist()) {
      const name = uniqueNodeName(entry.name);
      commit((s) => {
        s.config.nodes = [...(Array.isArray(s.config.nodes) ? s.config.nodes : []), { name, agent: entry.name }];
        if (!s.members.some((m) => m.name === entry.name)) s.members.push(memberEntry(entry.ref));
        s.layout.nodes[name] = pos;
      }, "canvas");
      selected = { kind: "node", index: nodes().length - 1 };
    } else {
      commit((s) => {
        if (!s.members.some((m) => m.name === entry.name)) s.members.push(memberEntry(entry.ref));
        s.layout.members[entry.name] = pos;
      }, "canvas");
      selected = { kind: "member", name: entry.name };
    }
    renderCanvas();
    renderSelection();
  }

  function freePosition() {
    if (!cy || !cy.nodes().length) return { x: 100, y: 100 };
    const box = cy.nodes().boundingBox();
    return { x: Math.round(box.x2 + 90), y: Math.round((box.y1 + box.y2) / 2) };
  }

  function deleteSelection() {
    if (!selected) return;
    const sel = selected;
    if (sel.kind === "node") {
      commit((s) => {
        const gone = s.config.nodes[sel.index];
        if (!gone) return;
        s.config.nodes.splice(sel.index, 1);
        for (const n of s.config.nodes) {
          if (Array.isArray(n.depends_on)) {
            n.depends_on = n.depends_on.filter((d) => d !== gone.name);
            if (!n.depends_on.length) delete n.depends_on;
          }
        }
        delete s.layout.nodes[gone.name];
      }, "canvas");
    } else if (sel.kind === "edge") {
      commit((s) => {
        const node = s.config.nodes.find((n) => n.name === sel.target);
        if (!node || !Array.isArray(node.depends_on)) return;
        node.depends_on = node.depends_on.filter((d) => d !== sel.source);
        if (!node.depends_on.length) delete node.depends_on;
      }, "canvas");
    } else if (sel.kind === "member") {
      if (!removeMember(sel.name)) return;
    }
    selected = null;
    renderCanvas();
    renderSelection();
  }

  // A member the config still names is not removed (the message says where), except where it only plays
  // a role given from the canvas (a director, one of the workers): that role goes with it.
  function removeMember(name) {
    const uses = usesOf(state).filter((u) => u.name === name);
    const under = (u, key) => u.path === key || (u.path.startsWith(key) && /^\[\d+\]$/.test(u.path.slice(key.length)));
    const simple = (u) => rolesOf(state).some((r) => roleKind(state.strategy, r.key) && under(u, r.key));
    const blocking = uses.filter((u) => !simple(u));
    if (blocking.length) {
      showCanvasMessage(`${name} is still used in the configuration (${blocking.map((u) => u.path).join(", ")}); change that first.`, "bad", "member");
      return false;
    }
    commit((s) => {
      s.members = s.members.filter((m) => m.name !== name);
      delete s.layout.members[name];
      for (const role of rolesOf(s)) {
        const value = getPath(s.config, role.key);
        if (value === name) deletePath(s.config, role.key);
        else if (Array.isArray(value) && value.includes(name)) {
          const rest = value.filter((v) => v !== name);
          if (rest.length) setPath(s.config, role.key, rest);
          else deletePath(s.config, role.key);
        }
      }
    }, "canvas");
    return true;
  }

  // ---- palette (pointer drags, so mouse, pen and touch all work) ------------------------------------

  function renderPalette() {
    const list = $("designer-palette-list");
    const filter = $("designer-palette-filter").value.trim().toLowerCase();
    list.textContent = "";
    if (!PALETTE.length) list.appendChild(el("li", { className: "muted", text: "No agents yet." }));
    for (const entry of PALETTE) {
      if (filter && !entry.name.toLowerCase().includes(filter)) continue;
      const inSwarm = state.members.some((m) => m.name === entry.name);
      const add = el("button", { type: "button", className: "small secondary", "data-action": "add", title: `Add ${entry.name}`, "aria-label": `Add ${entry.name}`, text: "+" });
      add.addEventListener("click", () => place(entry, null));
      const item = el("li", { className: `palette-item ${entry.kind}${inSwarm ? " in-swarm" : ""}`, "data-member": entry.name, "data-testid": `palette-${entry.name}` }, [
        el("span", { className: "palette-name", text: entry.name }),
        el("span", { className: "palette-label muted", text: entry.label }),
        add,
      ]);
      item.addEventListener("pointerdown", (event) => startPaletteDrag(event, entry, item));
      list.appendChild(item);
    }
  }

  function startPaletteDrag(event, entry, item) {
    if (event.button !== 0 || event.target.closest("button")) return;
    event.preventDefault();
    const ghost = el("div", { className: "palette-ghost", text: entry.name });
    document.body.appendChild(ghost);
    const move = (e) => {
      ghost.style.left = `${e.clientX + 6}px`;
      ghost.style.top = `${e.clientY + 6}px`;
    };
    move(event);
    const up = (e) => {
      document.removeEventListener("pointermove", move);
      document.removeEventListener("pointerup", up);
      ghost.remove();
      const canvas = $("designer-canvas");
      const box = canvas.getBoundingClientRect();
      if (e.clientX < box.left || e.clientX > box.right || e.clientY < box.top || e.clientY > box.bottom || !cy) return;
      const pan = cy.pan(), zoom = cy.zoom();
      const position = { x: Math.round((e.clientX - box.left - pan.x) / zoom), y: Math.round((e.clientY - box.top - pan.y) / zoom) };
      place(entry, position);
    };
    document.addEventListener("pointermove", move);
    document.addEventListener("pointerup", up);
  }

  // ---- the side panels -----------------------------------------------------------------------------

  let configForm = null;
  let configFormStrategy = null;
  let nodeForm = null;

  function memberChoices() {
    const names = state.members.map((m) => m.name);
    for (const p of PALETTE) if (!names.includes(p.name)) names.push(p.name);
    return names;
  }

  function renderConfigForm(source) {
    const schema = schemaOf(state.strategy);
    const options = {
      members: memberChoices(),
      nodes: nodes().map((n) => n.name),
      trainingRuns: DATA.trainingRuns,
      templateNames: ["task"],
      idPrefix: "cfg",
    };
    const container = $("designer-config-form");
    if (!configForm || configFormStrategy !== state.strategy) {
      configFormStrategy = state.strategy;
      configForm = SchemaForm.render(container, schema, state.config, Object.assign(options, {
        omit: isHeist() ? ["nodes"] : [],
        onChange: (value) => commit((s) => {
          const keptNodes = s.config.nodes;
          s.config = value;
          if (isHeist(s)) {
            if (keptNodes !== undefined) s.config.nodes = keptNodes;
            else delete s.config.nodes;
          }
        }, "form", { coalesce: "form" }),
      }));
    } else if (source !== "form") {
      configForm.setOptions(options);
      configForm.setValue(state.config);
    }
    $("designer-config-hint").textContent = isHeist()
      ? "Nodes and their dependencies are drawn on the canvas; select a node for its settings."
      : (CATALOGUE[state.strategy] || {}).roles && CATALOGUE[state.strategy].roles.length
        ? "Roles can also be given from the canvas: select a member."
        : "";
  }

  function ancestors(name) {
    const byName = {};
    for (const n of nodes()) byName[n.name] = n;
    const seen = [];
    const visit = (n) => {
      for (const dep of (byName[n] && Array.isArray(byName[n].depends_on) ? byName[n].depends_on : [])) {
        if (!seen.includes(dep) && dep !== name) {
          seen.push(dep);
          visit(dep);
        }
      }
    };
    visit(name);
    return seen;
  }

  function renderSelection(source) {
    const panel = $("designer-selection");
    const body = $("designer-selection-body");
    const title = $("designer-selection-title");
    if (source === "panel") return;
    nodeForm = null;
    body.textContent = "";
    if (!selected) {
      panel.hidden = true;
      return;
    }
    panel.hidden = false;
    if (selected.kind === "node") {
      const index = selected.index;
      const node = nodes()[index];
      if (!node) {
        selected = null;
        panel.hidden = true;
        return;
      }
      title.textContent = `Node ${node.name || ""}`;
      const formEl = el("form", { id: "designer-node-form", onsubmit: "return false" });
      body.appendChild(formEl);
      nodeForm = SchemaForm.render(formEl, nodeSchema(), node, {
        members: memberChoices(),
        nodes: nodes().map((n) => n.name).filter((n) => n !== node.name),
        templateNames: ["task", ...ancestors(node.name).map((n) => `outputs.${n}`)],
        idPrefix: "node",
        onChange: (value) => commit((s) => {
          const old = s.config.nodes[index];
          s.config.nodes[index] = value;
          if (old && value.name !== old.name) renameNode(s, old.name, value.name, index);
        }, "panel", { coalesce: `panel:${index}` }),
      });
      nodeForm.showErrors(nodeErrors(index));
      body.appendChild(deleteButton("Delete node"));
    } else if (selected.kind === "member") {
      renderMemberPanel(title, body);
    } else {
      title.textContent = "Dependency";
      body.appendChild(el("p", { text: `${selected.target} runs after ${selected.source} (and gets {{ outputs.${selected.source} }}).` }));
      body.appendChild(deleteButton("Delete dependency"));
    }
  }

  function deleteButton(text) {
    const button = el("button", { type: "button", className: "small danger", id: "designer-delete-selection", text });
    button.addEventListener("click", deleteSelection);
    return button;
  }

  // A renamed node keeps its dependants and its place on the canvas (read from the drawing, so a name
  // typed letter by letter, or cleared on the way, keeps it too).
  function renameNode(s, from, to, index) {
    for (const n of s.config.nodes) {
      if (from && to && Array.isArray(n.depends_on)) n.depends_on = n.depends_on.map((d) => (d === from ? to : d));
    }
    const drawn = cy && cy.$id(`n${index}`);
    const pos = drawn && drawn.nonempty() ? { x: Math.round(drawn.position("x")), y: Math.round(drawn.position("y")) } : s.layout.nodes[from];
    if (from) delete s.layout.nodes[from];
    if (to && pos) s.layout.nodes[to] = pos;
  }

  // A member's roles, given from the canvas where the role is a plain member (or list of members).
  function renderMemberPanel(title, body) {
    const name = selected.name;
    const member = state.members.find((m) => m.name === name);
    if (!member) {
      selected = null;
      $("designer-selection").hidden = true;
      return;
    }
    title.textContent = name;
    const entry = paletteEntry(name);
    body.appendChild(el("p", { className: "muted", text: entry ? entry.label : member.kind }));
    const roles = rolesOf(state);
    if (roles.length) body.appendChild(el("h3", { text: "Roles" }));
    for (const role of roles) {
      const kind = roleKind(state.strategy, role.key);
      const holds = role.names.includes(name);
      const id = `designer-role-${role.role}`;
      if (kind) {
        const box = el("input", { type: "checkbox", id, "data-role": role.role });
        box.checked = holds;
        box.addEventListener("change", () => commit((s) => {
          if (kind === "single") {
            if (box.checked) setPath(s.config, role.key, name);
            else if (getPath(s.config, role.key) === name) deletePath(s.config, role.key);
          } else {
            const current = getPath(s.config, role.key);
            const list = Array.isArray(current) ? current.filter((v) => v !== name) : [];
            if (box.checked) list.push(name);
            if (list.length) setPath(s.config, role.key, list);
            else deletePath(s.config, role.key);
          }
        }, "member"));
        body.appendChild(el("div", { className: "role-toggle" }, [box, el("label", { for: id, text: ` ${role.role}` }), el("div", { className: "muted small", text: role.description || "" })]));
      } else {
        body.appendChild(el("div", { className: "role-toggle" }, [
          el("strong", { text: `${role.role}: ` }), document.createTextNode(holds ? "yes" : "no"),
          el("div", { className: "muted small", text: `${role.description || ""} Set it in Configuration.` }),
        ]));
      }
    }
    body.appendChild(deleteButton("Remove from swarm"));
  }

  function renderMembers() {
    const list = $("designer-members");
    list.textContent = "";
    if (!state.members.length) list.appendChild(el("li", { className: "muted", text: "None yet: drag from the palette." }));
    state.members.forEach((m, i) => {
      const move = (to) => commit((s) => {
        const [item] = s.members.splice(i, 1);
        s.members.splice(to, 0, item);
      }, "members");
      const up = el("button", { type: "button", className: "small secondary", title: "Move up", "aria-label": `Move ${m.name} up`, text: "↑", disabled: i === 0 });
      const down = el("button", { type: "button", className: "small secondary", title: "Move down", "aria-label": `Move ${m.name} down`, text: "↓", disabled: i === state.members.length - 1 });
      const remove = el("button", { type: "button", className: "small secondary", title: "Remove", "aria-label": `Remove ${m.name}`, text: "✕" });
      up.addEventListener("click", () => move(i - 1));
      down.addEventListener("click", () => move(i + 1));
      remove.addEventListener("click", () => {
        if (removeMember(m.name) && selected && selected.name === m.name) {
          selected = null;
          renderSelection();
        }
      });
      list.appendChild(el("li", { "data-member": m.name }, [el("span", { className: "member-name", text: m.name }), el("span", { className: "muted small", text: m.kind === "swarm" ? " swarm" : "" }), up, down, remove]));
    });
  }

  function renderJson(source) {
    if (source === "json") return;
    $("designer-json").value = JSON.stringify(savable(), null, 2);
    $("designer-json-problem").hidden = true;
  }

  function renderStrategy() {
    const select = $("designer-strategy");
    if (!select.options.length) {
      for (const entry of DATA.catalogue) select.appendChild(el("option", { value: entry.name, text: entry.label }));
    }
    select.value = state.strategy;
    const entry = CATALOGUE[state.strategy];
    $("designer-strategy-description").textContent = entry ? entry.description : "";
    root.dataset.strategy = state.strategy;
  }

  function renderAll(source) {
    renderAllViews(source);
    // The panels may have moved the canvas (see initCanvas).
    if (cy) cy.resize();
  }

  function renderAllViews(source) {
    if (source !== "meta") {
      $("designer-name").value = state.name;
      $("designer-description").value = state.description;
    }
    renderStrategy();
    renderMembers();
    renderPalette();
    if (source !== "canvas-only") renderCanvas();
    renderConfigForm(source);
    renderSelection(source);
    renderJson(source);
    $("designer-undo").disabled = !undoStack.length;
    $("designer-redo").disabled = !redoStack.length;
    renderStatus();
  }

  // ---- save and run --------------------------------------------------------------------------------

  let saving = false;
  let saves = 0; // saves made on this page (for tests and tooling)
  // Set when a save was refused because someone else saved first: the page must be reloaded.
  let conflicted = false;

  async function save() {
    if (saving) return false;
    clearTimeout(validationTimer);
    await runValidation();
    if (validity !== "valid") {
      setStatus(validity === "invalid" ? "Not saved: fix the problems listed first." : "Not saved: the swarm could not be checked.", "bad");
      return false;
    }
    saving = true;
    renderStatus();
    setStatus("Saving…", "");
    const body = Object.assign(savable(), { layout: state.layout });
    let result;
    try {
      if (swarmId) result = await api("PATCH", `${DATA.urls.swarms}${swarmId}/`, Object.assign(body, { version }));
      else result = await api("POST", DATA.urls.swarms, body);
    } catch (exc) {
      saving = false;
      setStatus(`Not saved: ${exc.message}`, "bad");
      return false;
    }
    saving = false;
    if (result.status === 409) {
      conflicted = true;
      const status = $("designer-status");
      status.textContent = "Someone else saved this swarm since you opened it; nothing was overwritten. ";
      status.appendChild(el("a", { href: window.location.href, id: "designer-reload", text: "Reload to see their version" }));
      status.dataset.tone = "conflict";
      renderStatus();
      return false;
    }
    if (!result.ok) {
      errors = result.status === 400 ? errorFields(result.payload) : { "": [`Not saved (HTTP ${result.status}).`] };
      validity = "invalid";
      showValidation();
      setStatus("Not saved: fix the problems listed.", "bad");
      return false;
    }
    saves += 1;
    swarmId = result.payload.id;
    version = result.payload.version === undefined ? version : result.payload.version;
    savedBody = JSON.stringify(savable());
    savedLayout = clone(state.layout);
    root.dataset.swarmId = swarmId;
    const url = DATA.urls.design.replace("{id}", swarmId);
    if (window.location.pathname !== url) {
      // The new swarm's page is now its design page (a reload finds it there).
      window.history.replaceState(null, "", url);
      const heading = document.querySelector(".designer-head h1");
      if (heading) heading.textContent = `Design ${state.name}`;
      document.title = `Design ${state.name} · SwarmWeb`;
    }
    renderStatus();
    setStatus("Saved.", "ok");
    return true;
  }

  function openRunDialog() {
    const dialog = $("designer-run-dialog");
    $("designer-run-note").textContent = dirty() ? "Your changes are saved first." : "";
    $("designer-run-problem").hidden = true;
    for (const box of dialog.querySelectorAll("[data-run-error]")) box.textContent = "";
    if (typeof dialog.showModal === "function") dialog.showModal();
    else dialog.setAttribute("open", "");
    $("designer-run-task").focus();
  }

  async function startRun(event) {
    event.preventDefault();
    const problem = $("designer-run-problem");
    const dialog = $("designer-run-dialog");
    for (const box of dialog.querySelectorAll("[data-run-error]")) box.textContent = "";
    problem.hidden = true;
    if (dirty() || !swarmId) {
      if (!(await save())) {
        problem.textContent = "The swarm could not be saved: see the problems on the page.";
        problem.hidden = false;
        return;
      }
    }
    const body = { swarm: swarmId, task: $("designer-run-task").value };
    for (const [key, id] of [["max_steps", "designer-run-max-steps"], ["max_cost", "designer-run-max-cost"], ["max_seconds", "designer-run-max-seconds"]]) {
      const value = $(id).value.trim();
      if (value !== "") body[key] = key === "max_cost" ? value : Number(value);
    }
    $("designer-run-start").disabled = true;
    const result = await api("POST", DATA.urls.runs, body);
    $("designer-run-start").disabled = false;
    if (result.ok && result.payload && result.payload.id) {
      window.location.href = DATA.urls.run.replace("{id}", result.payload.id);
      return;
    }
    const fields = result.status === 400 || result.status === 403 ? errorFields(result.payload) : { "": [`The run did not start (HTTP ${result.status}).`] };
    const general = [];
    for (const [key, messages] of Object.entries(fields)) {
      const box = dialog.querySelector(`[data-run-error="${key}"]`);
      if (box) for (const m of messages) box.appendChild(el("li", { text: m }));
      else general.push(...messages.map((m) => (key ? `${key}: ${m}` : m)));
    }
    if (general.length) {
      problem.textContent = general.join(" ");
      problem.hidden = false;
    }
  }

  // ---- wiring --------------------------------------------------------------------------------------

  function editingText(target) {
    return target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  }

  function wire() {
    $("designer-name").addEventListener("input", (e) => commit((s) => (s.name = e.target.value), "meta", { coalesce: "name" }));
    $("designer-description").addEventListener("input", (e) => commit((s) => (s.description = e.target.value), "meta", { coalesce: "description" }));
    $("designer-strategy").addEventListener("change", (e) => {
      const next = e.target.value;
      configsByStrategy[state.strategy] = clone(state.config);
      selected = null;
      commit((s) => {
        s.strategy = next;
        s.config = clone(configsByStrategy[next]) || {};
      }, "strategy");
    });
    $("designer-palette-filter").addEventListener("input", renderPalette);
    $("designer-undo").addEventListener("click", undo);
    $("designer-redo").addEventListener("click", redo);
    $("designer-layout").addEventListener("click", () => arrange(true));
    $("designer-fit").addEventListener("click", () => cy && cy.fit(undefined, 40));
    $("designer-zoom-in").addEventListener("click", () => cy && cy.zoom({ level: cy.zoom() * 1.25, renderedPosition: { x: cy.width() / 2, y: cy.height() / 2 } }));
    $("designer-zoom-out").addEventListener("click", () => cy && cy.zoom({ level: cy.zoom() / 1.25, renderedPosition: { x: cy.width() / 2, y: cy.height() / 2 } }));
    $("designer-delete").addEventListener("click", deleteSelection);
    $("designer-save").addEventListener("click", save);
    $("designer-run").addEventListener("click", openRunDialog);
    $("designer-run-form").addEventListener("submit", startRun);
    $("designer-run-cancel").addEventListener("click", () => $("designer-run-dialog").close());
    let jsonTimer = null;
    $("designer-json").addEventListener("input", (e) => {
      clearTimeout(jsonTimer);
      jsonTimer = setTimeout(() => applyJson(e.target.value), 300);
    });
    document.addEventListener("keydown", (e) => {
      const mod = e.ctrlKey || e.metaKey;
      if (editingText(e.target) || $("designer-run-dialog").open) return;
      if (mod && (e.key === "z" || e.key === "Z")) {
        e.preventDefault();
        if (e.shiftKey) redo();
        else undo();
      } else if (mod && (e.key === "y" || e.key === "Y")) {
        e.preventDefault();
        redo();
      } else if ((e.key === "Delete" || e.key === "Backspace") && selected) {
        e.preventDefault();
        deleteSelection();
      }
    });
  }

  // The JSON view, read back: what it says replaces the swarm (members by their API refs).
  function applyJson(text) {
    const problem = $("designer-json-problem");
    let value;
    try {
      value = JSON.parse(text);
    } catch (exc) {
      problem.textContent = `Not valid JSON yet: ${exc.message}`;
      problem.hidden = false;
      return;
    }
    if (!value || typeof value !== "object" || Array.isArray(value)) {
      problem.textContent = "The swarm is a JSON object.";
      problem.hidden = false;
      return;
    }
    problem.hidden = true;
    commit((s) => {
      if (typeof value.name === "string") s.name = value.name;
      if (typeof value.description === "string") s.description = value.description;
      if (typeof value.strategy === "string" && CATALOGUE[value.strategy]) s.strategy = value.strategy;
      if (Array.isArray(value.members)) s.members = value.members.map((ref) => memberEntry(String(ref)));
      if (value.strategy_config && typeof value.strategy_config === "object") s.config = value.strategy_config;
    }, "json");
  }

  // Test and tooling hooks: where a node is on the screen, for real mouse drags.
  window.swarmDesigner = {
    get cy() {
      return cy;
    },
    state: () => clone(state),
    errors: () => clone(errors),
    validity: () => validity,
    swarmId: () => swarmId,
    saves: () => saves,
    version: () => version,
    // The page coordinates of a node (HEIST node name, or member name) and of its edge handle.
    point(name) {
      const node = cy.nodes().filter((n) => n.data("name") === name)[0];
      if (!node) return null;
      const box = $("designer-canvas").getBoundingClientRect();
      const p = node.renderedPosition();
      const bb = node.renderedBoundingBox({ includeLabels: false });
      return { x: box.left + p.x, y: box.top + p.y, handleX: box.left + bb.x2, handleY: box.top + (bb.y1 + bb.y2) / 2 };
    },
  };

  function start() {
    initCanvas();
    wire();
    renderAll("init");
    // Places the first drawing gave nodes the saved layout lacked are not an unsaved change.
    if (initial) savedLayout = clone(state.layout);
    if (cy && cy.nodes().length) {
      cy.fit(undefined, 40);
      if (cy.zoom() > 1.2) {
        cy.zoom(1.2);
        cy.center();
      }
    }
    if (initial) scheduleValidation();
    else {
      validity = "unknown";
      setStatus("Drag agents onto the canvas to begin.", "");
    }
    root.dataset.ready = "true";
  }

  start();
})();
