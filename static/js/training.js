// Live training page: learning curves (uPlot), progress, agent usage, evaluation and topology (Cytoscape).
// The server sends a full snapshot on connect and one update per epoch; reconnecting just redraws.
(function () {
  "use strict";
  const root = document.getElementById("training-root");
  if (!root) return;
  let state = JSON.parse(document.getElementById("training-state").textContent);
  const charts = {};

  function text(id, value) {
    const el = document.getElementById(id);
    if (el) el.textContent = value;
  }

  function fmt(x, digits) {
    return typeof x === "number" ? x.toFixed(digits === undefined ? 3 : digits) : "—";
  }

  function drawCharts() {
    if (typeof uPlot === "undefined") return;
    const epochs = state.history.map((m) => m.epoch);
    document.querySelectorAll("[data-chart]").forEach((el) => {
      const key = el.dataset.chart;
      const data = [epochs, state.history.map((m) => m[key])];
      if (!charts[key]) {
        const width = Math.max(240, el.clientWidth || 280);
        charts[key] = new uPlot(
          {
            width: width,
            height: 160,
            legend: { show: false },
            scales: { x: { time: false } },
            series: [{ label: "epoch" }, { label: key, stroke: "#3b5bdb", width: 2 }],
            axes: [{}, { size: 50 }],
          },
          data,
          el
        );
      } else {
        charts[key].setData(data);
      }
    });
  }

  function drawUsage() {
    const body = document.querySelector("#usage tbody");
    const last = state.history[state.history.length - 1];
    if (!body || !last || !last.agent_usage) return;
    body.innerHTML = "";
    Object.entries(last.agent_usage)
      .sort((a, b) => b[1] - a[1])
      .forEach(([agent, share]) => {
        const row = document.createElement("tr");
        const name = document.createElement("td");
        name.textContent = agent;
        const bar = document.createElement("td");
        const meter = document.createElement("meter");
        meter.min = 0;
        meter.max = 1;
        meter.value = share;
        bar.appendChild(meter);
        bar.append(" " + (100 * share).toFixed(1) + "%");
        row.append(name, bar);
        body.appendChild(row);
      });
  }

  function drawEvaluation() {
    const report = state.evaluation;
    const box = document.getElementById("evaluation");
    if (!box || !report || !report.policies) return;
    const table = document.createElement("table");
    table.id = "evaluation-table";
    table.innerHTML =
      "<thead><tr><th>Policy</th><th>Success</th><th>Mean cost</th><th>Mean reward</th><th>Mean steps</th></tr></thead>";
    const body = document.createElement("tbody");
    const names = report.order || Object.keys(report.policies);
    names.forEach((name) => {
      const m = report.policies[name];
      const row = document.createElement("tr");
      [name, fmt(m.success), fmt(m.mean_cost), fmt(m.mean_reward), fmt(m.mean_steps, 2)].forEach((v) => {
        const cell = document.createElement("td");
        cell.textContent = v;
        row.appendChild(cell);
      });
      if (name === "learned") row.style.fontWeight = "600";
      body.appendChild(row);
    });
    table.appendChild(body);
    box.innerHTML = "";
    const note = document.createElement("p");
    note.className = "muted";
    const skipped = Object.entries(report.skipped || {}).map(([name, why]) => name + " skipped: " + why);
    note.textContent =
      (report.tasks || 0) + " held-out tasks; λ = " + fmt(report.cost_weight, 3) + "." + (skipped.length ? " " + skipped.join("; ") + "." : "");
    box.append(table, note, familyTable(report, names));
  }

  // Success and mean cost per task family, one column per policy.
  function familyTable(report, names) {
    const families = Object.keys((report.policies[names[0]] || {}).per_family || {}).sort();
    const table = document.createElement("table");
    table.id = "family-table";
    const head = document.createElement("tr");
    ["family", ...names].forEach((label) => {
      const th = document.createElement("th");
      th.textContent = label;
      head.appendChild(th);
    });
    const thead = document.createElement("thead");
    thead.appendChild(head);
    const body = document.createElement("tbody");
    families.forEach((family) => {
      const row = document.createElement("tr");
      const cells = [family].concat(
        names.map((name) => {
          const f = ((report.policies[name] || {}).per_family || {})[family];
          return f ? fmt(f.success, 2) + " / " + fmt(f.mean_cost, 2) : "—";
        })
      );
      cells.forEach((value) => {
        const td = document.createElement("td");
        td.textContent = value;
        row.appendChild(td);
      });
      body.appendChild(row);
    });
    table.append(thead, body);
    const wrap = document.createElement("div");
    const title = document.createElement("h3");
    title.textContent = "Per family (success / mean cost)";
    wrap.append(title, table);
    return wrap;
  }

  function drawTopology(which) {
    const graph = state.topology && state.topology[which];
    const el = document.getElementById("topology-" + which);
    if (!graph || !el || typeof cytoscape === "undefined") return;
    const max = Math.max(1, ...graph.edges.map((e) => e.count));
    cytoscape({
      container: el,
      elements: [
        ...graph.nodes.map((n) => ({ data: { id: n, label: n } })),
        ...graph.edges.map((e) => ({
          data: { id: e.source + "->" + e.target, source: e.source, target: e.target, w: 1 + (6 * e.count) / max },
        })),
      ],
      layout: { name: "circle" },
      style: [
        { selector: "node", style: { label: "data(label)", "font-size": 10, "background-color": "#3b5bdb" } },
        {
          selector: "edge",
          style: { width: "data(w)", "curve-style": "bezier", "target-arrow-shape": "triangle", "line-color": "#adb5bd", "target-arrow-color": "#adb5bd" },
        },
      ],
      userZoomingEnabled: false,
    });
    text(
      "topology-" + which + "-stats",
      "density " + fmt(graph.density) + " · cycles " + graph.cycles + " · " + graph.edges.length + " edges"
    );
  }

  function drawStatus() {
    text("training-status", state.status);
    const badge = document.getElementById("training-status");
    if (badge) badge.className = "badge status-" + state.status;
    text("epochs-done", state.epochs_done);
    text("epochs-total", state.epochs);
    text("episodes-done", state.episodes_done);
    const bar = document.getElementById("training-progress");
    if (bar) {
      bar.max = state.epochs;
      bar.value = state.epochs_done;
    }
  }

  function drawAll() {
    drawStatus();
    drawCharts();
    drawUsage();
    drawEvaluation();
    drawTopology("before");
    drawTopology("after");
  }

  function apply(update) {
    if (update.kind === "snapshot") {
      state = update;
    } else if (update.kind === "epoch") {
      state.history = state.history.filter((m) => m.epoch !== update.epoch).concat([update.metrics]);
      state.epochs_done = Math.max(state.epochs_done, update.epoch);
      state.epochs = update.epochs;
      state.episodes_done = (state.episodes_done || 0) + (update.metrics.episodes || 0);
      state.status = update.status;
    } else if (update.kind === "status" || update.kind === "completed") {
      state.status = update.status;
      if (update.evaluation) state.evaluation = update.evaluation;
      if (update.error) state.error = update.error;
      if (update.kind === "completed") {
        // The topology after training arrives with the snapshot: ask for a fresh one.
        reconnect(0);
        return;
      }
    }
    drawAll();
  }

  let socket = null;
  function reconnect(delay) {
    const old = socket;
    socket = null; // so its close handler does not schedule a second connection
    if (old) old.close();
    setTimeout(connect, delay);
  }
  function connect() {
    const live = document.getElementById("live");
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + root.dataset.ws);
    socket = ws;
    ws.onopen = () => live && live.classList.add("on");
    ws.onmessage = (event) => apply(JSON.parse(event.data));
    ws.onclose = () => {
      live && live.classList.remove("on");
      if (socket === ws) setTimeout(connect, 2000);
    };
  }

  window.addEventListener("load", () => {
    drawAll();
    connect();
  });
})();
