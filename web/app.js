// The AOR at-risk page: plain JavaScript over the HTTP API, no build step. In AWS, CloudFront
// serves it from its bucket with the API under /v1 on the same origin; locally the dev server
// does the same (both from what tools/publish_web.py uploads). It signs in with OpenID Connect
// (authorization code flow with PKCE, by oidc-client-ts, `oidc` below) at the issuer its
// /config.json names: the stack's Cognito user pool or an organisation's own, and locally the
// OpenID provider of `make dev`.

const $ = (selector) => document.querySelector(selector);

/** /config.json: {issuer, client_id, api_base_url, scope, local, end_session_endpoint?}. */
let config = null;
/** Signing in and the person's tokens (kept in this tab's sessionStorage by the library). */
let auth = null;

const SESSION_ENDED = "Your session has ended: sign in again to go on where you were.";
/** Where to go once back from signing out at the issuer (which returns to / only). */
const RETURN_KEY = "aor-return-to";

// ---- the API ---------------------------------------------------------------------------------

async function api(path, { method = "GET", body, accept, idempotencyKey } = {}) {
  const user = await auth.getUser();
  const headers = { Authorization: `Bearer ${user?.id_token}` };
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (accept) headers.Accept = accept;
  const response = await fetch(`${config.api_base_url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401) {
    // The token expired or is no longer good: sign in again, then come back to the same place.
    // (API Gateway's own 401 says nothing more; the local one says why.)
    const problem = await response.json().catch(() => ({}));
    const why = !problem.detail || /expired/.test(problem.detail) ? SESSION_ENDED : `Please sign in again (${problem.detail}).`;
    await auth.removeUser();
    me = null;
    signInPage(why);
    const error = new Error(why);
    error.status = 401;
    throw error;
  }
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    const error = new Error(problem.detail || `The request failed (${response.status}).`);
    error.problem = problem;
    error.status = response.status;
    throw error;
  }
  return response.status === 204 ? null : response.json();
}

function show(message) {
  const box = $("#message");
  box.textContent = message || "";
  box.hidden = !message;
}

const setTitle = (what) => (document.title = `${what} — AOR at-risk reporting`);
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "never");
const exportPath = () => location.pathname.match(/^\/exports\/([\w-]+)$/);
const reasons = { platform_submission: "Submitted by another NPN", marketplace_aor_mismatch: "Marketplace shows another AOR", ede_permission_revoked: "EDE permission revoked" };
const labels = ["Client", "Federal Exchange ID", "Last synced", "Listed", "At risk since", "Why", "Agent"];

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

// A time as people read it, with the exact instant for machines.
function timeCell(iso) {
  const td = document.createElement("td");
  td.append(iso ? Object.assign(document.createElement("time"), { dateTime: iso, textContent: when(iso) }) : when(iso));
  return td;
}

// ---- signing in --------------------------------------------------------------------------------

let me = null;
const isAdmin = () => me?.role === "agency_admin";
// The plan years served today: the current one, and during open enrollment the coming one.
const servedYears = () => [me.plan_years.current, me.plan_years.coming].filter(Boolean);
const yearLabel = (year) => (year === me.plan_years.coming ? `${year} (open enrollment)` : String(year));
const here = () => location.pathname + location.search + location.hash;

async function loadConfig() {
  config = await fetch("/config.json", { cache: "no-store" }).then((r) => r.json());
  auth = new oidc.UserManager({
    authority: config.issuer,
    client_id: config.client_id,
    redirect_uri: `${location.origin}/callback`,
    post_logout_redirect_uri: `${location.origin}/`,
    response_type: "code",
    scope: config.scope || "openid email profile",
    loadUserInfo: false,
    // No hidden iframes or background refreshes: a session that ends goes back through sign-in.
    automaticSilentRenew: false,
    monitorSession: false,
    // Cognito's discovery document names no end_session_endpoint: the stack's output gives it.
    metadataSeed: config.end_session_endpoint ? { end_session_endpoint: config.end_session_endpoint } : {},
  });
  // The local inbox is only where the system runs locally.
  document.querySelectorAll("[data-local]:not(.view)").forEach((e) => (e.hidden = !config.local));
}

// Signed out: say why, and sign in at the issuer from here — the address is kept, so a person who
// followed an emailed link lands back on it.
function signInPage(reason = "") {
  $("#sign-in").hidden = false;
  $("#sign-in-button").hidden = false;
  const forExport = exportPath() ? "Sign in as the person who asked for the export to download it." : "";
  $("#sign-in-why").textContent = [reason, forExport].filter(Boolean).join(" ");
  $("#tabs").hidden = true;
  $("#who").hidden = true;
  document.querySelectorAll(".view").forEach((v) => (v.hidden = true));
}

function signIn() {
  return auth.signinRedirect({ state: { returnTo: here() } });
}

// Back from the issuer with a code: exchange it (PKCE) and go where the person was.
async function finishSignIn() {
  try {
    const user = await auth.signinRedirectCallback();
    history.replaceState(null, "", user.state?.returnTo || "/");
  } catch (e) {
    history.replaceState(null, "", "/");
    show(`Signing in did not work: ${e.message}`);
  }
}

// Ends the session here and, where the issuer says how, there too; then the page is at
// `returnTo` (the issuer sends everyone back to / only), ready to sign in as someone else.
async function signOut(returnTo = "/") {
  me = null;
  sessionStorage.setItem(RETURN_KEY, returnTo);
  try {
    await auth.signoutRedirect();
  } catch {
    await auth.removeUser();
    sessionStorage.removeItem(RETURN_KEY);
    history.replaceState(null, "", returnTo);
    signInPage("You are signed out.");
  }
}

// Signed in, but the system cannot go on with this person (the directory does not know them, or
// it did not answer): say so, and let them sign out to sign in as someone else.
function cannotGoOn(user, message) {
  signInPage(message);
  $("#sign-in-button").hidden = true;
  $("#who").hidden = false;
  $("#who-name").textContent = user.profile?.email || user.profile?.sub || "";
}

async function start() {
  await loadConfig();
  if (location.pathname === "/callback") await finishSignIn();
  const returnTo = sessionStorage.getItem(RETURN_KEY);
  if (returnTo && location.pathname === "/") history.replaceState(null, "", returnTo);
  sessionStorage.removeItem(RETURN_KEY);
  const user = await auth.getUser();
  if (!user || user.expired) return signInPage(user ? SESSION_ENDED : "");
  try {
    me = await api("/v1/me");
  } catch (e) {
    if (e.status !== 401) cannotGoOn(user, e.message);
    return;
  }
  $("#sign-in").hidden = true;
  $("#sign-in-button").hidden = false;
  $("#tabs").hidden = false;
  $("#who").hidden = false;
  $("#who-name").textContent = `${me.name || me.agent_id} · ${isAdmin() ? "admin" : "agent"}, ${me.agency_name || me.agency_id}`;
  // Admin controls carry data-admin: one place decides who sees them (views: see route).
  document.querySelectorAll("[data-admin]:not(.view)").forEach((e) => (e.hidden = !isAdmin()));
  // An agent whose agency turned agent exports off has no Exports tab (a typed address says why).
  $("#tab-exports").hidden = !me.can_export;
  // During open enrollment each list and export offers the coming year beside the current one.
  for (const [choice, select] of [["#plan-year-choice", "#plan-year"], ["#export-year-choice", "#export-year"]]) {
    $(select).replaceChildren(...servedYears().map((y) => new Option(yearLabel(y), String(y))));
    $(choice).hidden = servedYears().length < 2;
  }
  await prepareScopes();
  await refreshBadge();
  route();
}

// ---- navigation ------------------------------------------------------------------------------

let routed = null;

function route() {
  if (!me) return;
  routed = location.href;
  show("");
  const clientMatch = location.pathname.match(/^\/clients\/(\d+)$/);
  const evidenceMatch = location.pathname.match(/^\/clients\/(\d+)\/evidence$/);
  const exportMatch = exportPath();
  // A hash may carry one parameter after a colon (`#at-risk:north` is north's list) and a query
  // after a `?` (`#at-risk:north?archived=include&cursor=…`: where in the list one is).
  const [hashPath, hashQuery = ""] = (location.hash || "#home").slice(1).split("?");
  const [hashView, hashParam] = hashPath.split(":");
  let view = clientMatch ? "client" : evidenceMatch ? "evidence" : exportMatch ? "export" : hashView;
  if (document.getElementById(view)?.hasAttribute("data-admin") && !isAdmin()) view = "home";
  if (document.getElementById(view)?.hasAttribute("data-local") && !config.local) view = "home";
  const from = viewShown;
  viewShown = view;
  document.querySelectorAll(".view").forEach((v) => (v.hidden = v.id !== view));
  document.querySelectorAll("#tabs a").forEach((a) => a.removeAttribute("aria-current"));
  const tab = $(`#tab-${view}`);
  if (tab) tab.setAttribute("aria-current", "page");
  // Each view says where one is: the document's title names it, and focus moves to its heading
  // (where a screen reader goes on reading).
  const heading = $(`#${view} h2`);
  // (Paging or filtering the list shown keeps the reader where they are.)
  const withinList = from === "at-risk" && view === "at-risk";
  if (heading && !withinList) {
    setTitle(heading.textContent);
    heading.tabIndex = -1;
    // After the browser is done with the address: going to `#exports` also moves the focus
    // starting point to the element of that id, after this runs.
    setTimeout(() => heading.focus());
  }
  const open = { home: openHome, "at-risk": () => openAtRisk(hashParam, new URLSearchParams(hashQuery)), client: () => openClient(clientMatch[1]), evidence: () => openEvidence(evidenceMatch[1]), export: () => openExport(exportMatch[1]), exports: openExports, settings: openSettings, "my-settings": openMySettings, inbox: openInbox }[view];
  if (open) open().catch((e) => show(e.message));
}

// ---- the at-risk list ------------------------------------------------------------------------

let viewShown = null;
// When the list shown was visited before its opening (null: never): what is marked new.
let visitedBefore = null;
const agencyNames = new Map();

async function prepareScopes() {
  const select = $("#list-scope");
  select.replaceChildren(new Option("My book", "mine"));
  const agencySelects = [$("#export-agency"), $("#settings-agency")];
  agencySelects.forEach((s) => s.replaceChildren());
  if (isAdmin()) {
    const { items } = await api(`/v1/agencies/${me.agency_id}/downline`);
    for (const agency of items) {
      agencyNames.set(agency.agency_id, agency.name);
      const label = `${"· ".repeat(agency.depth)}${agency.name}`;
      select.append(new Option(`Agency: ${label}`, agency.agency_id));
      agencySelects.forEach((s) => s.append(new Option(label, agency.agency_id)));
    }
  }
}

// The badge counts the current year's list; during open enrollment a second one the coming
// year's (each list has its own watermark).
async function refreshBadge() {
  const summary = await api(`/v1/at-risk/summary?plan_year=${me.plan_years.current}`);
  const badge = $("#badge");
  badge.textContent = summary.new_since_last_visit;
  badge.dataset.count = summary.new_since_last_visit;
  const coming = me.plan_years.coming;
  $("#badge-coming").hidden = !coming;
  if (coming) {
    const next = await api(`/v1/at-risk/summary?plan_year=${coming}`);
    $("#badge-coming").textContent = `${coming}: ${next.new_since_last_visit}`;
    $("#badge-coming").dataset.count = next.new_since_last_visit;
    $("#badge-coming").setAttribute("aria-label", `${next.new_since_last_visit} new in plan year ${coming}`);
    summary.coming = next;
  }
  return summary;
}

const entries = (n) => `${n} ${n === 1 ? "entry" : "entries"}`;

async function openHome() {
  if (isAdmin()) await Promise.all([openAgencyHome(), showSwapPatterns(me.agency_id), showConduct(me.agency_id)]);
  const summary = await refreshBadge();
  const fresh = summary.new_since_last_visit;
  let text = `${fresh} new at-risk ${fresh === 1 ? "entry" : "entries"} since your last visit (${when(summary.last_visited_at)}); ${summary.total} at risk in all.`;
  if (summary.coming) {
    const { plan_year: year, closes } = me.plan_years.open_enrollment;
    text += ` Open enrollment for ${year} (until ${new Date(`${closes}T00:00:00`).toLocaleDateString()}): ${summary.coming.new_since_last_visit} new, ${summary.coming.total} at risk in its list.`;
  }
  $("#home-summary").textContent = text;
}

// An admin lands on their agency's tree: its figures, and the sub-agencies to look at first.
async function openAgencyHome() {
  const summary = await api(`/v1/agencies/${me.agency_id}/at-risk/summary?plan_year=${me.plan_years.current}`);
  const agency = me.agency_name || me.agency_id;
  $("#agency-home-title").textContent = `${agency} and below`;
  let text = `${entries(summary.new_since_last_visit)} newly at risk since your agency's view was last opened (${when(summary.last_visited_at)}); ${entries(summary.total)} at risk in all.`;
  const coming = me.plan_years.coming;
  if (coming) {
    const next = await api(`/v1/agencies/${me.agency_id}/at-risk/summary?plan_year=${coming}`);
    text += ` Open enrollment for ${coming}: ${entries(next.new_since_last_visit)} newly at risk, ${entries(next.total)} at risk in its list.`;
  }
  $("#agency-summary").textContent = text;
  $("#agency-list-link").href = `/#at-risk:${me.agency_id}`;
  $("#agency-list-link").textContent = `Open ${agency}'s at-risk list`;
  const list = $("#top-agencies");
  list.replaceChildren();
  for (const child of summary.top_agencies) {
    const li = document.createElement("li");
    li.append(Object.assign(document.createElement("a"), { href: `/#at-risk:${child.agency_id}`, textContent: child.name }), ` — ${entries(child.total)} at risk`);
    list.append(li);
  }
  if (summary.top_agencies.length === 0) list.append(Object.assign(document.createElement("li"), { textContent: "No sub-agency has entries at risk." }));
}

// Who takes the tree's clients: the split, a bar chart of the weeks and the same figures as
// tables (what a screen reader reads).
async function showSwapPatterns(agency) {
  const patterns = await api(`/v1/agencies/${agency}/swap-patterns`);
  const taken = patterns.in_agency + patterns.outside;
  $("#swaps-split").textContent = taken === 0
    ? "No entries taken from the agency this plan year."
    : `${entries(taken)} taken this plan year: ${patterns.outside} by NPNs outside the agency, ${patterns.in_agency} by its own agents.`;
  const weeks = patterns.weeks.slice(-16);
  drawWeeks(weeks);
  const weekRows = $("#swaps-weeks tbody");
  weekRows.replaceChildren();
  for (const week of weeks.slice().reverse()) {
    const tr = document.createElement("tr");
    tr.append(cell(week.week), cell(String(week.outside)), cell(String(week.in_agency)));
    weekRows.append(tr);
  }
  const takerRows = $("#swaps-takers tbody");
  takerRows.replaceChildren();
  for (const taker of patterns.takers.slice(0, 20)) {
    const tr = document.createElement("tr");
    tr.append(cell(taker.npn), cell(taker.agent_id || "not in the directory"), cell(String(taker.takes)), cell(String(taker.in_agency)));
    takerRows.append(tr);
  }
}

// What the tree's own agents take from other books: the spikes first (a week far above an
// agent's usual), then the agents, the most first.
async function showConduct(agency) {
  const conduct = await api(`/v1/agencies/${agency}/conduct`);
  const taken = conduct.from_inside + conduct.from_outside;
  $("#conduct-split").textContent = taken === 0
    ? "The agency's agents took no entries from other books this plan year."
    : `The agency's agents took ${entries(taken)} from other books this plan year: ${conduct.from_outside} from outside the agency, ${conduct.from_inside} from inside it.`;
  const named = (who) => who.name ? `${who.name} (NPN ${who.npn})` : `NPN ${who.npn}, no longer in the agency`;
  const spikes = $("#conduct-spikes");
  spikes.replaceChildren();
  for (const spike of conduct.spikes.slice(0, 10)) {
    const li = document.createElement("li");
    li.textContent = `Spike: ${named(spike)} took ${entries(spike.takes)} in week ${spike.week}; the median of the eight weeks before was ${spike.median_before}.`;
    spikes.append(li);
  }
  spikes.hidden = conduct.spikes.length === 0;
  const rows = $("#conduct-agents tbody");
  rows.replaceChildren();
  for (const agent of conduct.agents.slice(0, 20)) {
    const tr = document.createElement("tr");
    tr.append(cell(agent.name || "no longer in the agency"), cell(agent.npn), cell(String(agent.takes)), cell(String(agent.from_inside)), cell(String(agent.from_outside)));
    rows.append(tr);
  }
}

function drawWeeks(weeks) {
  const svg = $("#swaps-chart");
  svg.replaceChildren(svg.querySelector("title"));
  const svgElement = (name, attributes) => {
    const element = document.createElementNS("http://www.w3.org/2000/svg", name);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
    return element;
  };
  const highest = Math.max(1, ...weeks.map((w) => w.in_agency + w.outside));
  const slot = 520 / Math.max(weeks.length, 1);
  const scale = (n) => (n / highest) * 120;
  weeks.forEach((week, i) => {
    const x = i * slot + slot * 0.15;
    const width = slot * 0.7;
    const outside = scale(week.outside);
    const inside = scale(week.in_agency);
    svg.append(svgElement("rect", { x, y: 125 - outside, width, height: outside, class: "outside" }));
    svg.append(svgElement("rect", { x, y: 125 - outside - inside, width, height: inside, class: "inside" }));
    const label = svgElement("text", { x: x + width / 2, y: 145, "text-anchor": "middle", class: "week" });
    label.textContent = week.week.slice(5);
    svg.append(label);
  });
}

// The list's place is in the address: whose list, the archived filter, the page size and the
// page's cursor (`#at-risk:{scope}?archived=…&size=…&cursor=…`), so Back, a reload and a shared
// link keep it. The pages before this one are in the history entry's state: Previous is Back.
function listAddress({ scope = $("#list-scope").value, year = $("#plan-year").value, archived = $("#archived").value, size = $("#page-size").value, cursor = null } = {}) {
  const query = new URLSearchParams({ year, archived, size });
  if (cursor) query.set("cursor", cursor);
  return `/#at-risk:${scope}?${query}`;
}

// A page, a filter or a page size of the same list carries its opening along (what is new stays
// marked); another list is opened afresh.
function goToList(place = {}, trail = []) {
  const opening = history.state?.opening;
  const sameList = (!place.scope || place.scope === opening?.scope) && (!place.year || place.year === opening?.year);
  history.pushState({ trail, opening: sameList ? opening : undefined }, "", listAddress(place));
  route();
}

async function openAtRisk(scope, query) {
  const select = $("#list-scope");
  if (scope && [...select.options].some((o) => o.value === scope)) select.value = scope;
  const archived = query.get("archived");
  $("#archived").value = ["exclude", "include", "only"].includes(archived) ? archived : "exclude";
  const size = query.get("size");
  $("#page-size").value = ["10", "25", "50", "100"].includes(size) ? size : "25";
  let year = query.get("year") ?? String(me.plan_years.current);
  let cursor = query.get("cursor");
  if (!servedYears().map(String).includes(year)) {
    // A year no longer served (a bookmark from last season): the current year's first page, and
    // the address says so (this is where the router now is).
    year = String(me.plan_years.current);
    cursor = null;
    $("#plan-year").value = year;
    history.replaceState({ ...(history.state || {}), trail: [] }, "", listAddress({ year }));
    routed = location.href;
  }
  $("#plan-year").value = year;
  // Opening a list is its visit; coming back to it (Back, a reload, paging) is not: the history
  // entry keeps its opening, so what was new then stays marked. Each plan year's list is its own.
  const kept = history.state?.opening;
  const sameList = kept?.scope === select.value && kept?.year === $("#plan-year").value;
  const opening = sameList ? kept : await openList(select.value, $("#plan-year").value);
  showOpening(opening);
  await loadPage(cursor);
}

// Opening a list is its visit, and each list has its own: an agent's book moves the badge's
// watermark, an admin's own agency view the one its admins share; an admin looking into a
// sub-agency moves none. What was listed after the visit before is on top, marked new. The
// opening is kept in the history entry.
async function openList(scope, year) {
  const base = scope === "mine" ? "/v1/at-risk" : `/v1/agencies/${scope}/at-risk`;
  const before = await api(`${base}/summary?plan_year=${year}`);
  const ours = scope === "mine" || scope === me.agency_id;
  if (ours) await api(`${base}/visits?plan_year=${year}`, { method: "POST" });
  if (scope === "mine") await refreshBadge();
  const opening = { scope, year, summary: before };
  history.replaceState({ ...(history.state || {}), opening }, "");
  return opening;
}

function showOpening({ scope, year, summary }) {
  visitedBefore = summary.last_visited_at;
  const whose = scope === "mine" ? "your book" : `${agencyNames.get(scope) || scope} and below`;
  const list = servedYears().length > 1 ? `${whose}, plan year ${year}` : whose;
  const visit = scope === "mine" ? "your last visit" : "this list was last opened by its agency's admins";
  $("#at-risk-summary").textContent =
    `${summary.total} at risk in ${list}; ${summary.new_since_last_visit} new since ${visit} (${when(summary.last_visited_at)}), marked “New”.`;
}

// New as the badge counts it: listed after the visit before, and not archived.
const listedSinceVisit = (item) => !item.archived && (!visitedBefore || new Date(item.listed_at) > new Date(visitedBefore));

async function loadPage(cursor) {
  const scope = $("#list-scope").value;
  const params = new URLSearchParams({ plan_year: $("#plan-year").value, limit: $("#page-size").value, archived: $("#archived").value });
  if (cursor) params.set("cursor", cursor);
  const path = scope === "mine" ? `/v1/at-risk?${params}` : `/v1/agencies/${scope}/at-risk?${params}`;
  const table = $("#at-risk-table");
  table.setAttribute("aria-busy", "true");
  // (No second Next while this page loads.)
  ["#first-page", "#previous-page", "#next-page"].forEach((b) => ($(b).disabled = true));
  $("#list-status").textContent = "Loading…";
  let page;
  try {
    page = await api(path);
  } catch (e) {
    $("#list-status").textContent = `The list could not be loaded: ${e.message}`;
    throw e;
  } finally {
    table.removeAttribute("aria-busy");
  }
  $("#list-status").textContent = "";
  document.querySelectorAll(".agency-col").forEach((c) => (c.hidden = scope === "mine"));
  const body = $("#at-risk-table tbody");
  body.replaceChildren();
  for (const item of page.items) {
    const tr = document.createElement("tr");
    const name = document.createElement("td");
    const link = document.createElement("a");
    link.href = new URL(item.client_details_url).pathname + new URL(item.client_details_url).search;
    link.textContent = item.client_name;
    name.append(link);
    if (item.archived) name.append(" (archived)");
    if (listedSinceVisit(item)) {
      tr.classList.add("new");
      name.append(" ", Object.assign(document.createElement("strong"), { className: "new-mark", textContent: "New" }));
    }
    tr.append(name, cell(item.federal_exchange_id), timeCell(item.last_synced_at), timeCell(item.listed_at), timeCell(item.at_risk_since), cell(reasons[item.reason] || item.reason));
    const agent = cell(item.agent_name ? `${item.agent_name} · ${item.agency_name || ""}` : "");
    agent.className = "agency-col";
    agent.hidden = scope === "mine";
    tr.append(agent);
    // At phone width each row is a card, each value under its column's name.
    [...tr.children].forEach((td, i) => (td.dataset.label = labels[i]));
    body.append(tr);
  }
  if (page.items.length === 0) {
    const tr = document.createElement("tr");
    // A page can come back empty with more to follow while a move takes entries out of this list.
    const td = cell(page.next_cursor ? "Entries here are being moved to another agency; the next page goes on." : "Nothing at risk here.");
    td.colSpan = 7;
    tr.append(td);
    body.append(tr);
  }
  const trail = history.state?.trail || [];
  $("#first-page").disabled = !cursor;
  $("#previous-page").disabled = trail.length === 0;
  $("#next-page").disabled = !page.next_cursor;
  $("#next-page").onclick = () => goToList({ cursor: page.next_cursor }, [...trail, cursor]);
}

// ---- a client: sync now and show each policy's AOR ----------------------------------------------

// Opening the page syncs (the spec's client details sync); the story below is what is known.
async function openClient(id) {
  const year = new URLSearchParams(location.search).get("plan_year");
  // Named by the FFM ID until the story brings the client's name.
  $("#client-title").textContent = `Client · FFM ID ${id}`;
  setTitle($("#client-title").textContent);
  $("#client-status").textContent = "Syncing with the marketplace…";
  $("#policies").hidden = true;
  $("#story").hidden = true;
  $("#report").hidden = true;
  $("#dispute").hidden = true;
  $("#dispute-status").textContent = "";
  $("#client-facts").replaceChildren();
  try {
    showSync(await api(`/v1/clients/${id}/sync${year ? `?plan_year=${year}` : ""}`, { method: "POST" }));
  } catch (e) {
    $("#client-status").textContent = `${e.message} What is known from earlier syncs is below.`;
  }
  storyCursor = null;
  $("#timeline").replaceChildren();
  await loadStory(id, year);
}

function showSync(result) {
  $("#client-status").textContent = result.at_risk ? "At risk: the AOR is not (only) yours." : "Not at risk: every active policy shows your NPN.";
  const facts = [
    ["Plan year", result.plan_year],
    ["Expected NPN", result.expected_npn],
    ["Last synced", when(result.last_synced_at)],
  ];
  for (const [term, value] of facts) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value;
    $("#client-facts").append(dt, dd);
  }
  const body = $("#policies tbody");
  body.replaceChildren();
  for (const policy of result.policies) {
    const tr = document.createElement("tr");
    const match = cell(policy.matches_expected_npn ? "Yes" : "No");
    match.className = policy.matches_expected_npn ? "match-yes" : "match-no";
    tr.append(cell(policy.policy_id), cell(policy.issuer_name), cell(policy.status), cell(policy.aor ? policy.aor.npn : "none"), cell(policy.aor ? policy.aor.name : "—"), match);
    body.append(tr);
  }
  $("#policies").hidden = false;
}

