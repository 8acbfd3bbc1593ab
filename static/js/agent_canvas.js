// The Agents page: the hierarchy drawn with Cytoscape (dagre layout), the side panel's agent forms.
//
// - Each board's tree is drawn from #agent-graph (JSON the server renders, swapped in again over the
//   /ws/agents/ websocket whenever agents change, which redraws the canvas).
// - Clicking an agent opens it in the side panel (#agent-panel, an htmx GET of its edit partial).
// - Dragging from an agent (or its "+") to empty space creates a child one level down: a dashed draft
//   node appears where it was dropped and the panel opens the create form with the parent filled in.
// - The server answers a refusal with an "agent-refused" event (HX-Trigger: agent, rule, message):
//   the agent (or the draft) is marked and the rule shown beside it on the canvas.
// - Provider settings are a SchemaForm (static/js/schema_form.js) generated from the provider's
//   JSON Schema, kept in sync with the JSON textarea both ways. The server validates; this only shows.
//
// window.agentCanvas exposes the canvas for tests: cy, clientPosition(name), plusPosition(name).
(function () {
  "use strict";

  // ---- provider settings: SchemaForm <-> JSON textarea --------------------------------------------

  function readJSON(id, root) {
    const el = (root || document).querySelector("#" + id);
    if (!el) return null;
    try { return JSON.parse(el.textContent); } catch (e) { return null; }
  }

  function enhanceForm(root) {
    const form = root.querySelector("form.agent-form");
    if (!form || form.dataset.enhanced) return;
    form.dataset.enhanced = "1";
    const select = form.querySelector("select[name=provider]");
    const textarea = form.querySelector("textarea[name=config]");
    const holder = form.querySelector("[data-schema-for]");
    const details = form.querySelector("[data-json-advanced]");
    const help = form.querySelector("[data-provider-help]");
    const catalogue = readJSON("provider-catalogue", root) || [];
    if (!window.SchemaForm || !select || !textarea || !holder) return;
    let schemaForm = null;
    let shown = select.value;

    function provider(name) { return catalogue.find((p) => p.name === name) || null; }

    function parse() {
      try {
        const value = JSON.parse(textarea.value || "{}");
        return value && typeof value === "object" && !Array.isArray(value) ? value : null;
      } catch (e) { return null; }
    }

    function build(value) {
      holder.innerHTML = "";
      schemaForm = null;
      const info = provider(select.value);
      if (help) help.textContent = info ? info.description || "" : "";
      const schema = info && info.config_schema;
      if (!schema || !Object.keys(schema).length) {
        if (help) help.hidden = false;
        if (details) details.open = true;
        return;
      }
      if (help) help.hidden = true; // the generated form opens with the schema's own description
      schemaForm = SchemaForm.render(holder, schema, value || {}, {
        idPrefix: "provider-" + select.value,
        onChange: (v) => { textarea.value = JSON.stringify(v, null, 2); },
      });
      if (details) details.open = false;
    }

    build(parse() || {});
    const errors = readJSON("config-errors", root);
    if (schemaForm && errors && Object.keys(errors).length) {
      schemaForm.showErrors(errors);
      if (details) details.open = false;
    }
    select.addEventListener("change", () => {
      // Another provider's settings do not carry over; coming back to the first keeps nothing either.
      const value = select.value === shown ? parse() || {} : {};
      shown = select.value;
      textarea.value = JSON.stringify(value, null, 2);
      build(value);
    });
    textarea.addEventListener("input", () => {
      const value = parse();
      if (value && schemaForm) schemaForm.setValue(value);
    });
  }

  // ---- the canvas -------------------------------------------------------------------------------

  const COLORS = { 0: "#1d2330", 1: "#3b5bdb", 2: "#748ffc", 3: "#bac8ff", 4: "#dbe4ff" };
  let cy = null;
  let eh = null;
  const refusals = {}; // canvas node id -> {rule, message}: shown until that node changes or is saved

  function canvasEl() { return document.getElementById("agent-canvas"); }

  function nodeId(pk) { return "agent-" + pk; }

  function graphElements(graph) {
    const elements = [];
    (graph.nodes || []).forEach((n) => {
      const classes = ["agent", "level-" + n.level];
      if (n.status === "terminated") classes.push("terminated");
      elements.push({
        group: "nodes",
        data: { id: nodeId(n.id), pk: n.id, name: n.name, level: n.level, label: n.name + "\nL" + n.level + " · " + n.provider,
                color: COLORS[n.level] || COLORS[4], ink: n.level <= 2 ? "#fff" : "#1d2330" },
        classes: classes.join(" "),
      });
    });
    (graph.edges || []).forEach((e) => {
      elements.push({ group: "edges", data: { id: "edge-" + e.source + "-" + e.target, source: nodeId(e.source), target: nodeId(e.target) } });
    });
    return elements;
  }

  const STYLE = [
    { selector: "node.agent", style: {
      shape: "round-rectangle", "background-color": "data(color)", color: "data(ink)", label: "data(label)",
      "text-wrap": "wrap", "text-valign": "center", "text-halign": "center", "font-size": 12, width: "label",
      height: "label", padding: "10px", "border-width": 2, "border-color": "#fff" } },
    { selector: "node.agent:selected", style: { "border-color": "#fab005", "border-width": 4 } },
    { selector: "node.terminated", style: { opacity: 0.45, "background-color": "#868e96", "border-style": "dashed" } },
    { selector: "node.plus", style: {
      shape: "ellipse", width: 18, height: 18, "background-color": "#fff", "border-width": 2, "border-color": "#3b5bdb",
      label: "+", color: "#3b5bdb", "font-size": 16, "font-weight": "bold", "text-valign": "center", "text-halign": "center" } },
    { selector: "node.draft", style: {
      shape: "round-rectangle", "background-color": "#fff", "border-style": "dashed", "border-width": 2, "border-color": "#3b5bdb",
      label: "new child", color: "#3b5bdb", "font-size": 12, width: 90, height: 36, "text-valign": "center" } },
    { selector: "node.refused", style: { "border-color": "#c92a2a", "border-width": 4, "border-style": "solid" } },
    { selector: "node.refused-flash", style: { "background-color": "#ffc9c9", color: "#c92a2a" } },
    { selector: "edge", style: { width: 2, "line-color": "#adb5bd", "target-arrow-color": "#adb5bd", "target-arrow-shape": "triangle", "curve-style": "bezier" } },
    { selector: "edge.draft-edge", style: { "line-style": "dashed", "line-color": "#3b5bdb", "target-arrow-color": "#3b5bdb" } },
    { selector: ".eh-ghost-edge", style: { "line-style": "dashed", "line-color": "#3b5bdb", "target-arrow-color": "#3b5bdb", "target-arrow-shape": "triangle" } },
    { selector: ".eh-ghost-node", style: { width: 1, height: 1, opacity: 0 } },
  ];

  function placePlusHandles() {
    cy.nodes(".plus").remove();
    cy.nodes("node.agent").not(".terminated").forEach((n) => {
      const p = n.position();
      cy.add({ group: "nodes", data: { id: "plus-" + n.data("pk"), owner: n.id() }, classes: "plus",
               position: { x: p.x + n.outerWidth() / 2 + 4, y: p.y + n.outerHeight() / 2 - 2 } });
    });
    cy.nodes(".plus").ungrabify();
  }

  function layout() {
    const agents = cy.elements().not(".plus, .draft, .draft-edge");
    agents.layout({ name: "dagre", rankDir: "TB", nodeSep: 50, rankSep: 70, fit: false, animate: false }).run();
    placePlusHandles();
    cy.fit(cy.elements(), 30);
    if (cy.zoom() > 1.2) { cy.zoom(1.2); cy.center(); }
  }

  function redraw() {
    if (!cy) return;
    const graph = readJSON("agent-graph") || { nodes: [], edges: [] };
    const selected = cy.$("node.agent:selected").map((n) => n.id());
    cy.elements().not(".draft, .draft-edge").remove();
    cy.add(graphElements(graph));
    layout();
    selected.forEach((id) => cy.getElementById(id).select());
    Object.keys(refusals).forEach((id) => { if (!cy.getElementById(id).nonempty()) delete refusals[id]; });
    showRefusals();
    const el = canvasEl();
    el.dataset.nodes = String(graph.nodes.length);
    el.dataset.drawn = String(Number(el.dataset.drawn || 0) + 1);
    const hint = document.getElementById("agent-canvas-empty");
    if (hint) hint.hidden = graph.nodes.length > 0;
  }

  // Refusals: the node outlined in red (flashing once) and the rule in a note under it.
  function showRefusals() {
    const layer = document.getElementById("agent-canvas-notes");
    if (!layer || !cy) return;
    layer.querySelectorAll(".canvas-refusal").forEach((n) => n.remove());
    cy.nodes(".refused").removeClass("refused");
    Object.keys(refusals).forEach((id) => {
      const node = cy.getElementById(id);
      if (node.empty()) return;
      node.addClass("refused");
      const note = document.createElement("div");
      note.className = "canvas-refusal";
      note.dataset.testid = "canvas-refusal";
      note.setAttribute("data-testid", "canvas-refusal");
      note.dataset.node = id;
      note.dataset.rule = refusals[id].rule;
      const code = document.createElement("code");
      code.textContent = refusals[id].rule;
      note.appendChild(code);
      note.appendChild(document.createTextNode(" " + refusals[id].message));
      layer.appendChild(note);
    });
    positionNotes();
  }

  function positionNotes() {
    const layer = document.getElementById("agent-canvas-notes");
    if (!layer || !cy) return;
    layer.querySelectorAll(".canvas-refusal").forEach((note) => {
      const node = cy.getElementById(note.dataset.node);
      if (node.empty()) return;
      const box = node.renderedBoundingBox();
      note.style.left = (box.x1 + box.x2) / 2 + "px";
      note.style.top = box.y2 + 6 + "px";
    });
  }

  function openPanel(url) {
    htmx.ajax("GET", url, { target: "#agent-panel", swap: "innerHTML" });
  }

  function removeDraft() { if (cy) cy.remove(".draft, .draft-edge"); delete refusals.draft; }

  function agentUrl(pk) { return canvasEl().dataset.agentUrl.replace(/0\/$/, pk + "/"); }

  function newChildUrl(pk) { return canvasEl().dataset.newUrl + "?parent=" + encodeURIComponent(pk); }

  function startDraft(parent, position) {
    removeDraft();
    cy.add([
      { group: "nodes", data: { id: "draft", parentNode: parent.id() }, classes: "draft", position: position },
      { group: "edges", data: { id: "draft-edge", source: parent.id(), target: "draft" }, classes: "draft-edge" },
    ]);
    cy.getElementById("draft").ungrabify();
    openPanel(newChildUrl(parent.data("pk")));
  }

  function nodeAt(position, except) {
    return cy.nodes().filter((n) => {
      if (except && (n.same(except) || n.data("owner") === except.id())) return false;
      const b = n.boundingBox();
      return position.x >= b.x1 && position.x <= b.x2 && position.y >= b.y1 && position.y <= b.y2;
    });
  }

  function hint(text) {
    const layer = document.getElementById("agent-canvas-notes");
    let el = document.getElementById("agent-canvas-hint");
    if (!el) {
      el = document.createElement("div");
      el.id = "agent-canvas-hint";
      el.className = "canvas-hint";
      layer.appendChild(el);
    }
    el.textContent = text;
  }

  function init() {
    const el = canvasEl();
    if (!el || typeof cytoscape === "undefined") return;
    document.querySelectorAll(".canvas-only").forEach((n) => { n.hidden = false; });
    const fit = document.getElementById("agent-canvas-fit");
    // cytoscape-dagre and cytoscape-edgehandles register themselves with the global cytoscape.
    cy = cytoscape({ container: el, style: STYLE, minZoom: 0.3, maxZoom: 2.5, autoungrabify: true, boxSelectionEnabled: false,
                     selectionType: "single" });
    eh = cy.edgehandles({
      canConnect: () => false, // edges are parent links, made only by creating a child
      snap: false,
      hoverDelay: 150,
      noEdgeEventsInDraw: true,
      disableBrowserGestures: true,
    });
    let source = null;
    let dragged = null; // where the pointer was last dragged to since the press (null: not dragged: a click)
    cy.on("tapdrag", (evt) => { if (source) dragged = evt.position; });
    cy.on("tapstart", "node", (evt) => {
      const node = evt.target;
      const agent = node.hasClass("plus") ? cy.getElementById(node.data("owner")) : node;
      if (!agent.hasClass("agent") || agent.hasClass("terminated")) return;
      source = agent;
      dragged = null;
      eh.start(agent);
    });
    cy.on("ehstop", (evt, from) => {
      const agent = from || source;
      const position = dragged;
      source = dragged = null;
      if (!agent || agent.empty() || !position) return; // a click: "tap" handles it
      const under = nodeAt(position, null);
      if (under.some((n) => n.same(agent) || n.data("owner") === agent.id())) return; // a click: "tap" handles it
      if (under.nonempty()) {
        hint("Drop on empty space to create a child of " + agent.data("name") + " (an agent's parent is fixed).");
        return;
      }
      startDraft(agent, { x: position.x, y: position.y });
    });
    cy.on("tap", "node.agent", (evt) => {
      removeDraft();
      showRefusals();
      openPanel(agentUrl(evt.target.data("pk")));
    });
    cy.on("tap", "node.plus", (evt) => {
      const agent = cy.getElementById(evt.target.data("owner"));
      const p = agent.position();
      startDraft(agent, { x: p.x, y: p.y + 90 });
    });
    cy.on("render pan zoom resize", positionNotes);
    if (fit) { fit.hidden = false; fit.addEventListener("click", () => cy.fit(cy.elements(), 30)); }
    redraw();
  }

  // ---- wiring -----------------------------------------------------------------------------------

  document.addEventListener("htmx:afterSwap", (evt) => {
    const target = evt.detail.target;
    if (target && target.id === "agent-panel") {
      enhanceForm(target);
      const head = target.querySelector("[data-agent]");
      if (cy && head) {
        cy.$("node.agent:selected").unselect();
        cy.getElementById(nodeId(head.dataset.agent)).select();
      }
      if (cy && !target.querySelector("[data-mode=create]")) removeDraft();
    }
  });
  // The websocket swaps #agent-graph-box in out of band: draw what it now says.
  document.addEventListener("htmx:wsAfterMessage", () => redraw());
  document.body.addEventListener("agent-saved", (evt) => {
    const pk = evt.detail && evt.detail.agent;
    if (pk != null) delete refusals[nodeId(pk)];
    removeDraft();
    showRefusals();
  });
  document.body.addEventListener("agent-refused", (evt) => {
    if (!cy) return;
    const detail = evt.detail || {};
    const draft = cy.getElementById("draft");
    const id = draft.nonempty() ? "draft" : nodeId(detail.agent);
    refusals[id] = { rule: detail.rule, message: detail.message };
    showRefusals();
    cy.getElementById(id).flashClass("refused-flash", 1200);
  });
  document.addEventListener("click", (evt) => {
    const close = evt.target.closest("[data-panel-close]");
    const panel = document.getElementById("agent-panel");
    if (close && cy && panel) {
      evt.preventDefault();
      removeDraft();
      showRefusals();
      cy.$("node.agent:selected").unselect();
      panel.innerHTML = '<p class="muted">Select an agent to edit it, or drag from one to create a child.</p>';
    }
  });
  document.addEventListener("DOMContentLoaded", () => {
    const panel = document.getElementById("agent-panel");
    if (panel) enhanceForm(panel);
    init();
  });

  function clientOf(node) {
    if (!cy || !node || node.empty()) return null;
    const box = canvasEl().getBoundingClientRect();
    const r = node.renderedPosition();
    return { x: box.left + r.x, y: box.top + r.y };
  }

  window.agentCanvas = {
    get cy() { return cy; },
    redraw: redraw,
    clientPosition: (name) => clientOf(cy ? cy.nodes("node.agent").filter((n) => n.data("name") === name) : null),
    plusPosition: (name) => {
      const agent = cy ? cy.nodes("node.agent").filter((n) => n.data("name") === name) : null;
      return agent && agent.nonempty() ? clientOf(cy.getElementById("plus-" + agent.data("pk"))) : null;
    },
  };
})();
