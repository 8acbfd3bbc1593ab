// Live workflow graph for HEIST runs: Cytoscape + dagre layout. The page
// carries the latest progress snapshot in #dag-state; every strategy.progress
// event swaps in a new one over the websocket, and the graph re-colours.
(function () {
  "use strict";
  var COLORS = {
    waiting: "#ced4da", ready: "#74c0fc", running: "#4c6ef5", retrying: "#fd7e14",
    fallback: "#be4bdb", done: "#37b24d", failed: "#f03e3e", skipped: "#868e96"
  };
  var cy = null;
  var shape = "";
  var nodesByName = {};
  var edges = [];
  var seen = {}; // node name -> the statuses this page has shown it in, in order

  function remember(name, status) {
    var trail = seen[name] || (seen[name] = []);
    if (trail[trail.length - 1] !== status) trail.push(status);
  }

  function snapshot() {
    var el = document.getElementById("dag-state");
    try { return el ? JSON.parse(el.textContent) : null; } catch (e) { return null; }
  }

  function positions() {
    var el = document.getElementById("dag-positions");
    try { return (el && JSON.parse(el.textContent)) || {}; } catch (e) { return {}; }
  }

  function escapeText(text) {
    var div = document.createElement("div");
    div.textContent = text == null ? "" : String(text);
    return div.innerHTML;
  }

  function showDetail(name) {
    var node = nodesByName[name];
    var panel = document.getElementById("dag-detail");
    if (!node || !panel) return;
    panel.classList.remove("muted");
    panel.innerHTML =
      "<h3>" + escapeText(node.name) + "</h3>" +
      "<p><b>Status:</b> " + escapeText(node.status) + " · <b>agent:</b> " + escapeText(node.agent) +
      " · <b>attempt:</b> " + (node.attempt + 1) + (node.agent_index ? " (fallback " + node.agent_index + ")" : "") + "</p>" +
      ((seen[name] || []).length > 1 ? "<p><b>Seen:</b> " + escapeText(seen[name].join(" → ")) + "</p>" : "") +
      (node.step ? "<p><b>Step:</b> " + escapeText(node.step) + "</p>" : "") +
      (node.output ? "<h4>Output</h4><pre>" + escapeText(node.output) + "</pre>" : "") +
      (node.errors && node.errors.length ? "<h4>Errors</h4><pre>" + escapeText(node.errors.join("\n")) + "</pre>" : "");
  }

  // Progress events carry only the nodes that changed, except the first and
  // after a replan ("full"), which carry the whole graph.
  function render() {
    var data = snapshot();
    var container = document.getElementById("dag");
    if (!data || !data.nodes || !container || typeof cytoscape === "undefined") return;
    if (data.full) {
      nodesByName = {};
      edges = data.edges || [];
    }
    data.nodes.forEach(function (n) { nodesByName[n.name] = n; });
    var all = Object.keys(nodesByName).map(function (k) { return nodesByName[k]; });
    data = { nodes: all, edges: edges };
    var newShape = JSON.stringify([all.map(function (n) { return n.name; }), edges]);
    if (!cy || newShape !== shape) {
      shape = newShape;
      // Positions drawn in the designer (saved with the swarm) win over the automatic layout,
      // as long as they cover every node (a replanned graph has nodes nobody placed).
      var placed = positions();
      var preset = data.nodes.length > 0 && data.nodes.every(function (n) { return placed[n.name]; });
      var elements = data.nodes.map(function (n) {
        var el = { data: { id: n.name, label: label(n), status: n.status } };
        if (preset) el.position = { x: placed[n.name].x, y: placed[n.name].y };
        return el;
      }).concat(data.edges.map(function (e) {
        return { data: { id: e[0] + "->" + e[1], source: e[0], target: e[1] } };
      }));
      if (cy) cy.destroy();
      cy = cytoscape({
        container: container, elements: elements, userZoomingEnabled: false, maxZoom: 1.3,
        layout: preset ? { name: "preset", fit: true, padding: 20 } : { name: "dagre", rankDir: "LR" },
        style: [
          { selector: "node", style: { label: "data(label)", "text-wrap": "wrap", "text-valign": "center",
            "font-size": 10, color: "#fff", "text-outline-width": 1, "text-outline-color": "#495057",
            width: 90, height: 40, shape: "round-rectangle", "background-color": "#ced4da" } },
          { selector: "edge", style: { width: 2, "line-color": "#adb5bd", "target-arrow-color": "#adb5bd",
            "target-arrow-shape": "triangle", "curve-style": "bezier" } }
        ]
      });
      cy.on("tap", "node", function (evt) { showDetail(evt.target.id()); });
    }
    data.nodes.forEach(function (n) {
      var node = cy.getElementById(n.name);
      node.data("status", n.status);
      node.data("label", label(n));  // a fallback names the agent now running the node
      remember(n.name, n.status);
      node.style("background-color", COLORS[n.status] || "#ced4da");
    });
  }

  function label(n) { return n.name + "\n" + n.agent; }

  window.swarmDag = {
    status: function (name) { return cy ? cy.getElementById(name).data("status") : null; },
    label: function (name) { return cy ? cy.getElementById(name).data("label") : null; },
    // Every status a node has shown on this page, so a short-lived one (a
    // first attempt that fails fast, a replayed burst) is not lost to the eye.
    history: function (name) { return (seen[name] || []).slice(); },
    color: function (name) { return cy ? cy.getElementById(name).style("background-color") : null; },
    position: function (name) { return cy ? cy.getElementById(name).position() : null; },
    colors: COLORS,
    show: showDetail
  };
  document.addEventListener("DOMContentLoaded", render);
  document.addEventListener("htmx:wsAfterMessage", render);
})();