let storyCursor = null;

const storyPath = (id, year, cursor, limit = 25) => {
  const params = new URLSearchParams({ limit: String(limit) });
  if (year) params.set("plan_year", year);
  if (cursor) params.set("cursor", cursor);
  return `/v1/clients/${id}?${params}`;
};

// One moment of the timeline in words: [what, NPN, details].
function describe(moment) {
  switch (moment.kind) {
    case "submission":
      return ["Submitted", moment.npn, moment.in_your_agency ? `by ${moment.agent_id} (your agency)` : "by an agent outside your agency"];
    case "sync": {
      const answer = moment.policies.length
        ? moment.policies.map((p) => `${p.policy_id} ${p.status}: AOR ${p.aor_npn || "none"}`).join("; ")
        : "no active policy";
      // Syncs in a row with the same answer are one moment: say how many, since when.
      const what = moment.syncs > 1
        ? `Synced ${moment.syncs} times from ${new Date(moment.first_at).toLocaleDateString()}, AOR unchanged`
        : "Synced with the marketplace";
      return [what, moment.policies.map((p) => p.aor_npn || "none").join(", "), answer];
    }
    case "archived":
      return [moment.archived ? "Archived" : "Unarchived", "", ""];
    case "permission_revoked":
      return ["EDE permission revoked", "", "the platform reported your enhanced direct enrollment permission revoked"];
    case "at_risk":
      return ["Flagged at risk", moment.other_npn || "", reasons[moment.reason] || moment.reason];
    case "reason_changed":
      return moment.previous_reason === moment.reason
        ? ["Another NPN now", moment.other_npn || "", reasons[moment.reason] || moment.reason]
        : ["Reason changed", moment.other_npn || "", `${reasons[moment.previous_reason] || moment.previous_reason} → ${reasons[moment.reason] || moment.reason}`];
    case "cleared":
      return ["No longer at risk", "", ""];
    default:
      return [moment.kind, "", ""];
  }
}

