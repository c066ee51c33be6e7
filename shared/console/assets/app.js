/*
 * muara operator console: a dependency-free single-page application.
 *
 * Served at /console under a strict Content-Security-Policy, so: no inline code, no inline
 * styles, nothing fetched from elsewhere. Every piece of data is put on the page with
 * textContent / setAttribute through the `h` helper below, never as HTML. The bearer token
 * lives in sessionStorage and travels only in the Authorization header.
 *
 * Layout of this file: helpers (DOM, formatting, API) → shell (flash, confirm dialog, header,
 * router) → login → one function per view → SVG charts → start-up.
 */
"use strict";

(() => {
  const TOKEN_KEY = "muara.token";
  const ROLES = ["viewer", "operator", "admin"];
  const SVG_NS = "http://www.w3.org/2000/svg";
  /** The configuration tables in the order they are shown (any others follow). */
  const CONFIG_TABLES = [
    "client_config", "column_mapping", "required_columns", "transformation_config",
    "integration_config", "integration_dependencies", "mv_refresh_config",
  ];
  const BATCH_STATUSES = ["RUNNING", "SUCCESS", "PARTIAL", "FAILED", "NO_FILES", "INTERRUPTED"];
  const KEYWORD_KINDS = ["opening", "booking", "transaction"];

  const state = {
    me: null,        // GET /me: {subject, role, via}
    config: null,    // GET /console/config.json
    seq: 0,          // bumped on every navigation; a view whose number is stale stops drawing
    timer: null,     // the current view's auto-refresh timer
  };

  // ---------------------------------------------------------------------------------------
  // DOM helpers
  // ---------------------------------------------------------------------------------------

  /**
   * Creates an element. `attrs`: `class`, `text`, `on<event>` (functions only), boolean
   * properties (checked, disabled, …) and plain attributes (set with setAttribute, so data
   * never becomes markup). Children: nodes, strings (as text), arrays; null/false skipped.
   */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    applyAttrs(el, attrs);
    append(el, children);
    return el;
  }

  /** The same for SVG elements. */
  function svg(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    applyAttrs(el, attrs);
    append(el, children);
    return el;
  }

  const PROPS = new Set(["checked", "disabled", "readOnly", "required", "selected", "value", "hidden", "multiple"]);

  function applyAttrs(el, attrs) {
    if (!attrs) return;
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false && !PROPS.has(k)) continue;
      if (k === "class") el.setAttribute("class", Array.isArray(v) ? v.filter(Boolean).join(" ") : v);
      else if (k === "text") el.textContent = String(v);
      else if (k.startsWith("on")) { if (typeof v === "function") el.addEventListener(k.slice(2), v); }
      else if (PROPS.has(k)) el[k] = v;
      else el.setAttribute(k, v === true ? "" : String(v));
    }
  }

  /** Appends children (nodes, strings, nested arrays; null/false skipped); returns `el`. */
  function append(el, ...children) {
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      if (Array.isArray(c)) append(el, ...c);
      else el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
    return el;
  }

  const $ = (sel, root = document) => root.querySelector(sel);

  // ---------------------------------------------------------------------------------------
  // Formatting
  // ---------------------------------------------------------------------------------------

  const DASH = "—";

  /** ms → "340 ms", "1.2 s", "3 min 4 s", "2 h 5 min". */
  function fmtDuration(ms) {
    if (ms === null || ms === undefined || Number.isNaN(Number(ms))) return DASH;
    ms = Number(ms);
    if (ms < 1000) return `${Math.round(ms)} ms`;
    const s = ms / 1000;
    if (s < 60) return `${s.toFixed(1)} s`;
    const total = Math.round(s);
    if (total < 3600) return `${Math.floor(total / 60)} min ${total % 60} s`;
    return `${Math.floor(total / 3600)} h ${Math.floor((total % 3600) / 60)} min`;
  }

  /** An RFC 3339 time in the browser's local time; the raw value goes in the tooltip. */
  function fmtTime(iso) {
    if (!iso) return DASH;
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    return d.toLocaleString(undefined, {
      year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
  }

  function timeCell(iso) {
    return h("span", { class: "time", title: iso || undefined, text: fmtTime(iso) });
  }

  function fmtNum(n) {
    if (n === null || n === undefined || n === "") return DASH;
    const x = Number(n);
    return Number.isFinite(x) ? x.toLocaleString() : String(n);
  }

  /** A fraction (0.42) as "42.0 %". */
  function fmtPct(f) {
    if (f === null || f === undefined || !Number.isFinite(Number(f))) return DASH;
    return `${(Number(f) * 100).toFixed(1)} %`;
  }

  function fmtBytes(n) {
    if (n === null || n === undefined) return DASH;
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
    return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  }

  function fmtJson(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "string") {
      try { return JSON.stringify(JSON.parse(v), null, 2); } catch { return v; }
    }
    return JSON.stringify(v, null, 2);
  }

  /** The text shown for a plain value in a table cell. */
  function show(v) {
    if (v === null || v === undefined || v === "") return DASH;
    if (Array.isArray(v)) return v.length ? v.join(", ") : DASH;
    if (typeof v === "object") return JSON.stringify(v);
    if (typeof v === "boolean") return v ? "yes" : "no";
    return String(v);
  }

  /** A coloured status badge. */
  function badge(status) {
    if (!status) return h("span", { class: "muted", text: DASH });
    const s = String(status).toUpperCase();
    let tone = "neutral";
    if (["SUCCEEDED", "SUCCESS", "PASSED", "OK", "SENT", "STARTED", "BALANCED"].includes(s)) tone = "ok";
    else if (["FAILED", "ERROR", "INTERRUPTED", "ABORTED", "TIMED_OUT", "BROKEN"].includes(s)) tone = "bad";
    else if (["RUNNING", "IN_PROGRESS"].includes(s)) tone = "run";
    else if (["PARTIAL", "WARNING", "RETRIED", "PENDING"].includes(s)) tone = "warn";
    return h("span", { class: `badge badge-${tone}`, text: status });
  }

  function mono(v) {
    return h("span", { class: "mono", text: show(v) });
  }

  function pre(v) {
    const text = fmtJson(v);
    return text ? h("pre", { class: "json", text }) : h("span", { class: "muted", text: DASH });
  }

  const isoDay = (d) => {
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
  };
  const addDays = (d, n) => new Date(d.getFullYear(), d.getMonth(), d.getDate() + n);

  // ---------------------------------------------------------------------------------------
  // API
  // ---------------------------------------------------------------------------------------

  const getToken = () => sessionStorage.getItem(TOKEN_KEY);

  /**
   * The one way the console talks to the platform: adds the bearer token, sends `body` as
   * JSON, parses the JSON answer. A non-2xx answer throws an Error with `status` and the
   * server's `error` message; a 401 also ends the session and shows the login view.
   * `opts.as = "blob"` returns the body as a Blob (the CSV download).
   */
  async function api(method, path, body, opts = {}) {
    const headers = { Accept: opts.as === "blob" ? "*/*" : "application/json" };
    const token = getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    const init = { method, headers, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw Object.assign(new Error(`The platform cannot be reached (${e.message}).`), { status: 0 });
    }
    if (res.ok && opts.as === "blob") return res.blob();
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = null; }
    }
    if (!res.ok) {
      const message = data && typeof data.error === "string" && data.error
        ? data.error
        : `${res.status} ${res.statusText || "error"}`;
      const err = Object.assign(new Error(message), { status: res.status, data });
      if (res.status === 401 && path !== "/console/config.json") sessionEnded(message);
      throw err;
    }
    if (text && data === null) {
      throw Object.assign(new Error(`${method} ${path} did not answer JSON`), { status: res.status });
    }
    return data;
  }

  /** Builds "?a=1&b=2" from the non-empty entries of `params`. */
  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
    }
    const s = q.toString();
    return s ? `?${s}` : "";
  }

  const enc = encodeURIComponent;

  // ---------------------------------------------------------------------------------------
  // Roles
  // ---------------------------------------------------------------------------------------

  /** Whether the signed-in actor has at least `role`. */
  function can(role) {
    if (!state.me) return false;
    return ROLES.indexOf(state.me.role) >= ROLES.indexOf(role);
  }

  // ---------------------------------------------------------------------------------------
  // Flash messages and the confirmation dialog
  // ---------------------------------------------------------------------------------------

  /** Shows a message: kind "ok" or "error". */
  function flash(kind, message) {
    const el = $("#flash");
    clear(el);
    el.className = kind;
    el.appendChild(h("span", { class: "flash-text", text: message }));
    el.appendChild(h("button", {
      type: "button", class: "flash-close", "aria-label": "Dismiss", title: "Dismiss",
      onclick: clearFlash,
    }));
    el.hidden = false;
  }

  function clearFlash() {
    const el = $("#flash");
    clear(el);
    el.className = "";
    el.hidden = true;
  }

  const flashError = (err) => flash("error", err && err.message ? err.message : String(err));

  let confirmResolve = null;
  let lastFocus = null;

  /** Asks before an action; resolves true (yes) or false (no, Escape, backdrop). */
  function confirmDialog(title, text, yesLabel = "Confirm", danger = false) {
    const modal = $("#confirm");
    $("#confirm-title").textContent = title;
    $("#confirm-text").textContent = text;
    const yes = $("#confirm-yes");
    yes.textContent = yesLabel;
    yes.className = danger ? "danger" : "primary";
    modal.hidden = false;
    lastFocus = document.activeElement;
    yes.focus();
    if (confirmResolve) confirmResolve(false);
    return new Promise((resolve) => { confirmResolve = resolve; });
  }

  function closeConfirm(answer) {
    $("#confirm").hidden = true;
    if (lastFocus && lastFocus.isConnected && typeof lastFocus.focus === "function") lastFocus.focus();
    lastFocus = null;
    const resolve = confirmResolve;
    confirmResolve = null;
    if (resolve) resolve(answer);
  }

  /** Disables a button while `work` runs (so a double click sends one request). */
  async function busy(button, work) {
    if (button) button.disabled = true;
    try {
      return await work();
    } finally {
      if (button && button.isConnected) button.disabled = false;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Shell: header, router, view lifecycle
  // ---------------------------------------------------------------------------------------

  function renderHeader() {
    const bar = $("#topbar");
    if (!state.me) {
      bar.hidden = true;
      return;
    }
    bar.hidden = false;
    const who = clear($("#whoami"));
    who.appendChild(h("span", { class: "subject", text: state.me.subject }));
    who.appendChild(h("span", { class: `role role-${state.me.role}`, text: state.me.role }));
    for (const a of document.querySelectorAll("a[data-nav=audit], a[data-nav=tokens]")) {
      a.hidden = !can("admin");
    }
  }

  function markNav(section) {
    for (const a of document.querySelectorAll("a[data-nav]")) {
      a.classList.toggle("active", a.dataset.nav === section);
    }
  }

  /** The routes: hash pattern → view. Captured groups are URI-decoded. */
  const ROUTES = [
    [/^\/clients$/, "clients", viewClients],
    [/^\/clients\/([^/]+)$/, "clients", viewClient],
    [/^\/clients\/([^/]+)\/batches$/, "clients", viewBatches],
    [/^\/clients\/([^/]+)\/batches\/([^/]+)$/, "clients", viewBatch],
    [/^\/kpis$/, "kpis", viewKpis],
    [/^\/recordings$/, "recordings", viewRecordings],
    [/^\/events$/, "events", viewEvents],
    [/^\/funnel$/, "funnel", viewFunnel],
    [/^\/dead-letters$/, "dead-letters", viewDeadLetters],
    [/^\/audit$/, "audit", viewAudit],
    [/^\/tokens$/, "tokens", viewTokens],
  ];

  function stopTimer() {
    if (state.timer) clearTimeout(state.timer);
    state.timer = null;
  }

  /**
   * A view's handle: `alive()` is false once the user has navigated away (or the session
   * ended), so late answers are dropped; `show(...)` replaces the page content;
   * `reload()` draws the same view again (keeping the flash message).
   */
  function makeCtx(seq, render, args) {
    const ctx = {
      alive: () => seq === state.seq,
      show(...nodes) {
        if (!ctx.alive()) return;
        const view = $("#view");
        view.classList.remove("stale");
        append(clear(view), nodes);
      },
      // Draws the view again; the old content stays (dimmed) until the new one is ready.
      reload() {
        if (!ctx.alive()) return;
        stopTimer();
        $("#view").classList.add("stale");
        Promise.resolve()
          .then(() => render(ctx, ...args))
          .catch((err) => ctx.show(errorBox(err, ctx)));
      },
    };
    return ctx;
  }

  /** Draws the view named by the location hash. */
  function route() {
    stopTimer();
    const seq = ++state.seq;
    if (!getToken() || !state.me) {
      renderLogin();
      return;
    }
    renderHeader();
    const raw = location.hash.replace(/^#/, "") || "/clients";
    const path = raw.split("?")[0].replace(/\/+$/, "") || "/clients";
    for (const [re, section, render] of ROUTES) {
      const m = re.exec(path);
      if (!m) continue;
      markNav(section);
      let args;
      try {
        args = m.slice(1).map(decodeURIComponent);
      } catch {
        break;
      }
      // "." and ".." would become path segments of the API calls: no such page.
      if (args.some((a) => a === "." || a === "..")) break;
      const ctx = makeCtx(seq, render, args);
      loading();
      Promise.resolve()
        .then(() => render(ctx, ...args))
        .catch((err) => { if (ctx.alive()) ctx.show(errorBox(err, ctx)); });
      return;
    }
    markNav(null);
    append(clear($("#view")), h("div", { class: "error-box" },
      h("p", { text: `There is no page ${path}.` }),
      h("a", { href: "#/clients", text: "Go to the clients" })));
  }

  function loading() {
    const view = $("#view");
    view.classList.remove("stale");
    append(clear(view), h("p", { class: "loading", text: "Loading…" }));
  }

  /** What a view shows when its data could not be read: the reason and a retry button. */
  function errorBox(err, ctx) {
    const status = err && err.status;
    let hint = null;
    if (status === 403) hint = `Your role (${state.me ? state.me.role : "?"}) may not see this page.`;
    else if (status === 0 || status === 503) hint = "The platform or its database is not answering; try again shortly.";
    return h("div", { class: "error-box", role: "alert" },
      h("p", { class: "error-title", text: status ? `Error ${status}` : "Error" }),
      h("p", { text: err && err.message ? err.message : String(err) }),
      hint && h("p", { class: "muted", text: hint }),
      ctx && h("button", { type: "button", text: "Retry", onclick: () => ctx.reload() }));
  }

  /** A 401 anywhere: forget the token and ask to sign in again. */
  function sessionEnded(message) {
    const wasIn = !!state.me;
    sessionStorage.removeItem(TOKEN_KEY);
    state.me = null;
    stopTimer();
    clearFlash();
    closeConfirm(false);
    state.seq++;
    renderLogin(wasIn ? `Signed out: ${message}` : `Sign-in refused: ${message}`);
  }

  function logout() {
    sessionStorage.removeItem(TOKEN_KEY);
    state.me = null;
    clearFlash();
    route();
  }

  /** Reads GET /me with the stored token; then draws the requested page. */
  async function signedIn() {
    const me = await api("GET", "/me");
    state.me = me;
    clearFlash();
    renderHeader();
    route();
  }

  // ---------------------------------------------------------------------------------------
  // Generic building blocks: page heading, tables, forms, cards
  // ---------------------------------------------------------------------------------------

  function pageHead(title, ...extra) {
    return h("div", { class: "page-head" }, h("h1", { text: title }), h("div", { class: "page-tools" }, extra));
  }

  /**
   * A table. `cols`: [{key, label, cell(row) → node|string, cls}]; every cell gets
   * data-field=key. `rowAttrs(row)` gives the <tr> attributes.
   */
  function table(cols, rows, opts = {}) {
    const thClass = (cls) => (cls || "").split(" ").filter((x) => x === "num" || x === "actions").join(" ") || null;
    const head = h("tr", null, cols.map((c) => h("th", { class: thClass(c.cls), text: c.label ?? c.key })));
    const body = h("tbody");
    for (const row of rows) {
      const tr = h("tr", opts.rowAttrs ? opts.rowAttrs(row) : null);
      for (const c of cols) {
        const v = c.cell ? c.cell(row) : show(row[c.key]);
        tr.appendChild(h("td", { "data-field": c.key, class: c.cls }, v));
      }
      body.appendChild(tr);
    }
    if (!rows.length) {
      body.appendChild(h("tr", { class: "empty" },
        h("td", { colspan: cols.length, text: opts.empty || "Nothing to show." })));
    }
    return h("div", { class: "table-wrap" },
      h("table", { class: "grid", "data-table": opts.name }, h("thead", null, head), body));
  }

  function section(title, ...children) {
    return h("section", { class: "panel" }, h("h2", { text: title }), children);
  }

  /** A labelled form control. */
  function field(label, control) {
    return h("label", { class: "field" }, h("span", { class: "field-label", text: label }), control);
  }

  function select(name, options, value) {
    const el = h("select", { name },
      options.map((o) => {
        const [v, label] = Array.isArray(o) ? o : [o, o];
        return h("option", { value: v, text: label });
      }));
    const want = String(value ?? "");
    if ([...el.options].some((o) => o.value === want)) el.value = want;
    return el;
  }

  /** A row of figure cards: [[label, value], …]. */
  function cards(items) {
    return h("div", { class: "cards" }, items.map(([label, value, tone]) =>
      h("div", { class: ["card", tone && `card-${tone}`] },
        h("div", { class: "card-value", text: value }),
        h("div", { class: "card-label", text: label }))));
  }

  function legend(items) {
    return h("div", { class: "legend" }, items.map(([cls, label]) =>
      h("span", { class: "legend-item" }, h("span", { class: `swatch ${cls}` }), label)));
  }

  // ---------------------------------------------------------------------------------------
  // Login
  // ---------------------------------------------------------------------------------------

  /** The login view: a token field, or Cognito user and password. */
  async function renderLogin(message) {
    const seq = state.seq;
    renderHeader();
    markNav(null);
    loading();
    if (!state.config) {
      try {
        state.config = await api("GET", "/console/config.json");
      } catch (err) {
        if (seq !== state.seq) return;
        append(clear($("#view")), h("div", { class: "login" },
          errorBox(err, { reload: () => renderLogin(message) })));
        return;
      }
    }
    if (seq !== state.seq) return;
    const box = h("div", { class: "login" }, h("h1", { text: "muara console" }));
    const msg = h("p", { id: "login-message", class: "login-message", role: "alert" });
    if (message) msg.textContent = message;
    if (state.config.auth === "cognito") box.appendChild(cognitoForm(msg));
    else box.appendChild(tokenForm(msg));
    box.appendChild(msg);
    append(clear($("#view")), box);
    const first = box.querySelector("input");
    if (first) first.focus();
  }

  function tokenForm(msg) {
    const input = h("input", { id: "login-token", type: "password", autocomplete: "off", required: true, spellcheck: "false" });
    const submit = h("button", { id: "login-submit", type: "submit", class: "primary", text: "Sign in" });
    return h("form", {
      id: "login-form", class: "stack",
      onsubmit: async (e) => {
        e.preventDefault();
        const token = input.value.trim();
        if (!token) return;
        msg.textContent = "";
        sessionStorage.setItem(TOKEN_KEY, token);
        await busy(submit, async () => {
          try { await signedIn(); } catch (err) { showLoginError(err); }
        });
      },
    },
    field("API token", input),
    h("p", { class: "muted small", text: "Made with `muara token create --role ROLE --name NAME` or on the Tokens page." }),
    submit);
  }

  /** After a failed sign-in: a 401 already redrew the login view; anything else is shown here. */
  function showLoginError(err) {
    if (err.status === 401) return;
    sessionStorage.removeItem(TOKEN_KEY);
    const m = $("#login-message");
    if (m) m.textContent = err.message;
  }

  /** Calls the Cognito user-pool API (the only request that leaves the platform's origin). */
  async function cognito(target, body) {
    const region = String(state.config.region || "");
    if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) throw new Error(`bad Cognito region ${JSON.stringify(region)}`);
    let res;
    try {
      res = await fetch(`https://cognito-idp.${region}.amazonaws.com/`, {
        method: "POST",
        credentials: "omit",
        headers: {
          "Content-Type": "application/x-amz-json-1.1",
          "X-Amz-Target": `AWSCognitoIdentityProviderService.${target}`,
        },
        body: JSON.stringify(body),
      });
    } catch (e) {
      throw new Error(`Cognito cannot be reached (${e.message}).`);
    }
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.message || data.__type || `Cognito answered ${res.status}`);
    return data;
  }

  function cognitoForm(msg) {
    const user = h("input", { id: "login-user", type: "text", autocomplete: "username", required: true });
    const pass = h("input", { id: "login-password", type: "password", autocomplete: "current-password", required: true });
    const submit = h("button", { id: "login-submit", type: "submit", class: "primary", text: "Sign in" });
    const form = h("form", {
      id: "login-form", class: "stack",
      onsubmit: async (e) => {
        e.preventDefault();
        msg.textContent = "";
        await busy(submit, async () => {
          try {
            const answer = await cognito("InitiateAuth", {
              AuthFlow: "USER_PASSWORD_AUTH",
              ClientId: state.config.client_id,
              AuthParameters: { USERNAME: user.value.trim(), PASSWORD: pass.value },
            });
            await cognitoAnswer(answer, user.value.trim(), form, msg);
          } catch (err) {
            showLoginError(err);
          }
        });
      },
    }, field("User", user), field("Password", pass), submit);
    return form;
  }

  /** Uses an InitiateAuth / RespondToAuthChallenge answer: a token, or the next challenge. */
  async function cognitoAnswer(answer, username, form, msg) {
    if (answer.AuthenticationResult && answer.AuthenticationResult.IdToken) {
      sessionStorage.setItem(TOKEN_KEY, answer.AuthenticationResult.IdToken);
      await signedIn();
      return;
    }
    if (answer.ChallengeName !== "NEW_PASSWORD_REQUIRED") {
      throw new Error(`Cognito asks for ${answer.ChallengeName || "an unknown step"}, which the console does not support.`);
    }
    // First sign-in with a temporary password: ask for the new one.
    const params = answer.ChallengeParameters || {};
    const who = params.USER_ID_FOR_SRP || username;
    const pw = h("input", { id: "login-new-password", type: "password", autocomplete: "new-password", required: true });
    const pw2 = h("input", { id: "login-new-password-again", type: "password", autocomplete: "new-password", required: true });
    const submit = h("button", { id: "login-submit", type: "submit", class: "primary", text: "Set password and sign in" });
    const next = h("form", {
      id: "login-form", class: "stack",
      onsubmit: async (e) => {
        e.preventDefault();
        if (pw.value !== pw2.value) {
          msg.textContent = "The two passwords differ.";
          return;
        }
        msg.textContent = "";
        await busy(submit, async () => {
          try {
            const again = await cognito("RespondToAuthChallenge", {
              ChallengeName: "NEW_PASSWORD_REQUIRED",
              ClientId: state.config.client_id,
              Session: answer.Session,
              ChallengeResponses: { USERNAME: who, NEW_PASSWORD: pw.value },
            });
            await cognitoAnswer(again, username, next, msg);
          } catch (err) {
            showLoginError(err);
          }
        });
      },
    },
    h("p", { text: "Choose a new password to finish your first sign-in." }),
    field("New password", pw), field("New password again", pw2), submit);
    form.replaceWith(next);
    pw.focus();
  }

  // ---------------------------------------------------------------------------------------
  // Clients
  // ---------------------------------------------------------------------------------------

  async function viewClients(ctx) {
    const data = await api("GET", "/clients");
    const clients = data.clients || [];
    const list = table([
      { key: "client", label: "Client", cell: (c) => h("a", { href: `#/clients/${enc(c.client)}`, class: "mono", text: c.client }) },
      { key: "client_id", label: "Id", cls: "num" },
      { key: "is_active", label: "Active", cell: (c) => (c.is_active ? "yes" : h("span", { class: "muted", text: "no" })) },
      {
        key: "last_batch_id", label: "Last batch",
        cell: (c) => (c.last_batch_id
          ? h("a", { class: "mono", href: `#/clients/${enc(c.client)}/batches/${enc(c.last_batch_id)}`, text: c.last_batch_id })
          : DASH),
      },
      { key: "last_status", label: "Status", cell: (c) => badge(c.last_status) },
      { key: "last_started_at", label: "Started", cell: (c) => timeCell(c.last_started_at) },
      { key: "links", label: "", cell: (c) => h("a", { href: `#/clients/${enc(c.client)}/batches`, text: "Batches" }) },
    ], clients, { name: "clients", rowAttrs: (c) => ({ "data-client": c.client }), empty: "No client yet." });

    let form = null;
    if (can("admin")) {
      const input = h("input", { name: "client", required: true, placeholder: "acme", title: "lowercase letters, digits and _, starting with a letter" });
      const submit = h("button", { type: "submit", class: "primary", text: "Create client" });
      form = h("form", {
        id: "new-client", class: "inline-form",
        onsubmit: async (e) => {
          e.preventDefault();
          await busy(submit, async () => {
            try {
              const r = await api("POST", "/clients", { client: input.value.trim() });
              flash("ok", `Client ${r.client ? r.client.client : input.value.trim()} created.`);
              ctx.reload();
            } catch (err) {
              flashError(err);
            }
          });
        },
      }, field("New client", input), submit);
    }
    ctx.show(pageHead("Clients", h("span", { class: "muted", text: `${clients.length} client(s)` })), form, list);
  }

  // ---------------------------------------------------------------------------------------
  // Client configuration (generic editor driven by the "schema" of GET /clients/{c}/config)
  // ---------------------------------------------------------------------------------------

  async function viewClient(ctx, client) {
    const data = await api("GET", `/clients/${enc(client)}/config`);
    const schema = data.schema || {};
    const tables = data.tables || {};
    const names = [...CONFIG_TABLES.filter((t) => schema[t]), ...Object.keys(schema).filter((t) => !CONFIG_TABLES.includes(t))];
    const base = `/clients/${enc(client)}/config`;
    const sections = names.map((t) => configSection(ctx, base, t, schema[t], tables[t] || [], schema, tables));
    ctx.show(
      pageHead(`Client ${client}`,
        h("span", { class: "muted mono", text: `id ${show(data.client_id)}` }),
        h("a", { id: "client-batches-link", class: "button", href: `#/clients/${enc(client)}/batches`, text: "Batches →" })),
      h("p", { class: "muted", text: "Batch configuration of this client. Changes apply to the next batch." }),
      sections);
  }

  /** The id that names a row in the PUT/DELETE URL (a composite key joins its parts). */
  function rowKey(spec, row) {
    const key = spec.key;
    if (Array.isArray(key)) return key.map((k) => row[k]).join(",");
    return row[key] === undefined || row[key] === null ? "" : String(row[key]);
  }

  /**
   * The choices of a `ref` field: its own `options`, else the rows of the table whose key is
   * this field (or named by `ref`/`table`), labelled with their first text field.
   */
  function refChoices(f, schema, tables) {
    if (Array.isArray(f.options) && f.options.length) return f.options.map((o) => (typeof o === "object" ? [o.value, o.label ?? o.value] : [o, o]));
    let target = f.ref || f.table;
    if (!target) target = Object.keys(schema).find((t) => schema[t].key === f.name);
    if (!target && /^depends_on_id$/.test(f.name)) target = "integration_config";
    if (!target || !schema[target]) return null;
    const spec = schema[target];
    const labelField = spec.fields.find((x) => x.type === "text" && x.name !== spec.key);
    return (tables[target] || []).map((r) => {
      const id = rowKey(spec, r);
      return [id, labelField ? `${id} · ${show(r[labelField.name])}` : id];
    });
  }

  function configSection(ctx, base, name, spec, rows, schema, tables) {
    const fields = spec.fields || [];
    const keyShown = !Array.isArray(spec.key) && !fields.some((f) => f.name === spec.key);
    const admin = can("admin");
    const cols = (keyShown ? [spec.key] : []).concat(fields.map((f) => f.name));
    const tbody = h("tbody");
    const headRow = h("tr", null, cols.map((c) => h("th", { text: c })), admin && h("th", { class: "actions", text: "" }));
    const tbl = h("table", { class: "grid", "data-table": name }, h("thead", null, headRow), tbody);

    /** A row as text cells (and, for admins, edit/delete buttons). */
    function viewRow(row) {
      const key = rowKey(spec, row);
      const tr = h("tr", { "data-key": key });
      if (keyShown) tr.appendChild(h("td", { "data-field": spec.key, class: "mono" }, show(row[spec.key])));
      for (const f of fields) {
        let cell;
        if (f.type === "json") cell = row[f.name] == null ? DASH : h("code", { text: JSON.stringify(row[f.name]) });
        else if (f.type === "bool") cell = row[f.name] == null ? DASH : (row[f.name] ? "yes" : "no");
        else cell = show(row[f.name]);
        tr.appendChild(h("td", { "data-field": f.name, class: [f.type === "int" || f.type === "ref" ? "num" : null, f.type === "json" ? "jsoncell" : null] }, cell));
      }
      if (admin) {
        tr.appendChild(h("td", { class: "actions" },
          h("button", { type: "button", class: "small", "data-action": "edit", text: "Edit", onclick: () => tr.replaceWith(editRow(row, tr)) }),
          h("button", {
            type: "button", class: "small danger-text", "data-action": "delete", text: "Delete",
            onclick: async (e) => {
              const yes = await confirmDialog(`Delete from ${name}?`, `Row ${key} of ${name} will be deleted.`, "Delete", true);
              if (!yes) return;
              await busy(e.target, async () => {
                try {
                  await api("DELETE", `${base}/${enc(name)}/${enc(key)}`);
                  flash("ok", `Deleted row ${key} from ${name}.`);
                  ctx.reload();
                } catch (err) {
                  flashError(err);
                }
              });
            },
          })));
      }
      return tr;
    }

    /** A row as a form; `row` null for a new row. `previous` is put back on cancel. */
    function editRow(row, previous) {
      const tr = h("tr", { class: "editing", "data-key": row ? rowKey(spec, row) : "new" });
      if (keyShown) tr.appendChild(h("td", { "data-field": spec.key, class: "mono" }, row ? show(row[spec.key]) : "new"));
      const inputs = fields.map((f) => {
        const input = fieldInput(f, row ? row[f.name] : undefined, schema, tables);
        tr.appendChild(h("td", { "data-field": f.name }, input));
        return [f, input];
      });
      const save = h("button", {
        type: "button", class: "small primary", "data-action": "save", text: "Save",
        onclick: async () => {
          let body;
          try {
            body = collect(inputs);
          } catch (err) {
            flashError(err);
            return;
          }
          await busy(save, async () => {
            try {
              if (row) await api("PUT", `${base}/${enc(name)}/${enc(rowKey(spec, row))}`, body);
              else await api("POST", `${base}/${enc(name)}`, body);
              flash("ok", row ? `Saved row ${rowKey(spec, row)} of ${name}.` : `Added a row to ${name}.`);
              ctx.reload();
            } catch (err) {
              flashError(err);
            }
          });
        },
      });
      const cancel = h("button", {
        type: "button", class: "small", "data-action": "cancel", text: "Cancel",
        onclick: () => { if (previous) tr.replaceWith(previous); else tr.remove(); },
      });
      tr.appendChild(h("td", { class: "actions" }, save, cancel));
      tr.addEventListener("keydown", (e) => {
        if (e.key === "Enter" && e.target.tagName === "INPUT") { e.preventDefault(); save.click(); }
        if (e.key === "Escape") cancel.click();
      });
      return tr;
    }

    for (const r of rows) tbody.appendChild(viewRow(r));
    if (!rows.length) tbody.appendChild(h("tr", { class: "empty" }, h("td", { colspan: cols.length + (admin ? 1 : 0), text: "No rows." })));

    const add = admin && h("button", {
      type: "button", class: "small", "data-action": "add", text: "Add row",
      onclick: () => {
        const empty = tbody.querySelector("tr.empty");
        if (empty) empty.remove();
        const tr = editRow(null, null);
        tbody.appendChild(tr);
        const first = tr.querySelector("input, select, textarea");
        if (first) first.focus();
      },
    });
    return h("section", { class: "panel", "data-config-table": name },
      h("div", { class: "panel-head" },
        h("h2", null, name, h("span", { class: "count", text: String(rows.length) })),
        spec.parent ? h("span", { class: "muted small", text: `belongs to ${spec.parent}` }) : null,
        add),
      h("div", { class: "table-wrap" }, tbl));
  }

  /** The control for one schema field (named after it). */
  function fieldInput(f, value, schema, tables) {
    const req = !!f.required;
    switch (f.type) {
      case "bool":
        // A new row: the schema's default if it gives one, else only is_active is on.
        return h("input", { type: "checkbox", name: f.name, checked: value === undefined ? !!(f.default ?? f.name === "is_active") : !!value });
      case "int":
        return h("input", { type: "number", step: "1", name: f.name, value: value ?? "", required: req });
      case "enum": {
        const opts = (f.options || []).map((o) => [o, o]);
        if (value != null && !opts.some(([o]) => String(o) === String(value))) opts.push([value, value]);
        if (!req) opts.unshift(["", DASH]);
        return select(f.name, opts, value ?? (req && opts.length ? opts[0][0] : ""));
      }
      case "json":
        return h("textarea", { name: f.name, rows: 3, spellcheck: "false", value: value == null ? "" : JSON.stringify(value, null, 2) });
      case "ref": {
        const choices = refChoices(f, schema, tables);
        if (choices) {
          // Never let the control silently change a value it does not list.
          if (value != null && !choices.some(([c]) => String(c) === String(value))) choices.push([String(value), String(value)]);
          if (!req) choices.unshift(["", DASH]);
          return select(f.name, choices, value ?? "");
        }
        return h("input", { type: "number", step: "1", name: f.name, value: value ?? "", required: req });
      }
      default:
        return h("input", { type: "text", name: f.name, value: value ?? "", required: req, spellcheck: "false" });
    }
  }

  /** The body of a PUT/POST from the controls; throws on a value that cannot be sent. */
  function collect(inputs) {
    const body = {};
    for (const [f, input] of inputs) {
      const raw = input.type === "checkbox" ? input.checked : input.value;
      let v;
      if (f.type === "bool") v = !!raw;
      else if (raw === "") v = null;
      else if (f.type === "int" || (f.type === "ref" && /^-?\d+$/.test(raw))) {
        v = Number(raw);
        if (!Number.isInteger(v)) throw new Error(`${f.name} must be a whole number`);
      } else if (f.type === "json") {
        try { v = JSON.parse(raw); } catch (e) { throw new Error(`${f.name} is not valid JSON: ${e.message}`); }
      } else v = raw;
      if (v === null && f.required) throw new Error(`${f.name} is required`);
      body[f.name] = v;
    }
    return body;
  }

  // ---------------------------------------------------------------------------------------
  // Batches
  // ---------------------------------------------------------------------------------------

  const MODE_TEXT = {
    start: (c) => `Start a new batch for ${c} from the files waiting in incoming/?`,
    restart: (c, b) => `Restart ${b} of ${c}: its failed files run again from the raw files.`,
    reprocessing: (c, b) => `Reprocess ${b} of ${c}: its files are validated and loaded again from Parquet.`,
    refresh: (c, b) => `Run the SQL steps and view refreshes of ${b} of ${c} again?`,
  };

  /** Asks, then POSTs a run request; the outcome goes to the flash. Resolves true if sent. */
  async function runBatch(client, mode, batchId, button) {
    const yes = await confirmDialog(`${mode[0].toUpperCase()}${mode.slice(1)} ${batchId || "a batch"}?`,
      MODE_TEXT[mode](client, batchId), mode === "start" ? "Start" : `Run ${mode}`);
    if (!yes) return false;
    return busy(button, async () => {
      try {
        const body = batchId ? { mode, batch_id: batchId } : { mode };
        const r = await api("POST", `/clients/${enc(client)}/batches`, body);
        flash("ok", describeOutcome(r));
        return true;
      } catch (err) {
        flashError(err);
        return false;
      }
    });
  }

  function describeOutcome(r) {
    switch (r.outcome) {
      case "started": return `started: ${r.batch_id || ""} (${r.name || r.execution_id || "execution"})`;
      case "duplicate": return `duplicate: ${r.name || ""} already exists; nothing new was started.`;
      case "busy": return `busy: ${r.detail || "another batch of this client is running."}`;
      case "nothing_to_do": return `nothing_to_do: ${r.detail || "no new file is waiting."}`;
      case "unknown_client": return `unknown_client: ${r.moved_to_failed ?? 0} file(s) moved to failed/.`;
      default: return `${r.outcome || "answer"}: ${JSON.stringify(r)}`;
    }
  }

  function runButton(client, mode, batchId, label, after) {
    return h("button", {
      type: "button", class: "small", "data-action": mode, text: label,
      onclick: async (e) => { if (await runBatch(client, mode, batchId, e.currentTarget)) after(); },
    });
  }

  async function viewBatches(ctx, client) {
    const limitSel = select("limit", ["50", "200", "1000"], ctx.limit || "50");
    const data = await api("GET", `/clients/${enc(client)}/batches${query({ limit: ctx.limit || 50 })}`);
    const batches = data.batches || [];
    const operator = can("operator");
    const statuses = [...new Set([...BATCH_STATUSES, ...batches.map((b) => b.status).filter(Boolean)])];
    const statusSel = select("status", [["", "All statuses"], ...statuses], "");
    const idFilter = h("input", { type: "search", name: "batch", placeholder: "BATCH0000…", class: "mono" });
    const holder = h("div");

    const draw = () => {
      const st = statusSel.value;
      const text = idFilter.value.trim().toUpperCase();
      const shown = batches.filter((b) => (!st || b.status === st) && (!text || String(b.batch_id).toUpperCase().includes(text)));
      append(clear(holder), table([
        { key: "batch_id", label: "Batch", cell: (b) => h("a", { class: "mono", href: `#/clients/${enc(client)}/batches/${enc(b.batch_id)}`, text: b.batch_id }) },
        { key: "status", label: "Status", cell: (b) => badge(b.status) },
        { key: "mode", label: "Last mode" },
        { key: "executions", label: "Runs", cls: "num" },
        { key: "files", label: "Files loaded", cls: "num", cell: (b) => `${fmtNum(b.files_loaded)} / ${fmtNum(b.files)}` },
        { key: "first_started_at", label: "Started", cell: (b) => timeCell(b.first_started_at) },
        { key: "finished_at", label: "Finished", cell: (b) => timeCell(b.finished_at) },
        { key: "execution_name", label: "Execution", cell: (b) => mono(b.execution_name) },
        operator && {
          key: "actions", label: "", cls: "actions",
          cell: (b) => [
            runButton(client, "restart", b.batch_id, "Restart", ctx.reload),
            runButton(client, "reprocessing", b.batch_id, "Reprocess", ctx.reload),
          ],
        },
      ].filter(Boolean), shown, {
        name: "batches",
        rowAttrs: (b) => ({ "data-batch": b.batch_id }),
        empty: batches.length ? "No batch matches the filters." : "This client has no batch yet.",
      }));
    };
    statusSel.addEventListener("change", draw);
    idFilter.addEventListener("input", draw);
    limitSel.addEventListener("change", () => { ctx.limit = limitSel.value; ctx.reload(); });
    draw();

    ctx.show(
      pageHead(`Batches of ${client}`,
        h("a", { href: `#/clients/${enc(client)}`, text: "Configuration" }),
        h("button", { type: "button", class: "small", text: "Reload", onclick: () => ctx.reload() }),
        operator && h("button", {
          type: "button", class: "primary", "data-action": "start", text: "Start new batch",
          onclick: async (e) => { if (await runBatch(client, "start", null, e.currentTarget)) ctx.reload(); },
        })),
      h("div", { class: "filters" }, field("Status", statusSel), field("Batch id", idFilter), field("Show", limitSel)),
      holder);
  }

  async function viewBatch(ctx, client, batchId) {
    const path = `/clients/${enc(client)}/batches/${enc(batchId)}`;
    const [b, logs, objects] = await Promise.all([
      api("GET", path),
      api("GET", `${path}/logs`),
      // The lake listing is a convenience: the page still shows when it fails.
      api("GET", `${path}/objects`).catch((err) => ({ error: err })),
    ]);
    if (!ctx.alive()) return;
    const executions = b.executions || [];
    const latest = executions[executions.length - 1] || {};
    const running = latest.status === "RUNNING";
    const operator = can("operator");
    const files = b.files || [];
    const stage = (k) => ({ key: k, label: k.replace(/_status$/, "").replace(/_/g, " "), cell: (f) => badge(f[k]) });

    const head = pageHead(`${client} / ${batchId}`,
      h("span", { id: "batch-status" }, badge(latest.status)),
      running && h("span", { class: "muted small", text: "refreshing every 2 s" }),
      h("a", { href: `#/clients/${enc(client)}/batches`, text: "All batches" }),
      operator && runButton(client, "restart", batchId, "Restart", ctx.reload),
      operator && runButton(client, "reprocessing", batchId, "Reprocess", ctx.reload),
      operator && runButton(client, "refresh", batchId, "Refresh steps", ctx.reload));

    const execs = section("Executions", table([
      { key: "mode", label: "Mode" },
      { key: "execution_name", label: "Execution", cell: (e) => mono(e.execution_name) },
      { key: "status", label: "Status", cell: (e) => badge(e.status) },
      { key: "started_at", label: "Started", cell: (e) => timeCell(e.started_at) },
      { key: "finished_at", label: "Finished", cell: (e) => timeCell(e.finished_at) },
      { key: "duration_ms", label: "Duration", cls: "num", cell: (e) => elapsed(e) },
      { key: "error_message", label: "Error", cls: "wrap", cell: (e) => errText(e.error_message) },
    ], executions, { name: "executions" }));

    const fileTable = section(`Files (${files.length})`, table([
      { key: "physical_file_name", label: "File", cell: (f) => mono(f.physical_file_name) },
      { key: "source_system", label: "Source" },
      { key: "logical_source_file", label: "Logical file" },
      stage("convert_status"), stage("mapping_validation_status"), stage("row_validation_status"), stage("load_status"),
      { key: "total_rows", label: "Rows", cls: "num", cell: (f) => fmtNum(f.total_rows) },
      { key: "reconciliation", label: "Reconciliation", cell: (f) => badge(f.reconciliation) },
      { key: "error_message", label: "Error", cls: "wrap", cell: (f) => errText(f.error_message) },
      { key: "updated_at", label: "Updated", cell: (f) => timeCell(f.updated_at) },
    ], files, { name: "files", rowAttrs: (f) => ({ "data-file": f.physical_file_name }), empty: "No file in this batch." }));

    // Every row accounted for: each figure counted at its own stage (green only when they agree).
    const ledgerCell = (k) => ({ key: k, label: k.replace(/^rows_/, "").replace(/_/g, " "), cls: "num",
      cell: (f) => fmtNum(f.ledger ? f.ledger[k] : null) });
    const ledgerTable = section("Row ledger", table([
      { key: "physical_file_name", label: "File", cell: (f) => mono(f.physical_file_name) },
      ...["rows_read", "rows_blank", "rows_parquet", "rows_checked", "rows_as_is", "rows_nulled", "rows_flagged",
        "rows_refused", "rows_copied", "rows_in_bronze", "rows_at_finalise"].map(ledgerCell),
      { key: "reconciliation", label: "Reconciliation", cell: (f) => badge(f.reconciliation) },
      { key: "problem", label: "Problem", cls: "wrap", cell: (f) => errText(f.ledger ? f.ledger.problem : null) },
    ], files, { name: "ledger", empty: "No file in this batch." }));

    const steps = section("SQL steps", stepsTable(b.steps || []));

    const mails = section("Mails", table([
      { key: "status", label: "Status", cell: (m) => badge(m.status) },
      { key: "subject", label: "Subject", cls: "wrap" },
      { key: "recipients", label: "Recipients", cls: "wrap" },
      { key: "attempts", label: "Attempts", cls: "num" },
      { key: "last_error", label: "Last error", cls: "wrap", cell: (m) => errText(m.last_error) },
      { key: "created_at", label: "Created", cell: (m) => timeCell(m.created_at) },
      { key: "sent_at", label: "Sent", cell: (m) => timeCell(m.sent_at) },
    ], b.mails || [], { name: "mails", empty: "No mail was sent for this batch." }));

    const mapping = section("Mapping validation", table([
      { key: "physical_file_name", label: "File", cell: (l) => mono(l.physical_file_name) },
      { key: "status", label: "Status", cell: (l) => badge(l.status) },
      { key: "missing_columns", label: "Missing columns", cls: "wrap", cell: (l) => columnList(l.missing_columns, "bad") },
      { key: "extra_columns", label: "Extra columns", cls: "wrap", cell: (l) => columnList(l.extra_columns, "warn") },
      { key: "message", label: "Message", cls: "wrap" },
      { key: "logged_at", label: "Logged", cell: (l) => timeCell(l.logged_at) },
    ], logs.mapping_validation || [], { name: "mapping-validation", empty: "No mapping validation logged." }));

    const rowsVal = section("Row validation", table([
      { key: "physical_file_name", label: "File", cell: (l) => mono(l.physical_file_name) },
      { key: "rule", label: "Rule" },
      { key: "column_name", label: "Column", cell: (l) => mono(l.column_name) },
      { key: "failed_rows", label: "Failed rows", cls: "num", cell: (l) => fmtNum(l.failed_rows) },
      { key: "severity", label: "Severity", cell: (l) => badge(l.severity === "fatal" ? "FAILED" : "WARNING") },
      { key: "sample", label: "Sample", cell: (l) => pre(l.sample) },
      { key: "logged_at", label: "Logged", cell: (l) => timeCell(l.logged_at) },
    ], logs.row_validation || [], { name: "row-validation", empty: "No row validation finding." }));

    const loadErr = section("Load errors", table([
      { key: "physical_file_name", label: "File", cell: (l) => mono(l.physical_file_name) },
      { key: "target_table", label: "Target table", cell: (l) => mono(l.target_table) },
      { key: "error_message", label: "Error", cls: "wrap", cell: (l) => errText(l.error_message) },
      { key: "logged_at", label: "Logged", cell: (l) => timeCell(l.logged_at) },
    ], logs.load_errors || [], { name: "load-errors", empty: "No load error." }));

    const lake = section("Lake objects", objects.error
      ? h("p", { class: "error", text: `The batch's objects could not be listed: ${objects.error.message}` })
      : table([
        { key: "kind", label: "Kind" },
        { key: "key", label: "Key", cls: "wrap", cell: (o) => mono(o.key) },
        { key: "size", label: "Size", cls: "num", cell: (o) => fmtBytes(o.size) },
        { key: "download", label: "", cell: (o) => h("button", {
          type: "button", class: "small", "data-action": "download", text: "Download",
          onclick: (e) => downloadObject(path, o.key, e.currentTarget),
        }) },
      ], objects.objects || [], { name: "objects", rowAttrs: (o) => ({ "data-object": o.key }), empty: "No object of this batch is in the lake." }));

    ctx.show(head, execs, fileTable, ledgerTable, lake, steps, mails, h("h2", { class: "group", text: "Logs" }), mapping, rowsVal, loadErr);

    // While the latest execution runs, read the batch again every 2 s (without the
    // "Loading…" flash; scrolling and the flash message stay).
    if (running && ctx.alive()) {
      stopTimer();
      state.timer = setTimeout(() => {
        if (!ctx.alive()) return;
        viewBatch(ctx, client, batchId).catch((err) => ctx.show(errorBox(err, ctx)));
      }, 2000);
    }
  }

  /** An execution's duration; while it runs, the time since it started. */
  function elapsed(e) {
    if (e.duration_ms !== null && e.duration_ms !== undefined) return fmtDuration(e.duration_ms);
    const t = Date.parse(e.started_at);
    if (e.status === "RUNNING" && !Number.isNaN(t)) return h("span", { class: "muted", text: `${fmtDuration(Math.max(0, Date.now() - t))} so far` });
    return DASH;
  }

  function stepsTable(steps) {
    return table([
      { key: "family", label: "Family" },
      { key: "name", label: "Step", cell: (s) => mono(s.name) },
      { key: "status", label: "Status", cell: (s) => badge(s.status) },
      { key: "rows_affected", label: "Rows", cls: "num", cell: (s) => fmtNum(s.rows_affected) },
      { key: "duration_ms", label: "Duration", cls: "num", cell: (s) => fmtDuration(s.duration_ms) },
      { key: "started_at", label: "Started", cell: (s) => timeCell(s.started_at) },
      { key: "execution_name", label: "Execution", cell: (s) => mono(s.execution_name) },
      { key: "error_message", label: "Error", cls: "wrap", cell: (s) => errText(s.error_message) },
    ], steps, { name: "steps", empty: "No SQL step ran." });
  }

  function errText(msg) {
    return msg ? h("span", { class: "error-text", text: msg }) : h("span", { class: "muted", text: DASH });
  }

  function columnList(cols, tone) {
    if (!cols || !cols.length) return h("span", { class: "muted", text: DASH });
    return h("span", { class: "chips" }, cols.map((c) => h("span", { class: `chip chip-${tone}`, text: c })));
  }

  // ---------------------------------------------------------------------------------------
  // KPIs
  // ---------------------------------------------------------------------------------------

  async function viewKpis(ctx) {
    const opts = ctx.kpi || (ctx.kpi = { client: "", days: "30" });
    const [clients, k] = await Promise.all([
      api("GET", "/clients").catch(() => ({ clients: [] })),
      api("GET", `/kpis${query({ client: opts.client, days: opts.days })}`),
    ]);
    const clientSel = select("client", [["", "All clients"], ...(clients.clients || []).map((c) => c.client)], opts.client);
    const daysSel = select("days", [["7", "7 days"], ["14", "14 days"], ["30", "30 days"], ["90", "90 days"]], opts.days);
    const change = () => { opts.client = clientSel.value; opts.days = daysSel.value; ctx.reload(); };
    clientSel.addEventListener("change", change);
    daysSel.addEventListener("change", change);

    const t = k.totals || {};
    const days = k.days || [];
    const rate = t.success_rate ?? (t.runs ? t.succeeded / t.runs : null);
    ctx.show(
      pageHead("Batch KPIs"),
      h("div", { class: "filters" }, field("Client", clientSel), field("Period", daysSel)),
      cards([
        ["runs", fmtNum(t.runs)],
        ["succeeded", fmtNum(t.succeeded), "ok"],
        ["failed", fmtNum(t.failed), t.failed ? "bad" : null],
        ["success rate", fmtPct(rate), rate !== null && rate < 0.9 ? "warn" : "ok"],
        ["average duration", fmtDuration(t.avg_duration_ms)],
        ["p95 duration", fmtDuration(t.p95_duration_ms)],
        ["rows loaded", fmtNum(t.rows_loaded)],
      ]),
      h("div", { class: "charts" },
        section("Runs per day",
          barChart(days, [["succeeded", "s-ok"], ["failed", "s-bad"]], { stacked: true, name: "runs" }),
          legend([["s-ok", "succeeded"], ["s-bad", "failed"]])),
        section("Average duration",
          lineChart(days, "avg_duration_ms", { format: fmtDuration, axis: shortDuration, name: "duration" })),
        section("Rows loaded",
          barChart(days, [["rows_loaded", "s-blue"]], { name: "rows" }))),
      section("Per day", table([
        { key: "day", label: "Day", cls: "mono" },
        { key: "runs", label: "Runs", cls: "num" },
        { key: "succeeded", label: "Succeeded", cls: "num" },
        { key: "failed", label: "Failed", cls: "num" },
        { key: "avg_duration_ms", label: "Avg duration", cls: "num", cell: (d) => fmtDuration(d.avg_duration_ms) },
        { key: "rows_loaded", label: "Rows loaded", cls: "num", cell: (d) => fmtNum(d.rows_loaded) },
      ], [...days].reverse(), { name: "kpi-days", empty: "No run in this period." })));
  }

  // ---------------------------------------------------------------------------------------
  // Recordings
  // ---------------------------------------------------------------------------------------

  async function viewRecordings(ctx) {
    const f = ctx.rec || (ctx.rec = { from: "", to: "", agent: "", number: "", direction: "", limit: "100" });
    const [daily, found] = await Promise.all([
      api("GET", "/recordings/daily?days=14").catch(failure),
      api("GET", `/recordings${query(f)}`).catch(failure),
    ]);
    const input = (name, type, extra) => h("input", { name, type, value: f[name], ...extra });
    const form = h("form", {
      id: "recordings-form", class: "filters",
      onsubmit: (e) => {
        e.preventDefault();
        for (const el of form.elements) if (el.name) f[el.name] = el.value.trim();
        ctx.reload();
      },
    },
    field("From", input("from", "date")),
    field("To (exclusive)", input("to", "date")),
    field("Agent", input("agent", "text", { placeholder: "id or name" })),
    field("Number", input("number", "text", { placeholder: "any notation" })),
    field("Direction", select("direction", [["", "any"], "inbound", "outbound", "internal", "unknown"], f.direction)),
    field("Limit", input("limit", "number", { min: 1, max: 1000, step: 1 })),
    h("button", { type: "submit", class: "primary", text: "Search" }));

    const recs = found.recordings || [];
    const chart = daily.error
      ? errorBox(daily.error)
      : [barChart(daily.days || [], [["migrated", "s-ok"], ["failed", "s-bad"]], { stacked: true, wide: true, name: "recordings-daily" }),
        legend([["s-ok", "migrated"], ["s-bad", "failed"]])];
    ctx.show(
      pageHead("Recordings"),
      section("Migrated per day (14 days)", chart),
      form,
      found.error ? errorBox(found.error) : section(`Results (${fmtNum(found.count ?? recs.length)})`, table([
        { key: "started_at", label: "Started", cell: (r) => timeCell(r.started_at) },
        { key: "call_id", label: "Call", cell: (r) => mono(r.call_id) },
        { key: "direction", label: "Direction" },
        { key: "agent", label: "Agent", cell: (r) => [show(r.agent_name), r.agent_id ? h("span", { class: "muted mono", text: ` ${r.agent_id}` }) : null] },
        { key: "extension", label: "Ext.", cls: "mono" },
        { key: "caller", label: "Caller", cls: "mono" },
        { key: "callee", label: "Callee", cls: "mono" },
        { key: "queue", label: "Queue" },
        { key: "duration_ms", label: "Duration", cls: "num", cell: (r) => fmtDuration(r.duration_ms) },
        { key: "audio", label: "Audio", cell: (r) => `${show(r.codec)} · ${fmtBytes(r.audio_size)} · ${fmtDuration(r.audio_ms)}` },
        { key: "audio_key", label: "Key", cls: "mono wrap" },
      ], recs, { name: "recordings", rowAttrs: (r) => ({ "data-call": r.call_id }), empty: "No recording matches." })));
  }

  // ---------------------------------------------------------------------------------------
  // Events
  // ---------------------------------------------------------------------------------------

  async function viewEvents(ctx) {
    const f = ctx.ev || (ctx.ev = { topic: "", limit: "100" });
    const [stats, page] = await Promise.all([
      api("GET", "/stats"),
      api("GET", `/events${query({ topic: f.topic, limit: f.limit })}`).catch(failure),
    ]);
    const events = [...(page.events || [])];
    let cursor = page.next_cursor;
    const tp = stats.throughput || {};
    // There is no topic list in the API: offer the topics of the events read so far.
    const topics = new Set(events.map((e) => e.topic));
    const datalist = h("datalist", { id: "topics" }, [...topics].sort().map((t) => h("option", { value: t })));
    const topic = h("input", { name: "topic", type: "search", list: "topics", value: f.topic, placeholder: "all topics" });
    const limit = select("limit", ["20", "100", "500"], f.limit);
    const form = h("form", {
      class: "filters",
      onsubmit: (e) => { e.preventDefault(); f.topic = topic.value.trim(); f.limit = limit.value; ctx.reload(); },
    }, field("Topic", topic), datalist, field("Limit", limit), h("button", { type: "submit", class: "primary", text: "Show" }));

    const holder = h("div");
    const more = h("button", { type: "button", text: "Older events", "data-action": "more" });
    const draw = () => {
      append(clear(holder), table([
        { key: "timestamp", label: "Time", cell: (e) => timeCell(e.timestamp) },
        { key: "topic", label: "Topic", cell: (e) => h("a", { href: "#/events", text: e.topic, onclick: (ev) => { ev.preventDefault(); f.topic = e.topic; ctx.reload(); } }) },
        { key: "event_id", label: "Event id", cell: (e) => mono(e.event_id) },
        { key: "source", label: "Source" },
        { key: "received_at", label: "Received", cell: (e) => timeCell(e.received_at) },
        { key: "payload", label: "Payload", cls: "wrap", cell: (e) => h("details", null, h("summary", { class: "mono", text: clip(JSON.stringify(e.payload), 80) }), pre(e.payload)) },
      ], events, { name: "events", rowAttrs: (e) => ({ "data-event": e.event_id }), empty: "No event." }));
      more.hidden = !cursor;
    };
    more.addEventListener("click", () => busy(more, async () => {
      try {
        const next = await api("GET", `/events${query({ topic: f.topic, limit: f.limit, cursor })}`);
        events.push(...(next.events || []));
        cursor = next.next_cursor;
        draw();
      } catch (err) {
        flashError(err);
      }
    }));
    draw();

    ctx.show(
      pageHead("Events", h("button", { type: "button", class: "small", text: "Reload", onclick: () => ctx.reload() })),
      cards([
        ["received", fmtNum(stats.received)],
        ["unique processed", fmtNum(stats.unique_processed), "ok"],
        ["duplicates dropped", fmtNum(stats.duplicate_dropped)],
        ["rejected", fmtNum(stats.rejected), stats.rejected ? "warn" : null],
        ["conflicts", fmtNum(stats.conflicts), stats.conflicts ? "warn" : null],
        ["pending", fmtNum(stats.pending)],
        ["topics", fmtNum(stats.topics_active)],
        ["stored / s (5 min)", fmtNum(tp.stored_per_second_5_minutes)],
        ["stored (5 min)", fmtNum(tp.stored_last_5_minutes)],
        ["uptime", fmtDuration((stats.uptime_seconds || 0) * 1000)],
      ]),
      form,
      section("Topics seen", topics.size
        ? h("div", { class: "chips" }, [...topics].sort().map((t) => h("button", { type: "button", class: "chip chip-link", text: t, onclick: () => { f.topic = t; ctx.reload(); } })))
        : h("p", { class: "muted", text: "No event read yet." })),
      section("Recent events", page.error ? errorBox(page.error) : [holder, more]));
  }

  /** For a request whose failure is shown next to its form rather than instead of the page. */
  const failure = (error) => ({ error });

  const clip = (s, n) => (s && s.length > n ? `${s.slice(0, n - 1)}…` : s || "");

  // ---------------------------------------------------------------------------------------
  // Funnel
  // ---------------------------------------------------------------------------------------

  async function viewFunnel(ctx) {
    const today = new Date();
    const f = ctx.fn || (ctx.fn = { from: isoDay(addDays(today, -30)), to: isoDay(addDays(today, 1)), channel: "" });
    const [rep, kw] = await Promise.all([
      api("GET", `/funnel-report${query(f)}`).catch(failure),
      api("GET", "/keywords").catch(failure),
    ]);
    const input = (name, type) => h("input", { name, type, value: f[name] });
    const form = h("form", {
      id: "funnel-form", class: "filters",
      onsubmit: (e) => {
        e.preventDefault();
        for (const el of form.elements) if (el.name) f[el.name] = el.value.trim();
        ctx.reload();
      },
    },
    field("From", input("from", "date")), field("To (exclusive)", input("to", "date")),
    field("Channel", h("input", { name: "channel", type: "text", value: f.channel, placeholder: "all" })),
    h("button", { type: "submit", class: "primary", text: "Show" }),
    h("button", { type: "button", "data-action": "download-csv", text: "Download CSV", onclick: (e) => downloadCsv(f, e.currentTarget) }));

    if (rep.error) {
      ctx.show(pageHead("Message funnel"), form, errorBox(rep.error), keywordsPanel(ctx, kw));
      return;
    }
    // Per day over all channels, for the chart.
    const perDay = new Map();
    for (const l of rep.days || []) {
      const d = perDay.get(l.day) || { day: l.day, leads: 0, bookings: 0, transactions: 0 };
      d.leads += l.leads; d.bookings += l.bookings; d.transactions += l.transactions;
      perDay.set(l.day, d);
    }
    const t = rep.total || {};
    const lineCols = (first) => [
      first,
      { key: "leads", label: "Leads", cls: "num", cell: (l) => fmtNum(l.leads) },
      { key: "bookings", label: "Bookings", cls: "num", cell: (l) => fmtNum(l.bookings) },
      { key: "transactions", label: "Transactions", cls: "num", cell: (l) => fmtNum(l.transactions) },
      { key: "revenue", label: "Revenue", cls: "num", cell: (l) => fmtNum(l.revenue) },
      { key: "lead_to_booking", label: "Lead→booking", cls: "num", cell: (l) => fmtPct(l.lead_to_booking) },
      { key: "booking_to_transaction", label: "Booking→trans.", cls: "num", cell: (l) => fmtPct(l.booking_to_transaction) },
      { key: "lead_to_transaction", label: "Lead→trans.", cls: "num", cell: (l) => fmtPct(l.lead_to_transaction) },
    ];
    ctx.show(
      pageHead("Message funnel", h("span", { class: "muted small", text: `days in ${show(rep.timezone)}` })),
      form,
      cards([
        ["leads", fmtNum(t.leads)], ["bookings", fmtNum(t.bookings)], ["transactions", fmtNum(t.transactions)],
        ["revenue", fmtNum(t.revenue)], ["lead → booking", fmtPct(t.lead_to_booking)],
        ["booking → transaction", fmtPct(t.booking_to_transaction)], ["lead → transaction", fmtPct(t.lead_to_transaction)],
      ]),
      section("Per day",
        barChart([...perDay.values()], [["leads", "s-blue"], ["bookings", "s-warn"], ["transactions", "s-ok"]], { grouped: true, wide: true, name: "funnel" }),
        legend([["s-blue", "leads"], ["s-warn", "bookings"], ["s-ok", "transactions"]])),
      section("Per channel", table(lineCols({ key: "channel", label: "Channel" }), rep.channels || [], { name: "funnel-channels", empty: "No lead in this period." })),
      section("Per day and channel", table(lineCols({ key: "day", label: "Day", cls: "mono" }).concat([{ key: "channel", label: "Channel" }]),
        [...(rep.days || [])].reverse(), { name: "funnel-days", empty: "No lead in this period." })),
      keywordsPanel(ctx, kw));
  }

  /** Saves a Blob under a file name through a temporary object URL. */
  function saveBlob(blob, name) {
    const url = URL.createObjectURL(blob);
    const a = h("a", { href: url, download: name, class: "offscreen" });
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  /** One lake object of a batch (raw file, Parquet, manifest), fetched with the bearer header. */
  async function downloadObject(batchPath, key, button) {
    await busy(button, async () => {
      try {
        const blob = await api("GET", `${batchPath}/object?key=${encodeURIComponent(key)}`, undefined, { as: "blob" });
        saveBlob(blob, key.split("/").pop() || "object");
        flash("ok", `${key} downloaded (${fmtBytes(blob.size)}).`);
      } catch (err) {
        flashError(err);
      }
    });
  }

  /** GET /funnel-report.csv with the bearer header, saved through a Blob URL. */
  async function downloadCsv(f, button) {
    await busy(button, async () => {
      try {
        const blob = await api("GET", `/funnel-report.csv${query(f)}`, undefined, { as: "blob" });
        saveBlob(blob, `funnel-${f.from || "start"}-${f.to || "today"}.csv`);
        flash("ok", `Funnel CSV downloaded (${fmtBytes(blob.size)}).`);
      } catch (err) {
        flashError(err);
      }
    });
  }

  /**
   * The keyword set: a list per kind; admins edit a textarea per kind, one keyword a line,
   * "keyword | channel" for a keyword that applies to one channel. PUT replaces the whole set.
   */
  function keywordsPanel(ctx, kw) {
    if (kw.error) return section("Keywords", errorBox(kw.error));
    const list = kw.keywords || [];
    const byKind = Object.fromEntries(KEYWORD_KINDS.map((k) => [k, []]));
    for (const k of list) (byKind[k.kind] || (byKind[k.kind] = [])).push(k);
    const line = (k) => (k.channel ? `${k.keyword} | ${k.channel}` : k.keyword);

    if (!can("admin")) {
      return section(`Keywords (${list.length})`, h("div", { class: "kw-grid" }, Object.entries(byKind).map(([kind, ks]) =>
        h("div", { class: "kw-col", "data-kind": kind }, h("h3", { text: kind }),
          ks.length ? h("ul", { class: "kw-list" }, ks.map((k) => h("li", null, k.keyword, k.channel ? h("span", { class: "chip chip-neutral", text: k.channel }) : null)))
            : h("p", { class: "muted", text: "none" })))));
    }
    const areas = Object.entries(byKind).map(([kind, ks]) =>
      [kind, h("textarea", { name: `keywords-${kind}`, "aria-label": `${kind} keywords`, rows: 10, spellcheck: "false", value: ks.map(line).join("\n") })]);
    const save = h("button", {
      type: "button", class: "primary", "data-action": "save-keywords", text: "Save keywords",
      onclick: async () => {
        const keywords = [];
        for (const [kind, ta] of areas) {
          for (const raw of ta.value.split("\n")) {
            const [word, channel] = raw.split("|").map((s) => s.trim());
            if (word) keywords.push(channel ? { kind, keyword: word, channel } : { kind, keyword: word });
          }
        }
        const yes = await confirmDialog("Replace the keyword set?", `The whole set is replaced by these ${keywords.length} keywords; the classifier uses them within minutes.`, "Replace");
        if (!yes) return;
        await busy(save, async () => {
          try {
            const r = await api("PUT", "/keywords", { keywords });
            flash("ok", `Keywords replaced (${r.keywords ?? keywords.length}).`);
            ctx.reload();
          } catch (err) {
            flashError(err);
          }
        });
      },
    });
    return section(`Keywords (${list.length})`,
      h("p", { class: "muted small", text: "One keyword or phrase a line; write “keyword | channel” to limit it to one channel." }),
      h("div", { class: "kw-grid" }, areas.map(([kind, ta]) => h("div", { class: "kw-col", "data-kind": kind }, h("h3", { text: kind }), ta))),
      h("div", { class: "form-actions" }, save));
  }

  // ---------------------------------------------------------------------------------------
  // Dead letters
  // ---------------------------------------------------------------------------------------

  async function viewDeadLetters(ctx) {
    const data = await api("GET", "/dead-letters");
    const queues = data.queues || [];
    const operator = can("operator");
    const peekHolder = h("div", { id: "peek" });
    const list = table([
      { key: "name", label: "Queue", cell: (q) => mono(q.name) },
      { key: "source", label: "Source queue", cell: (q) => mono(q.source) },
      { key: "count", label: "Messages", cls: "num", cell: (q) => (q.count ? h("strong", { class: "error-text", text: fmtNum(q.count) }) : "0") },
      {
        key: "actions", label: "", cls: "actions",
        cell: (q) => [
          h("button", { type: "button", class: "small", "data-action": "peek", text: "Peek", onclick: () => peek(ctx, q, peekHolder) }),
          operator && h("button", {
            type: "button", class: "small", "data-action": "redrive", "data-scope": "all", text: "Redrive all",
            disabled: !q.count,
            onclick: (e) => redrive(ctx, q.name, null, e.currentTarget),
          }),
        ],
      },
    ], queues, { name: "dead-letter-queues", rowAttrs: (q) => ({ "data-queue": q.name }), empty: "No dead-letter queue." });
    ctx.show(pageHead("Dead letters", h("button", { type: "button", class: "small", text: "Reload", onclick: () => ctx.reload() })), list, peekHolder);
    // After a redrive or discard the page is read again: show the same queue's messages.
    const again = queues.find((q) => q.name === ctx.peeked);
    if (again) peek(ctx, again, peekHolder);
  }

  async function redrive(ctx, queue, ids, button) {
    await busy(button, async () => {
      try {
        const r = await api("POST", `/dead-letters/${enc(queue)}/redrive`, ids ? { ids } : { all: true });
        const note = r.stopped ? ` Stopped early: ${r.stopped}` : "";
        flash(r.stopped ? "error" : "ok", `Redrive: ${fmtNum(r.moved)} message(s) moved back to the source queue.${note}`);
        ctx.reload();
      } catch (err) {
        flashError(err);
      }
    });
  }

  /** Shows up to `limit` messages of a queue; operators select some to redrive or discard. */
  async function peek(ctx, q, holder) {
    ctx.peeked = q.name;
    const limit = ctx.peekLimit || "10";
    append(clear(holder), h("p", { class: "loading", text: `Reading ${q.name}…` }));
    let data;
    try {
      data = await api("GET", `/dead-letters/${enc(q.name)}${query({ limit })}`);
    } catch (err) {
      if (ctx.alive()) append(clear(holder), errorBox(err));
      return;
    }
    if (!ctx.alive()) return;
    const msgs = data.messages || [];
    const operator = can("operator");
    const boxes = [];
    const selected = () => boxes.filter((b) => b.checked).map((b) => b.value);
    const cols = [
      operator && {
        key: "select", label: "", cell: (m) => {
          const b = h("input", { type: "checkbox", name: "select", value: m.id, "aria-label": `select ${m.id}` });
          boxes.push(b);
          return b;
        },
      },
      { key: "id", label: "Id", cell: (m) => mono(m.id) },
      { key: "receives", label: "Receives", cls: "num" },
      { key: "sent_at", label: "Sent", cell: (m) => timeCell(m.sent_at) },
      { key: "body", label: "Body", cls: "wrap", cell: (m) => h("pre", { class: "json", text: fmtJson(m.body) }) },
    ].filter(Boolean);
    const tools = operator && h("div", { class: "form-actions" },
      h("button", {
        type: "button", "data-action": "redrive", "data-scope": "selected", text: "Redrive selected",
        onclick: (e) => {
          const ids = selected();
          if (!ids.length) { flash("error", "Select the messages to redrive first."); return; }
          redrive(ctx, q.name, ids, e.currentTarget);
        },
      }),
      h("button", {
        type: "button", class: "danger", "data-action": "discard", text: "Discard selected",
        onclick: async (e) => {
          const ids = selected();
          if (!ids.length) { flash("error", "Select the messages to discard first."); return; }
          const yes = await confirmDialog(`Discard ${ids.length} message(s)?`, `They are deleted from ${q.name} for good.`, "Discard", true);
          if (!yes) return;
          await busy(e.currentTarget, async () => {
            try {
              const r = await api("POST", `/dead-letters/${enc(q.name)}/discard`, { ids });
              const note = r.stopped ? ` Stopped early: ${r.stopped}` : "";
              flash(r.stopped ? "error" : "ok", `Discarded ${fmtNum(r.discarded)} message(s).${note}`);
              ctx.reload();
            } catch (err) {
              flashError(err);
            }
          });
        },
      }));
    const limitSel = select("limit", ["10", "50", "100"], limit);
    limitSel.addEventListener("change", () => { ctx.peekLimit = limitSel.value; peek(ctx, q, holder); });
    append(clear(holder), h("section", { class: "panel", "data-queue": q.name },
      h("div", { class: "panel-head" }, h("h2", { text: `Messages in ${q.name}` }), field("Show", limitSel)),
      table(cols, msgs, { name: "dead-letters", rowAttrs: (m) => ({ "data-message": m.id }), empty: "The queue is empty." }),
      tools));
  }

  // ---------------------------------------------------------------------------------------
  // Audit (admin)
  // ---------------------------------------------------------------------------------------

  async function viewAudit(ctx) {
    const limit = ctx.limit || "100";
    const data = await api("GET", `/audit${query({ limit })}`);
    const entries = data.entries || [];
    const limitSel = select("limit", ["100", "500", "1000"], limit);
    limitSel.addEventListener("change", () => { ctx.limit = limitSel.value; ctx.reload(); });
    const filter = h("input", { type: "search", name: "filter", placeholder: "actor, action or target" });
    const holder = h("div");
    const draw = () => {
      const text = filter.value.trim().toLowerCase();
      const shown = entries.filter((e) => !text || [e.actor, e.action, e.target].some((v) => String(v ?? "").toLowerCase().includes(text)));
      append(clear(holder), table([
        { key: "at", label: "At", cell: (e) => timeCell(e.at) },
        { key: "actor", label: "Actor" },
        { key: "role", label: "Role" },
        { key: "via", label: "Via" },
        { key: "action", label: "Action", cls: "mono" },
        { key: "target", label: "Target", cls: "mono wrap" },
        { key: "before", label: "Before", cell: (e) => pre(e.before) },
        { key: "after", label: "After", cell: (e) => pre(e.after) },
      ], shown, { name: "audit", rowAttrs: (e) => ({ "data-audit": e.id }), empty: "No audit entry." }));
    };
    filter.addEventListener("input", draw);
    draw();
    ctx.show(pageHead("Audit log"), h("div", { class: "filters" }, field("Filter", filter), field("Show", limitSel)), holder);
  }

  // ---------------------------------------------------------------------------------------
  // Tokens (admin)
  // ---------------------------------------------------------------------------------------

  async function viewTokens(ctx) {
    const listHolder = h("div");
    const created = h("div", { id: "created-token" });

    const loadList = async () => {
      const data = await api("GET", "/tokens");
      if (!ctx.alive()) return;
      append(clear(listHolder), table([
        { key: "id", label: "Id", cls: "mono" },
        { key: "name", label: "Name" },
        { key: "role", label: "Role" },
        { key: "created_by", label: "By" },
        { key: "created_at", label: "Created", cell: (t) => timeCell(t.created_at) },
        { key: "expires_at", label: "Expires", cell: (t) => (t.expires_at ? timeCell(t.expires_at) : "never") },
        { key: "last_used_at", label: "Last used", cell: (t) => timeCell(t.last_used_at) },
        { key: "state", label: "State", cell: tokenState },
        {
          key: "actions", label: "", cls: "actions",
          cell: (t) => (t.revoked_at ? null : h("button", {
            type: "button", class: "small danger-text", "data-action": "revoke", text: "Revoke",
            onclick: async (e) => {
              const yes = await confirmDialog(`Revoke token ${t.name}?`, `Token ${t.id} (${t.role}) stops working at once.`, "Revoke", true);
              if (!yes) return;
              await busy(e.currentTarget, async () => {
                try {
                  await api("DELETE", `/tokens/${enc(t.id)}`);
                  flash("ok", `Token ${t.name} revoked.`);
                  await loadList();
                } catch (err) {
                  flashError(err);
                }
              });
            },
          })),
        },
      ], data.tokens || [], { name: "tokens", rowAttrs: (t) => ({ "data-token": t.id }), empty: "No token." }));
    };

    const name = h("input", {
      name: "name", required: true, placeholder: "ci-deploy", maxlength: 64, title: "letters, digits, . _ @ -",
    });
    const role = select("role", ROLES, "viewer");
    const ttl = h("input", { name: "ttl_days", type: "number", min: 1, step: 1, value: "90", placeholder: "never" });
    const submit = h("button", { type: "submit", class: "primary", text: "Create token" });
    const form = h("form", {
      id: "token-form", class: "filters",
      onsubmit: async (e) => {
        e.preventDefault();
        const body = { name: name.value.trim(), role: role.value };
        if (ttl.value) body.ttl_days = Number(ttl.value);
        await busy(submit, async () => {
          try {
            const r = await api("POST", "/tokens", body);
            showNewToken(created, r);
            flash("ok", `Token ${body.name} created; copy it now, it is not shown again.`);
            name.value = "";
            await loadList();
          } catch (err) {
            flashError(err);
          }
        });
      },
    }, field("Name", name), field("Role", role), field("Valid for (days)", ttl), submit);

    await loadList();
    ctx.show(pageHead("API tokens"), section("New token", form, created), section("Tokens", listHolder));
  }

  function tokenState(t) {
    if (t.revoked_at) return h("span", { class: "badge badge-bad", title: t.revoked_at, text: "revoked" });
    if (t.expires_at && new Date(t.expires_at) < new Date()) return h("span", { class: "badge badge-neutral", text: "expired" });
    return h("span", { class: "badge badge-ok", text: "active" });
  }

  /** The new secret, once, in a read-only field with a copy button. */
  function showNewToken(holder, r) {
    const input = h("input", { id: "new-token", type: "text", readOnly: true, value: r.token || "", class: "mono", spellcheck: "false" });
    const copy = h("button", {
      type: "button", text: "Copy",
      onclick: async () => {
        input.select();
        try {
          await navigator.clipboard.writeText(input.value);
          copy.textContent = "Copied";
        } catch {
          copy.textContent = document.execCommand && document.execCommand("copy") ? "Copied" : "Press Ctrl+C";
        }
      },
    });
    append(clear(holder), h("div", { class: "new-token" },
      h("p", { class: "warn-text", text: `The token for ${r.name || "the new actor"} (${r.role || ""}) is shown once: copy it now.` }),
      h("div", { class: "copy-row" }, input, copy)));
    input.focus();
    input.select();
  }

  // ---------------------------------------------------------------------------------------
  // SVG charts (drawn with createElementNS; colours come from classes in app.css)
  // ---------------------------------------------------------------------------------------

  /** Chart geometry in viewBox units: wide charts span the page, the others share a row. */
  const frame = (wide) => ({ w: wide ? 1200 : 520, h: wide ? 220 : 230, l: 58, r: 12, t: 12, b: 26 });

  /** The axis top and tick step: four steps of 1, 2 or 5 × 10^n (whole numbers for counts). */
  function niceScale(max) {
    if (!(max > 0)) return { max: 4, step: 1 };
    const raw = max / 4;
    const p = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 5, 10].map((m) => m * p).find((x) => x >= raw);
    return { max: step * 4, step };
  }

  function compact(n) {
    if (n >= 1e9) return `${+(n / 1e9).toFixed(1)}G`;
    if (n >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
    if (n >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
    return String(+n.toFixed(2));
  }

  /** A duration for an axis label: "40 s", "2.5 min", "1.2 h". */
  function shortDuration(ms) {
    if (!ms) return "0";
    if (ms < 1000) return `${Math.round(ms)} ms`;
    if (ms < 60000) return `${+(ms / 1000).toFixed(1)} s`;
    if (ms < 3600000) return `${+(ms / 60000).toFixed(1)} min`;
    return `${+(ms / 3600000).toFixed(1)} h`;
  }

  const shortDay = (day) => (typeof day === "string" && day.length >= 10 ? day.slice(5, 10) : String(day ?? ""));

  /** The empty chart: grid lines with y labels, every n-th day on the x axis. */
  function chartFrame(days, max, format, opts) {
    const g = frame(opts.wide);
    const root = svg("svg", {
      class: "chart", viewBox: `0 0 ${g.w} ${g.h}`, role: "img", "data-chart": opts.name,
      "aria-label": `${opts.name} chart`,
    });
    const plotH = g.h - g.t - g.b;
    for (let i = 0; i <= 4; i++) {
      const y = g.t + plotH - (plotH * i) / 4;
      root.appendChild(svg("line", { class: "grid-line", x1: g.l, x2: g.w - g.r, y1: y, y2: y }));
      root.appendChild(svg("text", { class: "axis", x: g.l - 6, y: y + 4, "text-anchor": "end" }, format((max * i) / 4)));
    }
    const slot = (g.w - g.l - g.r) / Math.max(days.length, 1);
    const every = Math.max(1, Math.ceil(days.length / (opts.wide ? 20 : 8)));
    days.forEach((d, i) => {
      if ((days.length - 1 - i) % every) return; // keep the latest day labelled
      root.appendChild(svg("text", { class: "axis", x: g.l + slot * (i + 0.5), y: g.h - 8, "text-anchor": "middle" }, shortDay(d.day)));
    });
    return { root, g, plotH, slot };
  }

  /**
   * Bars per day. `series`: [[key, cssClass], …], stacked (`opts.stacked`), side by side
   * (`opts.grouped`) or a single one. Each bar has a <title> tooltip.
   */
  function barChart(days, series, opts = {}) {
    if (!days.length) return h("p", { class: "muted", text: "No data in this period." });
    const total = (d) => series.reduce((a, [k]) => a + (Number(d[k]) || 0), 0);
    const top = Math.max(...days.map((d) => (opts.stacked ? total(d) : Math.max(...series.map(([k]) => Number(d[k]) || 0)))));
    const { max } = niceScale(top);
    const { root, g, plotH, slot } = chartFrame(days, max, compact, { name: "bars", ...opts });
    days.forEach((d, i) => {
      const x0 = g.l + slot * i + slot * 0.15;
      const width = slot * 0.7;
      let base = g.t + plotH;
      series.forEach(([k, cls], j) => {
        const v = Number(d[k]) || 0;
        const bh = (plotH * v) / max;
        const w = opts.grouped ? width / series.length : width;
        const x = opts.grouped ? x0 + w * j : x0;
        base -= opts.grouped ? 0 : bh;
        const y = opts.grouped ? g.t + plotH - bh : base;
        if (v > 0) {
          root.appendChild(svg("rect", {
            class: `bar ${cls}`, x: x.toFixed(1), y: y.toFixed(1),
            width: Math.max(w - 1, 1).toFixed(1), height: Math.max(bh, 0.5).toFixed(1),
          }, svg("title", null, `${d.day}: ${k} ${fmtNum(v)}`)));
        }
      });
    });
    return root;
  }

  /** A line with dots for one key; days without a value are skipped. */
  function lineChart(days, key, opts = {}) {
    const pts = days.map((d, i) => [i, d[key]]).filter(([, v]) => v !== null && v !== undefined);
    if (!pts.length) return h("p", { class: "muted", text: "No data in this period." });
    const { max } = niceScale(Math.max(...pts.map(([, v]) => Number(v))));
    const { root, g, plotH, slot } = chartFrame(days, max, opts.axis || compact, { name: "line", ...opts });
    const xy = ([i, v]) => [g.l + slot * (i + 0.5), g.t + plotH - (plotH * Number(v)) / max];
    root.appendChild(svg("polyline", { class: "line", points: pts.map((p) => xy(p).map((n) => n.toFixed(1)).join(",")).join(" ") }));
    for (const p of pts) {
      const [x, y] = xy(p);
      root.appendChild(svg("circle", { class: "dot", cx: x.toFixed(1), cy: y.toFixed(1), r: 3.5 },
        svg("title", null, `${days[p[0]].day}: ${(opts.format || fmtNum)(p[1])}`)));
    }
    return root;
  }

  // ---------------------------------------------------------------------------------------
  // Start-up
  // ---------------------------------------------------------------------------------------

  async function boot() {
    $("#logout").addEventListener("click", logout);
    $("#confirm-yes").addEventListener("click", () => closeConfirm(true));
    $("#confirm-no").addEventListener("click", () => closeConfirm(false));
    $("#confirm").addEventListener("click", (e) => { if (e.target.id === "confirm") closeConfirm(false); });
    document.addEventListener("keydown", (e) => { if (e.key === "Escape" && !$("#confirm").hidden) closeConfirm(false); });
    window.addEventListener("hashchange", () => { clearFlash(); route(); });
    start();
  }

  /** With a stored token: who is it? Then the page; without one: the login view. */
  async function start() {
    if (!getToken()) {
      route();
      return;
    }
    loading();
    try {
      await signedIn();
    } catch (err) {
      if (err.status === 401) return; // the login view is already shown
      append(clear($("#view")), errorBox(err, { reload: start }));
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
