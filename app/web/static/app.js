// repoclimate pages: overview refresh, alert buttons, login, and the room charts (our own SVG).
// No libraries; everything is fetched from this service. Buttons call the JSON API with the
// session's CSRF token (meta csrf-token); the API decides who may do what.
"use strict";
(function () {
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.content : "";
  const lang = document.body.dataset.lang || "en";
  const locale = lang === "zh_Hans" ? "zh-Hans" : "en";
  const SVG = "http://www.w3.org/2000/svg";

  async function api(method, url, body) {
    const headers = { "X-CSRF-Token": csrf, "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const answer = await fetch(url, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!answer.ok) {
      let detail = answer.status + " " + answer.statusText;
      try { const j = await answer.json(); if (j && j.detail) detail = typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail); } catch (e) { /* not JSON */ }
      throw new Error(detail);
    }
    return answer.status === 204 ? null : answer.json();
  }

  // -- overview: fresh tiles without a full reload ------------------------------------------
  const tiles = document.getElementById("tiles");
  async function refresh() {
    if (!tiles) return false;
    const url = new URL(window.location.href);
    url.searchParams.set("fragment", "1");
    url.searchParams.set("lang", lang);
    const answer = await fetch(url, { credentials: "same-origin" });
    if (answer.redirected && new URL(answer.url).pathname === "/login") {
      window.location.assign(answer.url); // the session ended: log in again
      return false;
    }
    if (!answer.ok) return false;
    tiles.innerHTML = await answer.text();
    tiles.dataset.refreshed = String(Date.now());
    return true;
  }
  if (tiles) {
    const every = Number(tiles.dataset.refresh || "60") * 1000;
    window.setInterval(() => { refresh().catch(() => { /* keep the old tiles; try again */ }); }, every);
  }

  // -- alert actions ------------------------------------------------------------------------
  function showError(el, err) {
    const box = el.closest(".actions");
    const slot = box ? box.querySelector(".error") : null;
    if (slot) slot.textContent = err.message;
  }
  document.addEventListener("click", async (ev) => {
    const button = ev.target.closest("button[data-ack]");
    if (!button) return;
    button.disabled = true;
    try {
      await api("POST", "/api/alerts/" + button.dataset.ack + "/ack", { note: "" });
      window.location.reload();
    } catch (err) { showError(button, err); button.disabled = false; }
  });
  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    if (form.classList.contains("silence")) {
      ev.preventDefault();
      const hours = Number(form.elements.hours.value);
      const body = { reason: form.elements.reason.value, ends_at: new Date(Date.now() + hours * 3600e3).toISOString() };
      for (const key of ["site", "room", "sensor", "rule"]) if (form.dataset[key]) body[key] = form.dataset[key];
      try { await api("POST", "/api/silences", body); window.location.reload(); } catch (err) { showError(form, err); }
    } else if (form.id === "login") {
      ev.preventDefault();
      const answer = await fetch("/api/login", { method: "POST", body: new URLSearchParams(new FormData(form)), credentials: "same-origin" });
      if (answer.ok) window.location.assign(form.dataset.next || "/");
      else form.querySelector(".error").textContent = answer.status === 429 ? answer.statusText : form.dataset.error;
    }
  });

  // -- room charts --------------------------------------------------------------------------
  const box = document.getElementById("chart");
  const RANGES = { day: [1, null], week: [7, "1h"], month: [30, "1h"], year: [365, "1d"] };
  const FLOOR = { humidity: 0, mrf: 0, vtt: 0 }, CEILING = { humidity: 100, vtt: 6 }, MIN_TOP = { mrf: 1, vtt: 1 };
  const COLOURS = ["#1f5fa8", "#c2410c", "#6d28d9", "#0f766e", "#9d174d", "#4d7c0f"];

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (parent) parent.appendChild(node);
    return node;
  }
  function num(v) { return v === "" || v === undefined ? null : Number(v); }
  // Times are the site's (data-zone), on a 24-hour clock in every language (hourCycle h23).
  function fmtTime(ms, span) {
    const opts = { timeZone: box.dataset.zone };
    if (span <= 2 * 86400e3) { opts.hour = "2-digit"; opts.minute = "2-digit"; opts.hourCycle = "h23"; }
    else { opts.month = "short"; opts.day = "numeric"; }
    if (span > 200 * 86400e3) { delete opts.day; opts.year = "numeric"; }
    return new Intl.DateTimeFormat(locale, opts).format(new Date(ms));
  }
  function fmtFull(ms) {
    return new Intl.DateTimeFormat(locale, { timeZone: box.dataset.zone, dateStyle: "medium", timeStyle: "short", hourCycle: "h23" }).format(new Date(ms));
  }

  function drawChart(holder, quantity, bySensor, t0, t1, band, label, unit, alerts) {
    holder.textContent = "";
    const W = Math.max(holder.clientWidth || 600, 280), H = 200, L = 44, R = 8, T = 18, B = 22;
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, "data-quantity": quantity });
    svg.dataset.geometry = JSON.stringify({ W, H, L, R, T, B, t0, t1 }); // lets tests read values back
    holder.appendChild(svg);
    const values = [];
    for (const pts of Object.values(bySensor)) for (const p of pts) if (p[quantity] !== null) values.push(p[quantity]);
    let lo = Math.min(...values, ...band.filter((b) => b !== null));
    let hi = Math.max(...values, ...band.filter((b) => b !== null));
    if (!isFinite(lo) || !isFinite(hi)) { lo = 0; hi = 1; }
    if (hi - lo < 1) { lo -= 0.5; hi += 0.5; }
    const pad = (hi - lo) * 0.08; lo -= pad; hi += pad;
    // quantities with natural limits keep their axis inside them: no negative mould index, no RH
    // above 100 %; MRF and VTT show at least 0–1 (MRF 1 = germination), so a flat zero is low
    if (quantity in FLOOR) lo = Math.max(lo, FLOOR[quantity]);
    if (quantity in CEILING) hi = Math.min(hi, CEILING[quantity]);
    if (quantity in MIN_TOP) hi = Math.max(hi, MIN_TOP[quantity]);
    svg.dataset.lo = String(lo); svg.dataset.hi = String(hi);
    const x = (ms) => L + ((ms - t0) / (t1 - t0)) * (W - L - R);
    const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
    el("text", { x: L, y: 12 }, svg).textContent = unit ? `${label} [${unit}]` : label;
    // alert periods: from the condition's start to its resolution (or to the end shown, if open)
    for (const span of alerts) {
      const a = Math.max(Date.parse(span.start), t0), b = Math.min(span.end ? Date.parse(span.end) : t1, t1);
      if (!(b >= a)) continue;
      const mark = el("rect", { class: "alert-span sev-" + span.severity, x: x(a), y: T, width: Math.max(x(b) - x(a), 1), height: H - T - B, "data-alert": span.id, "data-open": String(!span.end) }, svg);
      el("title", {}, mark).textContent = `${box.dataset.labelAlert} #${span.id}: ${fmtFull(Date.parse(span.start))} – ${span.end ? fmtFull(Date.parse(span.end)) : "…"}`;
    }
    if (band[0] !== null || band[1] !== null) {
      const top = y(band[1] === null ? hi : Math.min(band[1], hi)), bottom = y(band[0] === null ? lo : Math.max(band[0], lo));
      el("rect", { class: "band", x: L, y: top, width: W - L - R, height: Math.max(bottom - top, 0), "data-low": band[0], "data-high": band[1] }, svg);
    }
    for (let i = 0; i <= 4; i++) {
      const v = lo + ((hi - lo) * i) / 4;
      el("line", { class: "axis", x1: L, x2: W - R, y1: y(v), y2: y(v) }, svg);
      el("text", { x: 2, y: y(v) + 4 }, svg).textContent = v.toFixed(quantity === "humidity" ? 0 : hi - lo < 3 ? 2 : 1);
    }
    const ticks = W < 500 ? 3 : 6;
    for (let i = 0; i <= ticks; i++) {
      const ms = t0 + ((t1 - t0) * i) / ticks;
      const text = el("text", { class: "tick-x", x: x(ms), y: H - 6, "text-anchor": i === 0 ? "start" : i === ticks ? "end" : "middle" }, svg);
      text.textContent = fmtTime(ms, t1 - t0);
    }
    const sensors = Object.keys(bySensor).sort();
    sensors.forEach((sensor, i) => {
      const pts = bySensor[sensor].filter((p) => p[quantity] !== null && p.ms >= t0 && p.ms <= t1);
      const d = pts.map((p, j) => (j ? "L" : "M") + x(p.ms).toFixed(1) + " " + y(p[quantity]).toFixed(1)).join("");
      el("path", { class: "series", d: d || "M0 0", stroke: COLOURS[i % COLOURS.length], "data-sensor": sensor, "data-count": pts.length }, svg);
    });
    // hover values, and a brush: drag across to zoom in, double-click to zoom out
    const cursor = el("line", { class: "cursor", y1: T, y2: H - B, visibility: "hidden" }, svg);
    const brush = el("rect", { class: "brush", y: T, height: H - T - B, width: 0, visibility: "hidden" }, svg);
    const tip = document.createElement("div"); tip.className = "tip"; tip.hidden = true; holder.appendChild(tip);
    const toMs = (ev) => { const r = svg.getBoundingClientRect(); const px = ((ev.clientX - r.left) / r.width) * W; return t0 + ((px - L) / (W - L - R)) * (t1 - t0); };
    let dragFrom = null;
    svg.addEventListener("pointermove", (ev) => {
      const ms = toMs(ev);
      if (ms < t0 || ms > t1) { cursor.setAttribute("visibility", "hidden"); tip.hidden = true; return; }
      cursor.setAttribute("x1", x(ms)); cursor.setAttribute("x2", x(ms)); cursor.setAttribute("visibility", "visible");
      const lines = [fmtFull(ms)];
      for (const sensor of sensors) {
        const pts = bySensor[sensor].filter((p) => p[quantity] !== null);
        if (!pts.length) continue;
        let best = pts[0];
        for (const p of pts) if (Math.abs(p.ms - ms) < Math.abs(best.ms - ms)) best = p;
        lines.push(`${sensor}: ${best[quantity].toFixed(quantity === "vtt" || quantity === "mrf" ? 2 : 1)} ${unit}`);
      }
      tip.textContent = lines.join(" · "); tip.hidden = false;
      const left = (x(ms) / W) * holder.clientWidth;
      tip.style.left = Math.min(Math.max(left - tip.offsetWidth / 2, 0), holder.clientWidth - tip.offsetWidth) + "px";
      if (dragFrom !== null) { const a = Math.min(dragFrom, ms), b = Math.max(dragFrom, ms); brush.setAttribute("x", x(a)); brush.setAttribute("width", x(b) - x(a)); brush.setAttribute("visibility", "visible"); }
    });
    svg.addEventListener("pointerleave", () => { cursor.setAttribute("visibility", "hidden"); tip.hidden = true; });
    svg.addEventListener("pointerdown", (ev) => { if (ev.pointerType === "mouse") dragFrom = toMs(ev); });
    svg.addEventListener("pointerup", (ev) => {
      if (dragFrom === null) return;
      const a = Math.min(dragFrom, toMs(ev)), b = Math.max(dragFrom, toMs(ev)); dragFrom = null;
      brush.setAttribute("visibility", "hidden");
      if (b - a > (t1 - t0) / 100) { box.zoom = [Math.max(a, t0), Math.min(b, t1)]; render(); }
    });
    svg.addEventListener("dblclick", () => { box.zoom = null; render(); });
  }

  function render() {
    const data = box.data; if (!data) return;
    const [t0, t1] = box.zoom || [data.start, data.end];
    const bySensor = {};
    for (const p of data.points) (bySensor[p.sensor] = bySensor[p.sensor] || []).push(p);
    const alerts = JSON.parse(box.dataset.alerts || "[]");
    const d = box.dataset;
    const bands = { temperature: [num(d.tMin), num(d.tMax)], humidity: [num(d.rhMin), num(d.rhMax)] };
    for (const holder of box.querySelectorAll(".chart")) {
      const q = holder.dataset.quantity;
      if (!data.points.length) { holder.textContent = d.labelEmpty; continue; }
      const label = holder.dataset.label || (q === "temperature" ? d.labelT : d.labelRh);
      const unit = holder.dataset.unit !== undefined ? holder.dataset.unit : q === "temperature" ? "°C" : "%RH";
      drawChart(holder, q, bySensor, t0, t1, bands[q] || [null, null], label, unit, alerts);
    }
    const inside = (v, band) => v === null || ((band[0] === null || v >= band[0]) && (band[1] === null || v <= band[1]));
    const shown = data.points.filter((p) => p.ms >= t0 && p.ms <= t1 && (p.temperature !== null || p.humidity !== null));
    const ok = shown.filter((p) => inside(p.temperature, bands.temperature) && inside(p.humidity, bands.humidity)).length;
    box.querySelector(".inband").textContent = shown.length ? `${d.labelInband}: ${Math.round((100 * ok) / shown.length)} %` : "";
  }

  async function load(range) {
    const [days, every] = RANGES[range];
    const end = new Date(box.dataset.now), start = new Date(end.getTime() - days * 86400e3);
    const q = new URLSearchParams({ start: start.toISOString(), end: end.toISOString() });
    if (every) q.set("every", every);
    for (const holder of box.querySelectorAll(".chart.derived")) q.append("derived", holder.dataset.quantity);
    const url = `/api/sites/${encodeURIComponent(box.dataset.site)}/rooms/${encodeURIComponent(box.dataset.room)}/history?${q}`;
    const history = await api("GET", url);
    for (const p of history.points) p.ms = Date.parse(p.time);
    box.data = { start: start.getTime(), end: end.getTime(), points: history.points };
    box.zoom = null;
    box.dataset.range = range; box.dataset.every = every || "raw"; box.dataset.points = String(history.points.length);
    for (const b of box.querySelectorAll("button[data-range]")) b.setAttribute("aria-pressed", String(b.dataset.range === range));
    render();
    box.dataset.loaded = range;
  }
  if (box) {
    box.addEventListener("click", (ev) => { const b = ev.target.closest("button[data-range]"); if (b) load(b.dataset.range); });
    let resizeTimer = null;
    window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(render, 150); });
    load("day");
  }

  window.repoclimate = { refresh };
})();
