// The swarm drawn on the run page, for every strategy: members as nodes (at the
// positions saved with the swarm's drawing, else laid out by dagre), the member
// acting now highlighted, and per member the steps, messages and cost so far.
//
// The counts come from the page itself: the steps (#steps, each with its agent,
// status and cost as data attributes) and the messages (#messages, each with its
// sender) that the run's websocket keeps adding and updating. The server renders
// the same counts by the same rules (apps.runs.presenters.member_activity), so a
// reload shows what streamed.
(function () {
  "use strict";
  var IDLE = "#dbe4ff", ACTING = "#4c6ef5", RING = "#fd7e14";
  var IN_TURNS = { chat_room: true, board: true, hive: true }; // members drawn around a table
  var cy = null;
  var seenActing = {}; // member -> true once it has been seen acting on this page

  function drawing() {
    var el = document.getElementById("run-drawing");
    try { return el ? JSON.parse(el.textContent) : null; } catch (e) { return null; }
  }

  function money(n) {
    var text = n.toFixed(6).replace(/\.?0+$/, "");
    return text === "" || text === "-0" ? "0" : text;
  }

  function counts(names) {
    var rows = {};
    names.forEach(function (n) { rows[n] = { steps: 0, messages: 0, cost: 0, tokens: 0, acting: false }; });
    document.querySelectorAll("#steps .step[data-agent]").forEach(function (el) {
      var row = rows[el.getAttribute("data-agent")];
      if (!row) return;
      row.steps += 1;
      row.cost += parseFloat(el.getAttribute("data-cost") || "0") || 0;
      row.tokens += parseInt(el.getAttribute("data-tokens") || "0", 10) || 0;
      if (el.getAttribute("data-status") === "running") row.acting = true;
    });
    document.querySelectorAll("#messages .msg[data-sender]").forEach(function (el) {
      var row = rows[el.getAttribute("data-sender")];
      if (row) row.messages += 1;
    });
    Object.keys(rows).forEach(function (n) { rows[n].cost = money(rows[n].cost); });
    return rows;
  }

  function label(member, row) {
    var lines = [member.name];
    if (member.roles && member.roles.length) lines.push(member.roles.join(", "));
    lines.push(row.messages + " msg · " + row.steps + " step" + (row.steps === 1 ? "" : "s") + " · $" + row.cost);
    return lines.join("\n");
  }

  function build(data, container) {
    var placed = data.members.length > 0 && data.members.every(function (m) { return m.position; });
    var elements = data.members.map(function (m) {
      var node = { data: { id: m.name, label: m.name } };
      if (placed) node.position = { x: m.position.x, y: m.position.y };
      return node;
    }).concat(data.edges.map(function (e) {
      return { data: { id: e[0] + "->" + e[1], source: e[0], target: e[1] } };
    }));
    cy = cytoscape({
      container: container, elements: elements, userZoomingEnabled: false, maxZoom: 1.3,
      autoungrabify: true,
      layout: placed ? { name: "preset", fit: true, padding: 20 }
        : IN_TURNS[data.strategy] && data.members.length > 2 ? { name: "circle", fit: true, padding: 30 }
        : { name: "dagre", rankDir: data.strategy === "sequential" ? "LR" : "TB", nodeSep: 30, rankSep: 50 },
      style: [
        { selector: "node", style: { label: "data(label)", "text-wrap": "wrap", "text-valign": "center",
          "font-size": 12, color: "#1d2330", width: 150, height: 58, shape: "round-rectangle",
          "background-color": IDLE, "border-width": 1, "border-color": "#91a7ff" } },
        { selector: "node.acting", style: { "background-color": ACTING, color: "#fff", "border-width": 5,
          "border-color": RING } },
        { selector: "edge", style: { width: 2, "line-color": "#adb5bd", "target-arrow-color": "#adb5bd",
          "target-arrow-shape": "triangle", "curve-style": "bezier" } }
      ]
    });
  }

  function update() {
    var data = drawing();
    if (!data) return;
    var names = data.members.map(function (m) { return m.name; });
    var rows = counts(names);
    data.members.forEach(function (m) {
      var row = rows[m.name];
      if (row.acting) seenActing[m.name] = true;
      var tr = document.querySelector('#member-activity tr[data-member="' + CSS.escape(m.name) + '"]');
      if (tr) {
        tr.classList.toggle("acting", row.acting);
        tr.querySelector(".m-steps").textContent = row.steps;
        tr.querySelector(".m-messages").textContent = row.messages;
        tr.querySelector(".m-cost").textContent = "$" + row.cost;
        tr.querySelector(".m-acting").textContent = row.acting ? "acting now" : "";
      }
      if (cy) {
        var node = cy.getElementById(m.name);
        node.data("label", label(m, row));
        if (row.acting) node.addClass("acting"); else node.removeClass("acting");
      }
    });
  }

  function start() {
    var data = drawing();
    var container = document.getElementById("run-canvas");
    if (data && container && typeof cytoscape !== "undefined") build(data, container);
    update();
  }

  window.swarmCanvas = {
    counts: function () { var d = drawing(); return d ? counts(d.members.map(function (m) { return m.name; })) : {}; },
    acting: function () { return cy ? cy.nodes(".acting").map(function (n) { return n.id(); }) : []; },
    // Every member this page has shown acting, so a short turn is not lost to a test's eye.
    seenActing: function () { return Object.keys(seenActing); },
    label: function (name) { return cy ? cy.getElementById(name).data("label") : null; },
    position: function (name) { return cy ? cy.getElementById(name).position() : null; }
  };
  document.addEventListener("DOMContentLoaded", start);
  document.addEventListener("htmx:wsAfterMessage", update);
})();