async function loadStory(id, year) {
  const first = !storyCursor;
  const shown = location.href;
  const story = await api(storyPath(id, year, storyCursor));
  // (The person may have gone to another client meanwhile: this page is not theirs to draw.)
  if (location.href !== shown) return;
  const entry = story.entry;
  // The client's name and FFM ID, and whose book it is, as people name them.
  $("#client-title").textContent = `${entry.client_name} · FFM ID ${story.federal_exchange_id}`;
  setTitle($("#client-title").textContent);
  $("#story-entry").textContent = `In the book of ${entry.agent_name || entry.agent_id} · expected NPN ${entry.expected_npn}${entry.archived ? " · archived" : ""}`;
  for (const moment of story.timeline) {
    const [what, npn, details] = describe(moment);
    const li = document.createElement("li");
    li.dataset.kind = moment.kind;
    const time = Object.assign(document.createElement("time"), { dateTime: moment.at, textContent: when(moment.at) });
    li.append(time, ` — ${what}${npn ? ` · NPN ${npn}` : ""}${details ? ` · ${details}` : ""}`);
    $("#timeline").append(li);
  }
  storyCursor = story.next_cursor;
  $("#story-more").hidden = !storyCursor;
  $("#story").hidden = false;
  // (The next pages of the timeline leave the report, the case and its form as they are.)
  if (!first) return;
  showDisputes(story, id, year);
  $("#report").hidden = true;
  if (!entry.at_risk) return;
  // The report reads the whole timeline: asked for on its own, once. It may come back after the
  // person went to another client, or find the entry cleared meanwhile (404: nothing to report).
  let report;
  try {
    report = await api(`/v1/clients/${id}/report${year ? `?plan_year=${year}` : ""}`);
  } catch (e) {
    if (e.status === 404) return;
    throw e;
  }
  if (location.href !== shown) return;
  const { to, subject, body } = report;
  $("#report-mailto").href = `mailto:${to}?subject=${encodeURIComponent(subject)}&body=${encodeURIComponent(body)}`;
  $("#report-text").textContent = `To: ${to}\nSubject: ${subject}\n\n${body}`;
  $("#report-evidence").href = `/clients/${id}/evidence${year ? `?plan_year=${year}` : ""}`;
  $("#report").hidden = false;
}

