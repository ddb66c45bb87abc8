"use strict";
(function () {
  const PAGE = 60, DISCARD = 10;
  let state = null, visible = [], shown = 0, current = 0;
  const grid = document.getElementById("grid");
  const status = document.getElementById("status");
  const filter = document.getElementById("filter");
  const hideReviewed = document.getElementById("hide-reviewed");
  const speed = document.getElementById("speed");
  const more = document.getElementById("more");
  const cards = new Map();
  const watcher = new IntersectionObserver((entries) => entries.forEach((e) => {
    const v = e.target;
    if (e.isIntersecting) { v.playbackRate = Number(speed.value); v.play().catch(() => {}); } else { v.pause(); }
  }));

  const name = (label) => state.labels[String(label)] || String(label);
  const pct = (x) => (x === null || x === undefined) ? "–" : Math.round(100 * x) + "%";
  function el(tag, cls, parent, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function say(text, error) {
    status.textContent = text;
    status.classList.toggle("error", !!error);
  }

  async function load() {
    const r = await fetch("api/clips", {cache: "no-store"});
    state = await r.json();
    document.getElementById("folder").textContent = state.folder;
    const keys = document.getElementById("keys");
    Object.entries(state.labels).forEach(([k, v]) => {
      const opt = el("option", "", filter, v);
      opt.value = k;
      const key = el("span", "key", keys);
      el("kbd", "", key, Number(k) === DISCARD ? "x" : k);
      key.appendChild(document.createTextNode(v));
    });
    [["Enter", "accept"], ["← →", "previous / next"]].forEach(([k, v]) => {
      const key = el("span", "key", keys);
      el("kbd", "", key, k);
      key.appendChild(document.createTextNode(v));
    });
    refresh();
  }

  function progress() {
    const done = state.clips.filter((c) => c.reviewed).length;
    document.getElementById("progress").textContent = done + " of " + state.clips.length + " clips reviewed";
  }

  function refresh() {
    const f = filter.value;
    visible = state.clips.filter((c) => (f === "all" || String(c.label) === f) && !(hideReviewed.checked && c.reviewed));
    grid.textContent = "";
    cards.clear();
    watcher.disconnect();
    shown = 0;
    current = 0;
    document.getElementById("count").textContent = visible.length + " clips, least confident first";
    showMore();
    progress();
    highlight();
  }

  function showMore() {
    visible.slice(shown, shown + PAGE).forEach((c, i) => card(c, shown + i));
    shown = Math.min(visible.length, shown + PAGE);
    more.hidden = shown >= visible.length;
  }

  function card(c, index) {
    const box = el("div", "clip", grid);
    box.dataset.id = c.id;
    const v = el("video", "", box);
    v.muted = true; v.loop = true; v.playsInline = true; v.preload = "metadata";
    v.src = "examples/" + encodeURIComponent(c.id) + ".mp4";
    v.addEventListener("loadedmetadata", () => { v.playbackRate = Number(speed.value); });
    watcher.observe(v);
    const meta = el("div", "meta", box);
    const label = el("div", "label", meta);
    el("span", "", label);
    el("span", "tick", label);
    el("div", "pred", meta, "predicted " + (c.action || "?") + " " + pct(c.confidence));
    el("i", "", el("span", "conf", meta)).style.width = pct(c.confidence === null ? 0 : c.confidence);
    el("div", "muted", meta, (c.video ? c.video : "") + (c.track !== null && c.track !== undefined ? " · #" + c.track : "") +
      (c.frames ? " · f" + c.frames[0] : ""));
    box.addEventListener("click", () => { current = index; highlight(); });
    cards.set(c.id, box);
    paint(c);
  }

  function paint(c) {
    const box = cards.get(c.id);
    if (!box) return;
    box.dataset.label = c.label;
    box.querySelector(".label span").textContent = name(c.label);
    box.querySelector(".tick").textContent = c.reviewed ? "✓" : "";
    box.classList.toggle("reviewed", c.reviewed);
    box.classList.toggle("changed", c.predicted !== null && c.predicted !== undefined && c.label !== c.predicted && c.label !== DISCARD);
    box.classList.toggle("discarded", c.label === DISCARD);
  }

  function highlight() {
    cards.forEach((box) => box.classList.remove("current"));
    const c = visible[current];
    const box = c && cards.get(c.id);
    if (box) {
      box.classList.add("current");
      box.scrollIntoView({block: "nearest"});
    }
  }

  function move(step) {
    if (!visible.length) return;
    current = Math.max(0, Math.min(visible.length - 1, current + step));
    if (current >= shown) showMore();
    highlight();
  }

  async function setLabel(label) {
    const c = visible[current];
    if (!c) return;
    move(1);  // at once: the next key press is for the next clip, whenever this one's answer comes
    try {
      const r = await fetch("api/label", {method: "POST", headers: {"Content-Type": "application/json"},
                                          body: JSON.stringify({clip: c.id, label: label})});
      const body = await r.json();
      if (!r.ok) throw new Error(body.error || r.statusText);
      c.label = body.new;
      c.reviewed = true;
      paint(c);
      progress();
      say("saved: " + (body.old === body.new ? "accepted " + name(body.new) : name(body.old) + " → " + name(body.new)));
    } catch (err) {
      say("not saved: " + err.message, true);
    }
  }

  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "SELECT" || e.target.tagName === "INPUT" || e.ctrlKey || e.metaKey || e.altKey) return;
    if (/^[0-9]$/.test(e.key) && state.labels[e.key] !== undefined && Number(e.key) !== DISCARD) {
      setLabel(Number(e.key));
    } else if (e.key === "x" || e.key === "X") {
      setLabel(DISCARD);
    } else if (e.key === "Enter" || e.key === "a") {
      const c = visible[current];
      if (c) setLabel(c.label);
    } else if (e.key === "ArrowRight" || e.key === "ArrowDown" || e.key === "j") {
      move(e.key === "ArrowDown" ? columns() : 1);
    } else if (e.key === "ArrowLeft" || e.key === "ArrowUp" || e.key === "k") {
      move(e.key === "ArrowUp" ? -columns() : -1);
    } else {
      return;
    }
    e.preventDefault();
  });
  function columns() {
    return getComputedStyle(grid).gridTemplateColumns.split(" ").length;
  }
  filter.addEventListener("change", refresh);
  hideReviewed.addEventListener("change", refresh);
  speed.addEventListener("change", () => grid.querySelectorAll("video").forEach((v) => { v.playbackRate = Number(speed.value); }));
  more.addEventListener("click", showMore);
  load().catch((err) => say("could not load the clips: " + err.message, true));
})();
