"use strict";
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const video = document.getElementById("video");
  const SVG = "http://www.w3.org/2000/svg";
  const LABEL_W = 110, ROW_H = 22, AXIS_H = 22, PAD_R = 12;
  const duration = Math.max(data.duration, 1e-3);
  const playheads = [];
  let selected = null;

  function el(tag, attrs, parent, text) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function html(tag, attrs, parent, text) {
    const e = document.createElement(tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  const fmt = (t) => t.toFixed(1);
  const pct = (x) => Math.round(100 * x) + "%";
  const teamColour = (team) => data.teams[team] || "#6b7280";
  const playerName = (p) => "#" + p.id + (p.jersey ? " (" + p.jersey + ")" : "");

  function seek(t) {
    const target = Math.max(0, Math.min(t, duration));
    video.currentTime = target;
    updatePlayheads(target);
  }

  // ---- header and side panel
  document.getElementById("title").textContent = data.title;
  const facts = document.getElementById("facts");
  [fmt(duration) + " s", data.frames + " frames @ " + data.fps.toFixed(2) + " fps",
   data.players.length + " players", "actions: " + data.recognizer].forEach((t) => html("span", {}, facts, t));
  const share = document.getElementById("share");
  const shares = Object.entries(data.possession_share || {});
  if (shares.length) {
    const bar = html("div", {class: "sharebar"}, share);
    shares.forEach(([team, s]) => {
      const d = html("div", {style: "width:" + (100 * s) + "%;background:" + teamColour(team)}, bar,
        (team === "A" || team === "B" ? "Team " + team : team) + " " + pct(s));
      d.title = team + ": " + pct(s) + " of the possession";
    });
  } else {
    html("p", {class: "muted"}, share, "No possession recorded (ball not tracked or never held).");
  }
  (function teams() {
    const groups = {};
    data.players.forEach((p) => {
      const g = groups[p.team || "–"] = groups[p.team || "–"] || {players: 0, seconds: 0, distance: 0, time: {}};
      g.players += 1; g.seconds += p.seconds; g.distance += p.distance_bh;
      Object.entries(p.share).forEach(([a, s]) => { g.time[a] = (g.time[a] || 0) + s * p.seconds; });
    });
    const table = document.getElementById("teams");
    const head = html("tr", {}, table.tHead);
    ["Team", "Players", "Distance", "Mostly"].forEach((t) => html("th", {}, head, t));
    Object.keys(groups).sort().forEach((team) => {
      const g = groups[team], r = html("tr", {}, table.tBodies[0]);
      html("span", {class: "chip", style: "background:" + teamColour(team)}, html("td", {}, r), team);
      html("td", {}, r, String(g.players));
      html("td", {}, r, g.distance.toFixed(1) + " bh");
      const top = Object.entries(g.time).sort((a, b) => b[1] - a[1])[0];
      html("td", {}, r, top ? top[0] : "–");
    });
  })();
  const legend = document.getElementById("legend");
  data.labels.forEach((name) => {
    const s = html("span", {}, legend);
    html("i", {class: "swatch", style: "background:" + data.colours[name]}, s);
    s.appendChild(document.createTextNode(name));
  });

  // ---- video
  if (data.video) {
    video.src = data.video;
    video.addEventListener("error", () => {
      const note = document.getElementById("video-note");
      note.hidden = false;
      note.textContent = "The video " + decodeURIComponent(data.video) +
        " could not be played; keep it in the same place relative to this page.";
    });
  } else {
    video.hidden = true;
  }

  // ---- charts
  function axis(svg, width, height) {
    const scale = (t) => LABEL_W + (width - LABEL_W - PAD_R) * t / duration;
    const g = el("g", {class: "axis"}, svg);
    const raw = duration / Math.max(2, Math.floor((width - LABEL_W) / 80));
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
    for (let t = 0; t <= duration + 1e-9; t += step) {
      el("line", {class: "grid", x1: scale(t), x2: scale(t), y1: AXIS_H - 4, y2: height}, g);
      el("text", {x: scale(t), y: 12, "text-anchor": "middle"}, g, (step < 1 ? t.toFixed(1) : Math.round(t)) + "s");
    }
    return scale;
  }
  function addPlayhead(svg, height, scale) {
    const line = el("line", {class: "playhead", x1: scale(0), x2: scale(0), y1: AXIS_H - 4, y2: height}, svg);
    playheads.push({line, scale});
  }
  function updatePlayheads(t) {
    playheads.forEach(({line, scale}) => { line.setAttribute("x1", scale(t)); line.setAttribute("x2", scale(t)); });
  }

  function drawTimeline() {
    const box = document.getElementById("timeline");
    box.textContent = "";
    const width = Math.max(box.clientWidth, 400);
    const height = AXIS_H + ROW_H * data.players.length + 4;
    const svg = el("svg", {width, height, viewBox: "0 0 " + width + " " + height}, box);
    const scale = axis(svg, width, height);
    data.players.forEach((p, row) => {
      const y = AXIS_H + row * ROW_H;
      const g = el("g", {class: "row" + (selected === p.id ? " selected" : ""), "data-player": p.id}, svg);
      el("rect", {class: "band", x: 0, y, width, height: ROW_H, fill: row % 2 ? "#fafafa" : "#fff"}, g);
      const label = el("g", {class: "rowlabel"}, g);
      el("rect", {x: 4, y: y + 4, width: 8, height: ROW_H - 8, rx: 2, fill: teamColour(p.team)}, label);
      el("text", {x: 18, y: y + ROW_H / 2 + 4}, label, playerName(p) + (p.team ? "  " + p.team : ""));
      label.addEventListener("click", () => select(p.id, true));
      p.segments.forEach((s) => {
        const x0 = scale(s.start_time), x1 = Math.max(scale(s.end_time), x0 + 2);
        const r = el("rect", {class: "seg", x: x0, y: y + 3, width: x1 - x0, height: ROW_H - 6, rx: 2,
          fill: data.colours[s.action] || "#999", "data-start": s.start_time, "data-player": p.id}, g);
        el("title", {}, r, playerName(p) + " · " + s.action + " · " + fmt(s.start_time) + "–" + fmt(s.end_time) +
          " s · " + pct(s.confidence) + " confidence");
        r.addEventListener("click", () => { select(p.id, false); seek(s.start_time); });
      });
    });
    addPlayhead(svg, height, scale);
  }

  function drawPossession() {
    const box = document.getElementById("possession");
    box.textContent = "";
    if (!data.possession.length) {
      html("p", {class: "muted"}, box, "Nobody was seen holding the ball.");
      return;
    }
    const width = Math.max(box.clientWidth, 400), height = AXIS_H + 34;
    const svg = el("svg", {width, height, viewBox: "0 0 " + width + " " + height}, box);
    const scale = axis(svg, width, height);
    el("text", {x: 4, y: AXIS_H + 20}, svg, "ball held by");
    data.possession.forEach((s) => {
      const x0 = scale(s.start_time), x1 = Math.max(scale(s.end_time), x0 + 2);
      const r = el("rect", {class: "seg", x: x0, y: AXIS_H + 3, width: x1 - x0, height: 26, rx: 2,
        fill: teamColour(s.team), "data-start": s.start_time}, svg);
      el("title", {}, r, "#" + s.player_id + (s.team ? " (" + s.team + ")" : "") + " · " + fmt(s.start_time) + "–" +
        fmt(s.end_time) + " s");
      r.addEventListener("click", () => seek(s.start_time));
      if (x1 - x0 > 26) {
        const t = el("text", {x: (x0 + x1) / 2, y: AXIS_H + 20, "text-anchor": "middle", fill: "#fff"}, svg,
          "#" + s.player_id);
        t.style.fill = "#fff";
        t.style.pointerEvents = "none";
      }
    });
    addPlayhead(svg, height, scale);
  }

  // ---- players table
  const actions = data.labels.filter((a) => data.players.some((p) => p.share[a]));
  const columns = [
    {title: "Player", key: (p) => p.id, cell: (td, p) => {
      const c = html("span", {class: "chip", style: "background:" + teamColour(p.team)}, td, "#" + p.id);
      c.title = "track " + p.id;
    }},
    {title: "Team", cls: "l", key: (p) => p.team || "~", cell: (td, p) => { td.textContent = p.team || "–"; }},
    {title: "No.", key: (p) => (p.jersey ? parseInt(p.jersey, 10) : 1e9), cell: (td, p) => { td.textContent = p.jersey || "–"; }},
    {title: "On screen (s)", key: (p) => p.seconds, cell: (td, p) => { td.textContent = fmt(p.seconds); }},
    {title: "Seen", key: (p) => p.first_time, cell: (td, p) => { td.textContent = fmt(p.first_time) + "–" + fmt(p.last_time) + " s"; }},
    {title: "Action mix", cls: "l", key: (p) => -(p.share[actions[0]] || 0), cell: (td, p) => {
      const mix = html("span", {class: "mix"}, td);
      Object.entries(p.share).forEach(([a, s]) => {
        const d = html("div", {style: "width:" + (100 * s) + "%;background:" + (data.colours[a] || "#999")}, mix);
        d.title = a + " " + pct(s);
      });
    }},
    ...actions.map((a) => ({title: a, key: (p) => p.share[a] || 0,
      cell: (td, p) => { td.textContent = p.share[a] ? pct(p.share[a]) : "–"; }})),
    {title: "Distance (bh)", key: (p) => p.distance_bh, cell: (td, p) => { td.textContent = p.distance_bh.toFixed(1); }},
  ];
  let sortBy = 0, ascending = true;
  function drawTable() {
    const table = document.getElementById("players");
    const head = table.tHead, body = table.tBodies[0];
    head.textContent = ""; body.textContent = "";
    const tr = html("tr", {}, head);
    columns.forEach((c, i) => {
      const th = html("th", {class: (c.cls || "") + (i === sortBy ? " sorted" + (ascending ? " asc" : "") : "")}, tr, c.title);
      th.addEventListener("click", () => { ascending = i === sortBy ? !ascending : i < 2; sortBy = i; drawTable(); });
    });
    const rows = data.players.slice().sort((a, b) => {
      const ka = columns[sortBy].key(a), kb = columns[sortBy].key(b);
      return (ka < kb ? -1 : ka > kb ? 1 : 0) * (ascending ? 1 : -1);
    });
    rows.forEach((p) => {
      const r = html("tr", {class: selected === p.id ? "selected" : "", "data-player": p.id}, body);
      columns.forEach((c) => c.cell(html("td", {class: c.cls || ""}, r), p));
      r.addEventListener("click", () => select(p.id, true));
    });
  }

  function select(id, jump) {
    selected = selected === id && jump ? null : id;
    document.querySelectorAll("[data-player]").forEach((e) => {
      if (e.tagName === "g" || e.tagName === "TR") e.classList.toggle("selected", Number(e.dataset.player) === selected);
    });
    const p = data.players.find((q) => q.id === id);
    if (jump && p && selected !== null) seek(p.first_time);
  }

  function drawAll() {
    playheads.length = 0;
    drawTimeline();
    drawPossession();
    updatePlayheads(video.currentTime || 0);
  }
  drawAll();
  drawTable();
  let resizeTimer = null;
  window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(drawAll, 100); });
  video.addEventListener("timeupdate", () => updatePlayheads(video.currentTime));
  video.addEventListener("seeked", () => updatePlayheads(video.currentTime));
  function follow() { updatePlayheads(video.currentTime); if (!video.paused) requestAnimationFrame(follow); }
  video.addEventListener("play", () => requestAnimationFrame(follow));
})();