// ---- a client's dispute case: open it, follow it, withdraw it ------------------------------------

const CHANNELS = { cms_help_desk: "the CMS help desk", carrier: "the carrier", state_doi: "the state department of insurance" };
let disputeOf = null;

// The open case (or else the latest) of the entry, and the form to open one or add to it.
function showDisputes(story, id, year) {
  const open = story.disputes.find((d) => d.status === "open");
  const shown = open || story.disputes[0];
  disputeOf = { id, year, open };
  $("#dispute").hidden = !shown && !story.entry.at_risk;
  $("#dispute-case").hidden = !shown;
  if (shown) {
    const closed = shown.status === "open" ? "" : `, ${shown.status} ${when(shown.closed_at)}`;
    $("#dispute-summary").textContent = `Case ${shown.status}: opened ${when(shown.opened_at)} (${shown.age_days} ${shown.age_days === 1 ? "day" : "days"}${closed}).`;
    const facts = [
      ["Raised through", shown.channels.map((c) => CHANNELS[c]).join(", ")],
      ["Reference", shown.reference || "none"],
      ["Disputed", `${shown.other_npn ? `NPN ${shown.other_npn}` : "no AOR"} since the case opened`],
    ];
    $("#dispute-facts").replaceChildren(...facts.flatMap(([term, value]) => [
      Object.assign(document.createElement("dt"), { textContent: term }),
      Object.assign(document.createElement("dd"), { textContent: value }),
    ]));
    $("#dispute-notes").replaceChildren(...shown.notes.map((note) => {
      const li = document.createElement("li");
      li.append(Object.assign(document.createElement("time"), { dateTime: note.at, textContent: when(note.at) }), ` — ${note.text}`);
      return li;
    }));
  }
  const form = $("#dispute-form");
  form.hidden = !open && !story.entry.at_risk;
  form.reset();
  for (const box of form.querySelectorAll("input[name=dispute-channel]")) {
    box.checked = Boolean(open?.channels.includes(box.value));
    box.disabled = box.checked;
  }
  $("#dispute-form-intro").textContent = open
    ? "Add where else you raised it, its reference or a note; or withdraw it. It closes by itself when the AOR comes back."
    : "Raised a dispute? Open a case: it follows itself, closing when a sync shows your NPN again, and the daily digest reminds you after 14 days without news.";
  $("#dispute-submit").textContent = open ? "Save to the case" : "Open a dispute case";
  $("#dispute-withdraw").hidden = !open;
}

async function sendDispute(body) {
  const { id, year, open } = disputeOf;
  const path = open ? `/v1/disputes/${open.dispute_id}` : `/v1/clients/${id}/disputes${year ? `?plan_year=${year}` : ""}`;
  const buttons = [$("#dispute-submit"), $("#dispute-withdraw")];
  buttons.forEach((b) => (b.disabled = true));
  try {
    await api(path, { method: open ? "PATCH" : "POST", body });
    showDisputes(await api(storyPath(id, year, null, 1)), id, year);
    $("#dispute-status").textContent = open ? (body.withdraw ? "The case is withdrawn." : "Saved to the case.") : "The case is open.";
  } catch (e) {
    $("#dispute-status").textContent = e.message;
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

$("#dispute-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const body = {};
  const channels = [...document.querySelectorAll("input[name=dispute-channel]:checked:not(:disabled)")].map((box) => box.value);
  if (channels.length || !disputeOf.open) body.channels = channels;
  const reference = $("#dispute-reference").value.trim();
  if (reference) body.reference = reference;
  const note = $("#dispute-note").value.trim();
  if (note) body.note = note;
  if (!disputeOf.open && channels.length === 0) {
    $("#dispute-status").textContent = "Tick where you raised the dispute.";
    return;
  }
  sendDispute(body);
});
$("#dispute-withdraw").addEventListener("click", () => sendDispute({ withdraw: true }));

// ---- the printable evidence page ---------------------------------------------------------------

let evidenceRows = [];

async function openEvidence(id) {
  const year = new URLSearchParams(location.search).get("plan_year");
  $("#evidence-back").href = `/clients/${id}${year ? `?plan_year=${year}` : ""}`;
  // The whole timeline, page by page.
  let story = await api(storyPath(id, year, null, 200));
  const timeline = [...story.timeline];
  while (story.next_cursor) {
    story = await api(storyPath(id, year, story.next_cursor, 200));
    timeline.push(...story.timeline);
  }
  const others = [...new Set(timeline.flatMap((m) => [m.npn, m.other_npn, ...(m.policies || []).map((p) => p.aor_npn)]).filter((n) => n && n !== story.entry.expected_npn))];
  const facts = [
    ["FFM application ID", story.federal_exchange_id],
    ["Plan year", story.plan_year],
    ["Agent of record's NPN", story.entry.expected_npn],
    ["Other NPN(s)", others.join(", ") || "none"],
    ["At risk since", story.entry.at_risk ? when(story.entry.at_risk_since) : "not at risk"],
  ];
  $("#evidence-facts").replaceChildren(...facts.flatMap(([term, value]) => [
    Object.assign(document.createElement("dt"), { textContent: term }),
    Object.assign(document.createElement("dd"), { textContent: value }),
  ]));
  evidenceRows = timeline.map((m) => [m.at, ...describe(m)]);
  const body = $("#evidence-table tbody");
  body.replaceChildren();
  for (const [at, what, npn, details] of evidenceRows) {
    const tr = document.createElement("tr");
    tr.append(cell(when(at)), cell(what), cell(npn), cell(details));
    body.append(tr);
  }
  $("#evidence-title").textContent = `Evidence: FFM application ${story.federal_exchange_id}, plan year ${story.plan_year}`;
  setTitle($("#evidence-title").textContent);
}

// RFC 4180, and a cell that could start a formula is neutralised (as the exports are).
function csvCell(value) {
  let text = String(value ?? "");
  if (/^\s*[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function downloadEvidenceCsv() {
  const lines = [["Date", "What", "NPN", "Details"], ...evidenceRows].map((row) => row.map(csvCell).join(","));
  const blob = new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
  const link = Object.assign(document.createElement("a"), { href: URL.createObjectURL(blob), download: `aor-evidence-${location.pathname.split("/")[2]}.csv` });
  document.body.append(link);
  link.click();
  link.remove();
}

// ---- exports ---------------------------------------------------------------------------------

async function openExports() {
  const allowed = me.can_export;
  $("#export-mine").hidden = !allowed;
  $("#exports-disabled").hidden = allowed;
  $("#exports-disabled").textContent = allowed
    ? ""
    : "Exports are turned off: your agency admin has disabled exports for agents, so there is no Exports tab. Exports you made before are below.";
  await listExports();
}

async function listExports() {
  const { items } = await api("/v1/exports");
  const list = $("#past-exports");
  // Focus on a download button survives the list being drawn again.
  const focused = list.contains(document.activeElement) ? document.activeElement.closest("li")?.dataset.exportId : undefined;
  list.replaceChildren();
  for (const job of items) {
    const li = document.createElement("li");
    li.dataset.exportId = job.export_id;
    const tree = `${agencyNames.get(job.agency_id) || job.agency_id} and below`;
    const what = { agency: tree, disputes: `Dispute cases of ${tree}` }[job.scope] || "My book";
    li.append(`${what} · plan year ${job.plan_year} · ${when(job.created_at)} · ${job.status} · ${job.rows_written} rows `);
    if (job.status === "succeeded") li.append(downloadButton(job.export_id));
    if (job.error) li.append(` (${job.error})`);
    list.append(li);
  }
  if (items.length === 0) list.append(Object.assign(document.createElement("li"), { textContent: "No exports yet." }));
  if (focused) list.querySelector(`li[data-export-id="${CSS.escape(focused)}"] button.download`)?.focus();
}

// The API checks that the caller asked for the export, then hands out a short-lived link to
// the file (as JSON: a script cannot read a redirect's target).
async function download(exportId) {
  const { url } = await api(`/v1/exports/${exportId}/download`, { accept: "application/json" });
  location.href = url;
}

function downloadButton(exportId) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "download";
  button.textContent = "Download";
  button.addEventListener("click", () => download(exportId).catch((e) => show(e.message)));
  return button;
}

// ---- one export: where the emailed link lands --------------------------------------------------

async function openExport(id) {
  const status = $("#export-page-status");
  const actions = $("#export-page-actions");
  $("#export-page-title").textContent = `Export ${id}`;
  actions.replaceChildren();
  let job;
  for (;;) {
    try {
      job = await api(`/v1/exports/${id}`);
    } catch (e) {
      // The API answers 404 alike for an export that does not exist and one of someone else's,
      // so ids cannot be probed; the person who followed a link needs to know which to do next.
      status.textContent = e.status === 404
        ? "This export is not yours: only the person who asked for it can download it. Sign in as that person, or ask for an export of your own."
        : e.message;
      if (e.status === 404) actions.append(Object.assign(document.createElement("button"), { type: "button", id: "sign-in-as-another", textContent: "Sign in as someone else", onclick: () => signOut(here()) }));
      return;
    }
    if (job.status === "succeeded" || job.status === "failed") break;
    status.textContent = `Still building: ${job.rows_written} rows written so far…`;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    if (!exportPath()) return; // the person went elsewhere
  }
  if (job.status === "failed") {
    status.textContent = `This export could not be built: ${job.error || "an unexpected error"}. Ask for a new one on the Exports tab.`;
    return;
  }
  status.textContent = `Your export is ready: ${job.rows_written} rows. The download starts now.`;
  actions.append(downloadButton(id));
  try {
    await download(id);
  } catch (e) {
    status.textContent = e.status === 410 ? "This export's file has expired. Ask for a new one on the Exports tab." : e.message;
    actions.replaceChildren();
  }
}

// One export per Generate: the request carries a key of its own (a retried or doubled request
// gets the same export back), and the buttons wait while it is asked for and built.
const exportKeys = new Map();

async function requestExport(body) {
  show("");
  const buttons = [$("#export-mine"), $("#export-agency-submit")];
  buttons.forEach((b) => (b.disabled = true));
  // A request whose answer was lost is asked again with the same key: the same export comes back.
  const asked = JSON.stringify(body);
  if (!exportKeys.has(asked)) exportKeys.set(asked, crypto.randomUUID());
  try {
    const accepted = await api("/v1/exports", { method: "POST", body, idempotencyKey: exportKeys.get(asked) }).catch((e) => {
      if (e.status) exportKeys.delete(asked);
      throw e;
    });
    exportKeys.delete(asked);
    await followExport(accepted.export_id);
  } catch (e) {
    show(e.message);
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

async function followExport(exportId) {
  const progress = $("#export-progress");
  progress.hidden = false;
  $("#progress-id").textContent = exportId;
  $("#progress-bar").removeAttribute("value");
  for (;;) {
    const job = await api(`/v1/exports/${exportId}`);
    const ended = job.status === "succeeded" || job.status === "failed";
    // The list is refreshed before the end is announced, so the download button a person
    // reaches after hearing "succeeded" is the new one and is not replaced under them.
    if (ended) await listExports();
    $("#progress-rows").textContent = job.status === "failed"
      ? `Failed: ${job.error || "an unexpected error"}. Ask for a new export.`
      : `${job.rows_written} rows written · ${job.status}`;
    if (ended) {
      $("#progress-bar").max = 1;
      $("#progress-bar").value = 1;
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

// ---- settings and inbox ----------------------------------------------------------------------

async function openMySettings() {
  showMySettings(await api("/v1/me/settings"));
}

function showMySettings(settings) {
  $("#daily-digest").checked = settings.daily_digest;
  $("#digest-scope").value = settings.digest_scope;
  const whose = settings.digest_scope === "agency" ? "your agency and the agencies below it" : "your book";
  $("#my-settings-status").textContent = settings.daily_digest
    ? `On: once a day, an email naming what became at risk in ${whose} since ${when(settings.digest_since)}, when there is something.`
    : "Off: no digest emails.";
}

async function changeMySettings(change) {
  try {
    showMySettings(await api("/v1/me/settings", { method: "PATCH", body: change }));
  } catch (e) {
    show(e.message);
    await openMySettings();
  }
}

async function openSettings() {
  const agency = $("#settings-agency").value || me.agency_id;
  const settings = await api(`/v1/agencies/${agency}/settings`);
  $("#agent-exports-enabled").checked = settings.agent_exports_enabled;
  $("#settings-status").textContent = "";
}

async function openInbox() {
  const emails = await fetch("/dev/inbox").then((r) => r.json());
  const list = $("#emails");
  list.replaceChildren();
  for (const email of emails.slice().reverse()) {
    const li = document.createElement("li");
    const title = document.createElement("strong");
    title.textContent = email.subject;
    const meta = document.createElement("div");
    meta.className = "quiet";
    meta.textContent = `To ${email.to.join(", ")}`;
    li.append(title, meta);
    // As a mail client shows it: the HTML part (in a sandbox: no script, no reach into this page),
    // and the plain text part beside it.
    if (email.html) {
      li.append(Object.assign(document.createElement("iframe"), { sandbox: "", srcdoc: email.html, title: `The email as HTML: ${email.subject}`, className: "email-html" }));
    }
    const text = document.createElement("details");
    text.open = !email.html;
    const body = document.createElement("pre");
    body.textContent = email.body;
    text.append(Object.assign(document.createElement("summary"), { textContent: "Plain text" }), body);
    li.append(text);
    // The link an email gives: an export's download page, or a digest's list.
    const link = email.body.match(/https?:\/\/\S+\/(exports\/[\w-]+|#at-risk[\w:-]*)/);
    if (link) li.append(Object.assign(document.createElement("a"), { href: link[0], textContent: link[1].startsWith("exports") ? "Open the download page" : "Open the list", className: "email-link" }));
    list.append(li);
  }
  if (emails.length === 0) list.append(Object.assign(document.createElement("li"), { textContent: "No emails yet." }));
}

// ---- wiring ----------------------------------------------------------------------------------

// A new address by a link (hashchange) or by Back and Forward (popstate; both fire for some).
const routeIfMoved = () => location.href !== routed && route();
window.addEventListener("hashchange", routeIfMoved);
window.addEventListener("popstate", routeIfMoved);
window.addEventListener("DOMContentLoaded", () => {
  $("#sign-out").addEventListener("click", () => signOut());
  $("#sign-in-button").addEventListener("click", () => signIn().catch((e) => show(e.message)));
  $("#archived").addEventListener("change", () => goToList());
  $("#page-size").addEventListener("change", () => goToList());
  $("#plan-year").addEventListener("change", () => goToList({ year: $("#plan-year").value }));
  $("#list-scope").addEventListener("change", () => goToList({ scope: $("#list-scope").value }));
  $("#first-page").addEventListener("click", () => goToList());
  $("#previous-page").addEventListener("click", () => history.back());
  const exportYear = () => Number($("#export-year").value || me.plan_years.current);
  $("#export-mine").addEventListener("click", () => requestExport({ scope: "agent", plan_year: exportYear() }));
  $("#export-agency-form").addEventListener("submit", (event) => {
    event.preventDefault();
    requestExport({ scope: $("#export-agency-scope").value, agency_id: $("#export-agency").value, plan_year: exportYear() });
  });
  $("#story-more").addEventListener("click", () => {
    const id = location.pathname.split("/")[2];
    loadStory(id, new URLSearchParams(location.search).get("plan_year")).catch((e) => show(e.message));
  });
  $("#evidence-print").addEventListener("click", () => window.print());
  $("#evidence-csv").addEventListener("click", downloadEvidenceCsv);
  $("#settings-agency").addEventListener("change", () => openSettings().catch((e) => show(e.message)));
  $("#daily-digest").addEventListener("change", (event) => changeMySettings({ daily_digest: event.target.checked }));
  $("#digest-scope").addEventListener("change", (event) => changeMySettings({ digest_scope: event.target.value }));
  $("#agent-exports-enabled").addEventListener("change", async (event) => {
    const agency = $("#settings-agency").value || me.agency_id;
    try {
      const saved = await api(`/v1/agencies/${agency}/settings`, { method: "PATCH", body: { agent_exports_enabled: event.target.checked } });
      $("#settings-status").textContent = saved.agent_exports_enabled ? "Agents may export." : "Agent exports are off.";
    } catch (e) {
      show(e.message);
    }
  });
  start().catch((e) => show(e.message));
});
