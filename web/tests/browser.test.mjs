// The page in a real browser (Debian's Chromium, driven by Playwright), against the whole local
// system that tools/browser-test.sh starts: what a person does, step by step.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile, mkdtemp } from "node:fs/promises";
import { execSync, execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const APP = process.env.APP_URL ?? "http://127.0.0.1:3000";
const APP_ORIGIN = new URL(APP).origin;
let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
});

// A page's errors: uncaught exceptions, and anything the Content-Security-Policy refused.
function watch(page) {
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && /Content.Security.Policy/i.test(m.text()) && errors.push(m.text()));
  return errors;
}

// From the page's sign-in view: "Sign in", the local OpenID provider's own page (another origin,
// as Cognito's hosted sign-in is), choose who, and back through /callback to where one started.
async function signInThroughTheProvider(page, agentId) {
  await page.click("#sign-in-button");
  await page.waitForURL((url) => url.origin !== APP_ORIGIN);
  await page.click(`button[name="login"][value="${agentId}"]`);
  await page.waitForURL((url) => url.origin === APP_ORIGIN && url.pathname !== "/callback");
}

async function signIn(agentId, viewport = { width: 1100, height: 800 }) {
  const context = await browser.newContext({ acceptDownloads: true, viewport });
  const page = await context.newPage();
  const errors = watch(page);
  await page.goto(`${APP}/`);
  await signInThroughTheProvider(page, agentId);
  await page.waitForSelector("#home:not([hidden])");
  // The home view shows before its summary arrives; the badge is filled with it.
  await page.waitForFunction(() => document.querySelector("#home-summary").textContent !== "");
  return { page, errors };
}

// The local system's resources and the seeded people (tools/browser-test.sh says where).
const resources = JSON.parse(await readFile(process.env.RESOURCES_FILE, "utf8"));
const people = JSON.parse(await readFile(process.env.SEEDED_FILE, "utf8")).users;
const YEAR = new Date().getUTCFullYear();

// An application submitted on the platform, as the platform's event says it (events/platform/),
// published on the local bus by tools/publish_event.py; the dev server's ingest consumer takes it
// from there. `at` is when it was submitted: an old time arriving now is a late event.
async function submitOnThePlatform({ application, submission, agent, at, client = "Late Event Client", year = YEAR }) {
  const { npn } = people.find((p) => p.agent_id === agent);
  const envelope = {
    version: "0", id: randomUUID(), "detail-type": "Application Submitted", source: "enrollment-platform",
    account: "123456789012", time: new Date().toISOString(), region: "us-east-1", resources: [],
    detail: { submission_id: submission, federal_exchange_id: application, plan_year: year, client_name: client, agent_id: agent, npn, submitted_at: at },
  };
  const file = join(await mkdtemp(join(tmpdir(), "event-")), "event.json");
  await writeFile(file, JSON.stringify(envelope));
  execFileSync(".venv/bin/python", ["tools/publish_event.py", file], { env: { ...process.env, PLATFORM_EVENT_BUS: resources.event_bus } });
}

// A swap that happened long ago and arrives only now: `owner`'s client taken by `taker`. (Over
// 400 days ago: older than anything the seed made, never in the future whatever the day.)
async function lateSwap(application, owner, taker, year = YEAR) {
  const daysAgo = (days) => new Date(Date.now() - days * 86_400_000).toISOString();
  await submitOnThePlatform({ application, submission: `own-${application}`, agent: owner, at: daysAgo(401), year });
  await submitOnThePlatform({ application, submission: `swap-${application}`, agent: taker, at: daysAgo(400), year });
}

// Opens the at-risk tab (the list's visit) and waits for its rows.
async function openList(page) {
  await page.click("#tab-at-risk");
  await page.waitForSelector("#at-risk-table tbody tr a");
  await page.waitForFunction(() => /at risk in/.test(document.querySelector("#at-risk-summary").textContent));
}

const rowsShown = (page) =>
  page.$$eval("#at-risk-table tbody tr", (rows) =>
    rows.map((r) => ({ id: r.children[1]?.textContent, isNew: r.classList.contains("new"), listed: r.children[3]?.querySelector("time")?.dateTime, since: r.children[4]?.querySelector("time")?.dateTime })));

// Loads `address` afresh until `ready` holds: an event published now takes the ingest a moment.
async function reloadUntil(page, address, ready, arg) {
  for (let attempt = 0; attempt < 30; attempt++) {
    await page.goto(`${APP}/${address}`);
    await page.reload();
    try {
      await page.waitForFunction(ready, arg, { timeout: 2_000 });
      return;
    } catch {}
  }
  throw new Error(`${address}: never ready`);
}

// axe-core (pinned in web/package-lock.json), run in the page as it stands.
const axeSource = await readFile(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

// Every violation of WCAG 2.1 A and AA that axe-core finds on the page now, one line each.
async function accessibilityViolations(page) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() =>
    window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } }));
  return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join("; ")}`);
}

// Presses Tab until `selector` has focus (on whichever origin the page is on), as a keyboard user does.
async function tabTo(page, selector) {
  for (let presses = 0; presses < 150; presses++) {
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
    await page.keyboard.press("Tab");
  }
  throw new Error(`Tab never reached ${selector}`);
}

// The API as a person calls it, with a token minted for them.
async function callApi(agentId, path, init = {}) {
  const response = await fetch(`${APP}${path}`, { ...init, headers: { Authorization: `Bearer ${mintToken(agentId, 600)}`, ...(init.headers || {}) } });
  return response.json();
}

// A token for a person as tools/token.sh mints it (the provider's own key).
function mintToken(agentId, expiresIn) {
  return execSync(`${process.env.TOKEN_COMMAND} ${agentId} --expires-in ${expiresIn}`, { encoding: "utf8" }).trim();
}

test("an agent sees the badge, opens the list and it resets, and syncs a client", async () => {
  const { page, errors } = await signIn("agent-summit-1");
  const badge = Number(await page.textContent("#badge"));
  assert.ok(badge > 0, `the badge counts new entries (${badge})`);

  await page.click("#tab-at-risk");
  await page.waitForSelector("#at-risk-table tbody tr a");
  await page.waitForFunction(() => document.querySelector("#badge").textContent === "0");
  const rows = await page.$$("#at-risk-table tbody tr");
  assert.ok(rows.length > 0);

  const firstId = await page.textContent("#at-risk-table tbody tr td:nth-child(2)");
  await page.click("#at-risk-table tbody tr:first-child a");
  await page.waitForSelector("#policies:not([hidden]) tbody tr");
  assert.match(await page.textContent("#client-title"), new RegExp(firstId.trim()));
  assert.match(await page.textContent("#client-status"), /risk/i);
  const matches = await page.$$eval("#policies tbody tr td:last-child", (cells) => cells.map((c) => c.textContent));
  assert.ok(matches.every((m) => m === "Yes" || m === "No"));
  assert.deepEqual(errors, []);
});

test("an agent generates an export, watches it finish and downloads the CSV", async () => {
  const { page, errors } = await signIn("agent-summit-2");
  await page.click("#tab-exports");
  await page.click("#export-mine");
  await page.waitForSelector("#export-progress:not([hidden])");
  await page.waitForFunction(() => /succeeded/.test(document.querySelector("#progress-rows").textContent), null, { timeout: 30_000 });
  const rowsWritten = Number((await page.textContent("#progress-rows")).match(/(\d+) rows/)[1]);

  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#past-exports li:first-child button.download")]);
  const csv = await readFile(await download.path(), "utf8");
  const lines = csv.split("\r\n").filter((l) => l.length > 0);
  assert.equal(lines[0], "Federal Exchange ID,Client Details Page URL,Archived Status");
  assert.equal(lines.length - 1, rowsWritten, "one line per row written, after the header");
  for (const line of lines.slice(1)) assert.match(line, /^\d+,http[^,]+\/clients\/\d+\?plan_year=\d{4},(Archived|Not archived)$/);

  await page.click("#tab-inbox");
  await page.waitForFunction(() => /Your AOR at-risk export is ready/.test(document.querySelector("#emails").textContent));
  // The email in HTML as a mail client shows it: which list and plan year, the rows, the link.
  const ready = "#emails li:has(strong:text-matches('export is ready'))";
  const html = await (await page.$(`${ready} iframe.email-html`)).contentFrame();
  assert.equal(await html.textContent("h1"), "Your AOR at-risk export is ready");
  assert.match(await html.textContent("body"), new RegExp(`in your book, plan year ${YEAR}`));
  assert.equal(await html.textContent("dl dt:nth-of-type(3) + dd"), String(rowsWritten));
  assert.match(await html.getAttribute("a", "href"), /\/exports\/[\w-]+$/);
  assert.match(await html.textContent("body"), /FFMProducer-AssisterHelpDesk@cms\.hhs\.gov/);
  assert.match(await page.textContent(`${ready} details pre`), /Download the export: http/, "and the plain text part");
  // The README's picture of an email (docs/email.png is a copy of it).
  await page.$eval(ready, (li) => li.scrollIntoView());
  await (await page.$(ready)).screenshot({ path: "target/browser-test/email.png" });
  assert.deepEqual(errors, []);
});

test("an admin lands on the tree's figures and the sub-agencies to look at first", async () => {
  const { page, errors } = await signIn("admin-summit-0");
  await page.waitForFunction(() => /at risk in all/.test(document.querySelector("#agency-summary").textContent));
  const figures = await page.textContent("#agency-summary");
  const total = Number(figures.match(/(\d+) entr(?:y|ies) at risk in all/)[1]);
  assert.ok(total > 0, `the tree's total is its entries at risk, not the admin's own book: ${figures}`);
  const places = await page.$$eval("#top-agencies li a", (links) => links.map((a) => ({ href: a.getAttribute("href"), text: a.textContent })));
  assert.ok(places.length > 0, "sub-agencies to look at");
  // Who takes the tree's clients (counted by the outbox relay within seconds of the seed): a
  // chart, and the same figures in tables.
  await reloadUntil(page, "#home", () => /taken this plan year/.test(document.querySelector("#swaps-split").textContent));
  const split = (await page.textContent("#swaps-split")).match(/(\d+) entr(?:y|ies) taken this plan year: (\d+) by NPNs outside the agency, (\d+) by its own agents/);
  assert.ok(split, "the split inside vs outside");
  assert.equal(Number(split[1]), Number(split[2]) + Number(split[3]));
  const bars = await page.$$eval("#swaps-chart rect", (rects) => rects.length);
  const weeks = await page.$$eval("#swaps-weeks tbody tr", (rows) => rows.length);
  assert.ok(weeks > 0 && bars === 2 * weeks, `a bar (two parts) per week in the table: ${bars} for ${weeks}`);
  const takers = await page.$$eval("#swaps-takers tbody tr", (rows) => rows.map((r) => Number(r.children[2].textContent)));
  assert.ok(takers.length > 0, "the NPNs that took entries");
  assert.deepEqual(takers, [...takers].sort((a, b) => b - a), "the most first");
  // The README's picture (docs/screenshot.png is a copy of it).
  await page.screenshot({ path: "target/browser-test/admin-home.png", fullPage: true });

  // Each is a link to that agency's list, which holds its entries.
  await page.click("#top-agencies li:first-child a");
  await page.waitForSelector("#at-risk:not([hidden]) #at-risk-table tbody tr a");
  assert.equal(await page.$eval("#list-scope", (s) => s.value), places[0].href.split(":")[1]);
  // Opening the agency's own list is its view's visit: the count of new ones starts again.
  await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === "/v1/agencies/summit/at-risk/visits" && r.status() === 204),
    page.selectOption("#list-scope", "summit"),
  ]);
  await page.waitForSelector("#at-risk-table tbody tr a");
  await page.goto(`${APP}/#home`);
  await page.waitForFunction(() => /^0 entries newly at risk/.test(document.querySelector("#agency-summary").textContent));
  assert.deepEqual(errors, []);
});

test("a client's story, and a report for the help desk in one click that names no one", async () => {
  const { page, errors } = await signIn("agent-summit-1");
  await page.click("#tab-at-risk");
  await page.waitForSelector("#at-risk-table tbody tr a");
  const clientName = (await page.textContent("#at-risk-table tbody tr:first-child a")).trim();
  const id = (await page.textContent("#at-risk-table tbody tr:first-child td:nth-child(2)")).trim();
  await page.click("#at-risk-table tbody tr:first-child a");
  // The sync result first, then the story below it.
  await page.waitForSelector("#policies:not([hidden]) tbody tr");
  await page.waitForSelector("#story:not([hidden]) #timeline li");
  const kinds = await page.$$eval("#timeline li", (items) => items.map((li) => li.dataset.kind));
  assert.ok(kinds.includes("submission") && kinds.includes("at_risk"), `the timeline: ${kinds}`);
  assert.equal(kinds[kinds.length - 1], "submission", "oldest last: the first submission");

  await page.waitForSelector("#report:not([hidden])");
  const mailto = await page.getAttribute("#report-mailto", "href");
  assert.match(mailto, /^mailto:FFMProducer-AssisterHelpDesk@cms\.hhs\.gov\?subject=/);
  const text = decodeURIComponent(mailto);
  assert.ok(text.includes(id), "names the FFM application ID");
  for (const personal of [clientName, ...clientName.split(" ").filter((w) => w.length > 2), "@summit.example.com"]) {
    assert.ok(!text.includes(personal), `the help-desk email carries no ${personal}`);
  }

  await page.click("#report-evidence");
  await page.waitForSelector("#evidence:not([hidden]) #evidence-table tbody tr");
  assert.match(await page.textContent("#evidence-title"), new RegExp(id));
  assert.equal(await page.$$eval("#consent-checklist li", (items) => items.length), 5);
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#evidence-csv")]);
  const lines = (await readFile(await download.path(), "utf8")).split("\r\n").filter((l) => l.length > 0);
  assert.equal(lines[0], "Date,What,NPN,Details");
  assert.equal(lines.length - 1, await page.$$eval("#evidence-table tbody tr", (rows) => rows.length));
  assert.deepEqual(errors, []);
});

test("at phone width the list reads as cards, with no sideways scrolling and the reason shown", async () => {
  const { page, errors } = await signIn("agent-summit-1", { width: 390, height: 844 });
  await page.click("#tab-at-risk");
  await page.waitForSelector("#at-risk-table tbody tr a");
  const { scrollWidth, clientWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth }));
  assert.ok(scrollWidth <= clientWidth, `the page is ${scrollWidth}px wide in a ${clientWidth}px window`);
  const why = await page.$("#at-risk-table tbody tr:first-child td:nth-child(5)");
  assert.ok(await why.isVisible(), "the reason is shown");
  const box = await why.boundingBox();
  assert.ok(box.x >= 0 && box.x + box.width <= 390, `the reason is within the screen: ${JSON.stringify(box)}`);
  assert.equal(await page.$eval("#at-risk-table tbody tr:first-child", (tr) => getComputedStyle(tr).display), "block", "a row is a card");
  assert.deepEqual(errors, []);
});

test("every element id on the page is unique, so a selector names one thing", async () => {
  const { page } = await signIn("agent-summit-1");
  const ids = await page.$$eval("[id]", (elements) => elements.map((e) => e.id));
  const repeated = ids.filter((id, i) => ids.indexOf(id) !== i);
  assert.deepEqual(repeated, []);
});

test("an admin turns agent exports off, and the agent then sees why they cannot export", async () => {
  const admin = await signIn("admin-summit-east-0");
  await admin.page.click("#tab-settings");
  await admin.page.waitForSelector("#settings:not([hidden])");
  await admin.page.waitForFunction(() => document.querySelector("#agent-exports-enabled").checked);
  await admin.page.uncheck("#agent-exports-enabled");
  await admin.page.waitForFunction(() => /off/.test(document.querySelector("#settings-status").textContent));
  // Admins may still export their agency. The view opens on the hashchange event, after the
  // click returns, so wait for it rather than look at once.
  await admin.page.click("#tab-exports");
  await admin.page.waitForSelector("#export-agency-form:not([hidden])");
  assert.equal(await admin.page.isVisible("#export-agency-submit"), true);
  assert.equal(await admin.page.isVisible("#exports-disabled"), false);

  const agent = await signIn("agent-summit-east-1");
  assert.equal(await agent.page.isVisible("#tab-exports"), false, "no Exports tab");
  await agent.page.goto(`${APP}/#exports`);
  await agent.page.waitForSelector("#exports-disabled:not([hidden])");
  assert.match(await agent.page.textContent("#exports-disabled"), /agency admin has disabled exports/);
  assert.equal(await agent.page.isVisible("#export-mine"), false);
  assert.deepEqual([...admin.errors, ...agent.errors], []);
});

test("the emailed link opens the page: the requester signs in and gets the file; anyone else is told it is not theirs", async () => {
  const { page, errors } = await signIn("agent-summit-3");
  await page.click("#tab-exports");
  await page.click("#export-mine");
  await page.waitForFunction(() => /succeeded/.test(document.querySelector("#progress-rows").textContent), null, { timeout: 30_000 });
  const exportId = (await page.textContent("#progress-id")).trim();
  const rowsWritten = Number((await page.textContent("#progress-rows")).match(/(\d+) rows/)[1]);

  // The link exactly as the email carries it, from the local inbox.
  const inbox = await fetch(`${APP}/dev/inbox`).then((r) => r.json());
  const email = inbox.find((e) => e.body.includes(`/exports/${exportId}`));
  assert.ok(email, `an email names export ${exportId}`);
  assert.deepEqual(email.to, ["agent-summit-3@summit.example.com"]);
  const link = email.body.match(/https?:\/\/\S+\/exports\/[\w-]+/)[0];
  assert.equal(link, `${APP}/exports/${exportId}`, "the page's address, not the API's");

  // A fresh browser, as a mail client opens it: no token, so sign in first, then the file comes.
  const requester = await browser.newContext({ acceptDownloads: true });
  const fresh = await requester.newPage();
  errors.push(...watch(fresh));
  await fresh.goto(link);
  await fresh.waitForSelector("#sign-in:not([hidden])");
  assert.match(await fresh.textContent("#sign-in-why"), /asked for the export/);
  const [download] = await Promise.all([fresh.waitForEvent("download"), signInThroughTheProvider(fresh, "agent-summit-3")]);
  const lines = (await readFile(await download.path(), "utf8")).split("\r\n").filter((l) => l.length > 0);
  assert.equal(lines[0], "Federal Exchange ID,Client Details Page URL,Archived Status");
  assert.equal(lines.length - 1, rowsWritten);
  assert.equal(new URL(fresh.url()).pathname, `/exports/${exportId}`, "the person lands back on the link");
  assert.match(await fresh.textContent("#export-page-status"), /ready/);
  await requester.close();

  // Forwarded to someone else: they sign in as themselves and get nothing but a clear message.
  const other = await browser.newContext({ acceptDownloads: true });
  const forwarded = await other.newPage();
  let downloaded = false;
  forwarded.on("download", () => (downloaded = true));
  await forwarded.goto(link);
  await signInThroughTheProvider(forwarded, "agent-summit-1");
  await forwarded.waitForFunction(() => /not yours/.test(document.querySelector("#export-page-status").textContent));
  assert.equal(downloaded, false);
  assert.equal(await forwarded.isVisible("#export-page-actions button.download"), false);
  // Signed in as the wrong person, one can sign out and in as the right one without the email again.
  await forwarded.click("#sign-in-as-another");
  await forwarded.waitForSelector("#sign-in:not([hidden])");
  assert.equal(new URL(forwarded.url()).pathname, `/exports/${exportId}`, "back on the link after signing out");
  const [again] = await Promise.all([forwarded.waitForEvent("download"), signInThroughTheProvider(forwarded, "agent-summit-3")]);
  assert.ok((await readFile(await again.path(), "utf8")).startsWith("Federal Exchange ID,"));
  await other.close();
  assert.deepEqual(errors, []);
});

test("an agent sees no admin control on any tab", async () => {
  const { page, errors } = await signIn("agent-summit-1");
  const adminControls = ["#tab-settings", "#settings", "#settings-agency", "#agent-exports-enabled", "#export-agency-form", "#export-agency", "#export-agency-submit"];
  const views = [
    ["#tab-at-risk", "#at-risk-table tbody tr"],
    ["#tab-exports", "#past-exports li"],
    ["#tab-inbox", "#emails li"],
    ["#tab-my-settings", "#my-settings-status:not(:empty)"],
  ];
  const check = async (where) => {
    for (const selector of [...adminControls, "[data-admin]"]) {
      const visible = await page.$$eval(selector, (elements) => elements.filter((e) => e.checkVisibility()).map((e) => e.id || e.tagName));
      assert.deepEqual(visible, [], `${where}: ${selector} is hidden from an agent`);
    }
    const scopes = await page.$$eval("#list-scope option", (options) => options.map((o) => o.value));
    assert.deepEqual(scopes, ["mine"], `${where}: an agent's list has no agency scopes`);
  };
  await check("home");
  for (const [tab, ready] of views) {
    await page.click(tab);
    await page.waitForSelector(ready);
    await check(tab);
  }
  // Typing the admin tab's address shows the home view, not the settings.
  await page.goto(`${APP}/#settings`);
  await page.waitForSelector("#home:not([hidden])");
  await check("#settings typed in");
  assert.deepEqual(errors, []);
});

test("a person turns the daily digest on, and an admin's digest of the tree links to its list", async () => {
  const agent = await signIn("agent-summit-2");
  await agent.page.click("#tab-my-settings");
  await agent.page.waitForFunction(() => /^Off/.test(document.querySelector("#my-settings-status").textContent));
  assert.equal(await agent.page.isVisible("#digest-scope"), false, "an agent's digest covers their book only");
  await agent.page.check("#daily-digest");
  await agent.page.waitForFunction(() => /^On: once a day/.test(document.querySelector("#my-settings-status").textContent));
  await agent.page.reload();
  await agent.page.waitForFunction(() => /^On/.test(document.querySelector("#my-settings-status").textContent));
  assert.equal(await agent.page.isChecked("#daily-digest"), true, "kept");
  await agent.page.uncheck("#daily-digest");
  await agent.page.waitForFunction(() => /^Off/.test(document.querySelector("#my-settings-status").textContent));

  // Summit's admin asked for the tree's digest before the demo book arrived (the seed): the local
  // digest run mails it within seconds of the start.
  const admin = await signIn("admin-summit-0");
  await admin.page.click("#tab-my-settings");
  await admin.page.waitForFunction(() => document.querySelector("#digest-scope").value === "agency");
  await admin.page.click("#tab-inbox");
  const digest = "#emails li:has(strong:text-matches('AOR at-risk digest')):has(div:text-matches('To admin-summit-0@'))";
  for (let tries = 0; !(await admin.page.$(digest)) && tries < 30; tries++) {
    await admin.page.waitForTimeout(1000);
    await admin.page.reload();
  }
  const mail = await admin.page.textContent(digest);
  assert.match(mail, /To admin-summit-0@/);
  const [, count] = mail.match(/(\d+) entr(?:y|ies) became at risk in Summit[^\n]* and the agencies below it/) || [];
  assert.ok(Number(count) > 0, `the tree's new entries: ${mail}`);
  assert.ok((mail.match(/Federal Exchange ID \d+/g) || []).length === Math.min(10, Number(count)), "the newest ten named");
  await admin.page.click(`${digest} a.email-link`);
  await admin.page.waitForSelector("#at-risk:not([hidden]) #at-risk-table tbody tr a");
  assert.equal(await admin.page.$eval("#list-scope", (s) => s.value), "summit", "the link opens the tree's list");
  assert.deepEqual([...agent.errors, ...admin.errors], []);
});

test("a signed-out visit signs in at the provider and lands where it started, the list and a client's link from a CSV row", async () => {
  // The list, asked for before signing in.
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  const errors = watch(page);
  await page.goto(`${APP}/#at-risk`);
  await page.waitForSelector("#sign-in:not([hidden])");
  assert.equal(await page.isVisible("#tabs"), false, "nothing but the sign-in while signed out");
  await signInThroughTheProvider(page, "agent-summit-1");
  assert.equal(new URL(page.url()).hash, "#at-risk");
  await page.waitForSelector("#at-risk:not([hidden]) #at-risk-table tbody tr a");

  // An export's CSV row links to the client's page: opened signed out, it comes back there.
  await page.click("#tab-exports");
  await page.click("#export-mine");
  await page.waitForFunction(() => /succeeded/.test(document.querySelector("#progress-rows").textContent), null, { timeout: 30_000 });
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#past-exports li:first-child button.download")]);
  const row = (await readFile(await download.path(), "utf8")).split("\r\n")[1];
  const clientLink = row.split(",")[1];
  assert.match(clientLink, new RegExp(`^${APP_ORIGIN}/clients/\\d+\\?plan_year=\\d{4}$`));
  const other = await browser.newContext();
  const fresh = await other.newPage();
  errors.push(...watch(fresh));
  await fresh.goto(clientLink);
  await fresh.waitForSelector("#sign-in:not([hidden])");
  await signInThroughTheProvider(fresh, "agent-summit-1");
  assert.equal(fresh.url(), clientLink, "back on the client's page, plan year and all");
  await fresh.waitForSelector("#policies:not([hidden]) tbody tr");
  assert.match(await fresh.textContent("#client-title"), new RegExp(new URL(clientLink).pathname.split("/")[2]));
  await other.close();
  await context.close();
  assert.deepEqual(errors, []);
});

test("signing out ends the session at the provider too: the next sign-in asks who again", async () => {
  const { page, errors } = await signIn("agent-summit-2");
  await page.click("#sign-out");
  await page.waitForURL((url) => url.origin === APP_ORIGIN && url.pathname === "/");
  await page.waitForSelector("#sign-in:not([hidden])");
  assert.equal(await page.evaluate(() => Object.keys(sessionStorage).filter((k) => k.startsWith("oidc.user")).length), 0, "no token kept");
  await page.click("#sign-in-button");
  await page.waitForSelector('button[name="login"]');
  assert.notEqual(new URL(page.url()).origin, APP_ORIGIN, "the provider asks again: its session ended");
  assert.deepEqual(errors, []);
});

test("an expired token leads back through sign-in to the same place", async () => {
  const { page, errors } = await signIn("agent-summit-1");
  await page.click("#tab-at-risk");
  await page.waitForSelector("#at-risk-table tbody tr a");
  await page.click("#at-risk-table tbody tr:first-child a");
  await page.waitForSelector("#policies:not([hidden]) tbody tr");
  const place = page.url();

  // The session's token expires (one minted expired by the provider's key takes its place), and
  // the issuer's session is gone too.
  const expired = mintToken("agent-summit-1", -120);
  await page.evaluate((token) => {
    const key = Object.keys(sessionStorage).find((k) => k.startsWith("oidc.user:"));
    const user = JSON.parse(sessionStorage.getItem(key));
    sessionStorage.setItem(key, JSON.stringify({ ...user, id_token: token }));
  }, expired);
  await page.context().clearCookies();
  await page.reload();
  await page.waitForSelector("#sign-in:not([hidden])");
  assert.match(await page.textContent("#sign-in-why"), /session has ended/);
  assert.equal(page.url(), place, "the address is kept while signed out");

  await signInThroughTheProvider(page, "agent-summit-1");
  assert.equal(page.url(), place);
  await page.waitForSelector("#policies:not([hidden]) tbody tr");
  assert.deepEqual(errors, []);
});

test("the page's files carry the security headers and page addresses are the page, a missing file a 404", async () => {
  for (const path of ["/", "/clients/0042/evidence", "/exports/abc-1", "/callback"]) {
    const response = await fetch(`${APP}${path}`);
    assert.equal(response.status, 200, path);
    assert.match(await response.text(), /<title>AOR at-risk reporting<\/title>/, path);
    const csp = response.headers.get("content-security-policy");
    assert.match(csp, /script-src 'self';/, path);
    assert.match(csp, /frame-ancestors 'none'/, path);
    assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  }
  // Every body is read: one left unread holds its connection, and node's test runner then waits
  // on it after the last test.
  const missing = await fetch(`${APP}/missing.js`);
  assert.equal(missing.status, 404);
  await missing.arrayBuffer();
  const vendor = await fetch(`${APP}/vendor/oidc-client-ts.min.js`);
  assert.equal(vendor.headers.get("content-type"), "text/javascript; charset=utf-8");
  await vendor.arrayBuffer();
  const config = await fetch(`${APP}/config.json`).then((r) => r.json());
  assert.equal(config.local, true);
  assert.ok(config.issuer.startsWith("http://127.0.0.1:"), config.issuer);
});

test("someone signed in whom the directory does not know is told so and can sign out", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = watch(page);
  await page.goto(`${APP}/`);
  await signInThroughTheProvider(page, "visitor-1");
  await page.waitForFunction(() => /does not know you/.test(document.querySelector("#sign-in-why").textContent));
  assert.equal(await page.isVisible("#tabs"), false, "nothing of anyone's");
  assert.equal(await page.isVisible("#sign-in-button"), false, "signing in again would be the same person");
  await page.click("#sign-out");
  await page.waitForSelector("#sign-in-button:not([hidden])");
  assert.match(await page.textContent("#sign-in-why"), /signed out|^$/);
  await context.close();
  assert.deepEqual(errors, []);
});

// The seed article: the list is "sorted with the most recent entry first", and the indicator
// counts "new records since the agent last visited".
test("the list is sorted with the most recent entry first, the badge counts the records new since the agent last visited, and they are marked", async () => {
  const { page, errors } = await signIn("agent-summit-3");
  await openList(page);
  assert.match(await page.textContent("#at-risk-summary"), /at risk in your book/);
  await page.waitForFunction(() => document.querySelector("#badge").textContent === "0");

  // A swap from January arrives now: it is listed now, so it is on top, and it is the one new entry.
  await lateSwap("0900000301", "agent-summit-3", "agent-harbor-1");
  await reloadUntil(page, "#home", () => document.querySelector("#badge").textContent === "1");
  await page.goto(`${APP}/#at-risk:mine`);
  await page.waitForFunction(() => /1 new since your last visit/.test(document.querySelector("#at-risk-summary").textContent));
  await page.waitForSelector("#at-risk-table tbody tr.new");
  const rows = await rowsShown(page);
  assert.equal(rows[0].id, "0900000301", "the late swap is on top");
  assert.deepEqual(rows.map((r) => r.isNew), rows.map((_, i) => i === 0), "and it alone is marked new");
  assert.match(await page.textContent("#at-risk-table tbody tr.new .new-mark"), /New/);
  assert.ok(rows.length > 1 && Date.parse(rows[0].since) < Date.parse(rows[1].since), `though its evidence is older than the next entry's: ${JSON.stringify(rows.slice(0, 2))}`);
  const listed = rows.map((r) => Date.parse(r.listed));
  assert.deepEqual(listed, [...listed].sort((a, b) => b - a), "the most recent entry first");
  assert.equal(await page.textContent("#badge"), "0", "opening the list was the visit");
  // The README's picture of the list (docs/list.png is a copy of it).
  await page.screenshot({ path: "target/browser-test/list.png" });
  // Looking at the client and coming Back (a reload too) is no new visit: it stays marked.
  await page.click("#at-risk-table tbody tr.new a");
  await page.waitForSelector("#client:not([hidden])");
  await page.goBack();
  await page.waitForSelector("#at-risk-table tbody tr.new");
  await page.reload();
  await page.waitForSelector("#at-risk-table tbody tr.new");
  assert.match(await page.textContent("#at-risk-summary"), /1 new since your last visit/);
  assert.equal((await rowsShown(page))[0].id, "0900000301");
  assert.deepEqual(errors, []);
});

test("an admin's visit to an agency list moves that list's watermark only, and the summary names the list", async () => {
  // The admin's own book gets a new entry at risk: their badge counts it.
  await lateSwap("0900000302", "admin-summit-0", "agent-harbor-2");
  const { page, errors } = await signIn("admin-summit-0");
  await reloadUntil(page, "#home", () => document.querySelector("#badge").textContent === "1");

  await page.goto(`${APP}/#at-risk:summit`);
  await page.waitForSelector("#at-risk-table tbody tr a");
  await page.waitForFunction(() => /at risk in Summit Health Partners and below/.test(document.querySelector("#at-risk-summary").textContent));
  await page.goto(`${APP}/#home`);
  await page.waitForFunction(() => /^0 entries newly at risk/.test(document.querySelector("#agency-summary").textContent));
  assert.equal(await page.textContent("#badge"), "1", "the agency list's visit leaves the admin's own badge");

  await page.goto(`${APP}/#at-risk:mine`);
  await page.waitForFunction(() => /at risk in your book/.test(document.querySelector("#at-risk-summary").textContent));
  await page.waitForFunction(() => document.querySelector("#badge").textContent === "0");
  assert.deepEqual(errors, []);
});

test("an agent whose admin disabled exports does not see the Exports tab, and a typed address says why", async () => {
  // harbor-north's admin turned agent exports off (the seed).
  const agent = await signIn("agent-harbor-north-1");
  assert.equal(await agent.page.isVisible("#tab-exports"), false);
  await agent.page.goto(`${APP}/#exports`);
  await agent.page.waitForSelector("#exports-disabled:not([hidden])");
  assert.match(await agent.page.textContent("#exports-disabled"), /agency admin has disabled exports/);
  const admin = await signIn("admin-harbor-north-0");
  assert.equal(await admin.page.isVisible("#tab-exports"), true, "an admin still exports");
  assert.deepEqual([...agent.errors, ...admin.errors], []);
});

test("a client's page is titled with the client's name and FFM ID and names the book's agent", async () => {
  const { page, errors } = await signIn("agent-summit-1");
  await openList(page);
  const name = (await page.textContent("#at-risk-table tbody tr:first-child a")).trim();
  const id = (await page.textContent("#at-risk-table tbody tr:first-child td:nth-child(2)")).trim();
  await page.click("#at-risk-table tbody tr:first-child a");
  await page.waitForFunction((id) => document.querySelector("#client-title").textContent.includes(`FFM ID ${id}`) && !/^Client/.test(document.querySelector("#client-title").textContent), id);
  assert.equal(await page.textContent("#client-title"), `${name} · FFM ID ${id}`);
  assert.equal(await page.title(), `${name} · FFM ID ${id} — AOR at-risk reporting`);
  const agentName = people.find((p) => p.agent_id === "agent-summit-1").name;
  assert.match(await page.textContent("#story-entry"), new RegExp(`In the book of ${agentName}`));
  assert.deepEqual(errors, []);
});

test("the list keeps its place in the address: filters, page size and cursor; Back and Previous return, First starts again", async () => {
  const { page, errors } = await signIn("admin-summit-0");
  const { items } = await callApi("admin-summit-0", "/v1/agencies/summit/at-risk?archived=include&limit=200");
  assert.ok(items.length > 10, `the seed gives summit's tree more than a page of 10 (${items.length})`);
  await page.goto(`${APP}/#at-risk:summit?archived=include&size=10`);
  await page.waitForSelector("#at-risk-table tbody tr a");
  assert.equal(await page.$eval("#archived", (s) => s.value), "include");
  const firstPage = await page.$$eval("#at-risk-table tbody tr td:nth-child(2)", (cells) => cells.map((c) => c.textContent));
  assert.equal(firstPage.length, 10);
  assert.deepEqual(firstPage, items.slice(0, 10).map((i) => i.federal_exchange_id), "the list as the API gives it");
  assert.equal(await page.isDisabled("#previous-page"), true);

  await page.click("#next-page");
  await page.waitForFunction(() => /cursor=/.test(location.hash));
  await page.waitForFunction((first) => document.querySelector("#at-risk-table tbody tr td:nth-child(2)")?.textContent !== first, firstPage[0]);
  const secondPage = await page.$$eval("#at-risk-table tbody tr td:nth-child(2)", (cells) => cells.map((c) => c.textContent));
  assert.deepEqual(secondPage, items.slice(10, 20).map((i) => i.federal_exchange_id));
  // A reload keeps the place.
  await page.reload();
  await page.waitForFunction((first) => document.querySelector("#at-risk-table tbody tr td:nth-child(2)")?.textContent === first, secondPage[0]);
  // Previous (Back) returns to the first page, Forward to the second, First starts again.
  await page.goBack();
  await page.waitForFunction((first) => document.querySelector("#at-risk-table tbody tr td:nth-child(2)")?.textContent === first, firstPage[0]);
  await page.goForward();
  await page.waitForFunction((first) => document.querySelector("#at-risk-table tbody tr td:nth-child(2)")?.textContent === first, secondPage[0]);
  await page.waitForFunction(() => !document.querySelector("#previous-page").disabled);
  await page.click("#previous-page");
  await page.waitForFunction((first) => document.querySelector("#at-risk-table tbody tr td:nth-child(2)")?.textContent === first, firstPage[0]);
  await page.click("#next-page");
  await page.waitForFunction((first) => document.querySelector("#at-risk-table tbody tr td:nth-child(2)")?.textContent === first, secondPage[0]);
  await page.click("#first-page");
  await page.waitForFunction((first) => document.querySelector("#at-risk-table tbody tr td:nth-child(2)")?.textContent === first, firstPage[0]);
  assert.doesNotMatch(page.url(), /cursor=/);
  // A bookmark of a plan year no longer served opens the current year's first page, and says so.
  await page.goto(`${APP}/#at-risk:summit?year=2019&archived=include&size=10&cursor=${encodeURIComponent("from-another-year")}`);
  await page.waitForFunction((first) => document.querySelector("#at-risk-table tbody tr td:nth-child(2)")?.textContent === first, firstPage[0]);
  assert.match(page.url(), new RegExp(`year=${YEAR}`));
  assert.doesNotMatch(page.url(), /cursor=/);
  assert.deepEqual(errors, []);
});

test("the list shows that it is loading, and says so when it cannot load", async () => {
  const { page, errors } = await signIn("agent-summit-2");
  let release;
  const held = new Promise((resolve) => (release = resolve));
  await page.route("**/v1/at-risk?*", async (route) => {
    await held;
    await route.continue();
  });
  await page.goto(`${APP}/#at-risk:mine`);
  await page.waitForFunction(() => document.querySelector("#list-status").textContent === "Loading…");
  assert.equal(await page.getAttribute("#at-risk-table", "aria-busy"), "true");
  release();
  await page.waitForSelector("#at-risk-table tbody tr a");
  assert.equal(await page.textContent("#list-status"), "");
  assert.equal(await page.getAttribute("#at-risk-table", "aria-busy"), null);

  await page.unroute("**/v1/at-risk?*");
  await page.route("**/v1/at-risk?*", (route) =>
    route.fulfill({ status: 503, contentType: "application/problem+json", body: JSON.stringify({ type: "about:blank", title: "Unavailable", status: 503, detail: "The service is busy; try again." }) }));
  await page.selectOption("#archived", "only");
  await page.waitForFunction(() => /could not be loaded: The service is busy/.test(document.querySelector("#list-status").textContent));
  assert.match(await page.textContent("#message"), /The service is busy/);
  assert.deepEqual(errors, []);
});

test("each view moves focus to its heading and names itself in the document's title", async () => {
  const { page, errors } = await signIn("agent-summit-2");
  for (const [tab, heading, title] of [["#tab-exports", "exports-title", "Exports"], ["#tab-my-settings", "my-settings-title", "My settings"], ["#tab-at-risk", "at-risk-title", "At-risk AOR"]]) {
    await page.click(tab);
    await page.waitForFunction((id) => document.activeElement?.id === id, heading);
    assert.equal(await page.title(), `${title} — AOR at-risk reporting`);
  }
  assert.deepEqual(errors, []);
});

test("a double click on Generate makes one export, and an error while it is followed is shown", async () => {
  const { page, errors } = await signIn("agent-summit-3");
  const before = (await callApi("agent-summit-3", "/v1/exports")).items.length;
  await page.click("#tab-exports");
  await page.dblclick("#export-mine");
  await page.waitForFunction(() => /succeeded/.test(document.querySelector("#progress-rows").textContent), null, { timeout: 30_000 });
  await page.waitForFunction(() => !document.querySelector("#export-mine").disabled, null, { timeout: 5_000 });
  const after = (await callApi("agent-summit-3", "/v1/exports")).items.length;
  assert.equal(after - before, 1, "one export");

  await page.route("**/v1/exports/*", (route) =>
    route.fulfill({ status: 500, contentType: "application/problem+json", body: JSON.stringify({ type: "about:blank", title: "Internal", status: 500, detail: "Something went wrong on our side." }) }));
  await page.click("#export-mine");
  await page.waitForFunction(() => /Something went wrong on our side/.test(document.querySelector("#message").textContent));
  assert.equal(await page.isDisabled("#export-mine"), false);
  assert.deepEqual(errors, []);
});

test("every view passes axe-core's WCAG 2.1 A and AA checks, at desktop and at phone width", async () => {
  const client = (await callApi("admin-summit-0", "/v1/agencies/summit/at-risk?limit=1")).items[0].federal_exchange_id;
  const { export_id: exportId } = await callApi("admin-summit-0", "/v1/exports", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ scope: "agency", agency_id: "summit" }),
  });
  const views = [
    ["/#home", "#home-summary:not(:empty)"],
    ["/#at-risk:mine", "#at-risk-summary:not(:empty)"],
    ["/#at-risk:summit", "#at-risk-table tbody tr a"],
    [`/clients/${client}`, "#story:not([hidden])"],
    [`/clients/${client}/evidence`, "#evidence-table tbody tr"],
    ["/#exports", "#exports:not([hidden])"],
    [`/exports/${exportId}`, "#export:not([hidden])"],
    ["/#settings", "#settings:not([hidden])"],
    ["/#my-settings", "#my-settings:not([hidden])"],
    ["/#inbox", "#emails li"],
  ];
  const found = [];
  for (const viewport of [{ width: 1100, height: 800 }, { width: 390, height: 844 }]) {
    const signedOut = await (await browser.newContext({ viewport })).newPage();
    await signedOut.goto(`${APP}/`);
    await signedOut.waitForSelector("#sign-in:not([hidden])");
    found.push(...(await accessibilityViolations(signedOut)).map((v) => `${viewport.width}px sign-in: ${v}`));
    const { page, errors } = await signIn("admin-summit-0", viewport);
    for (const [address, ready] of views) {
      await page.goto(`${APP}${address}`);
      await page.waitForSelector(ready);
      // (What the view fetches after it shows, settled.)
      await page.waitForTimeout(500);
      found.push(...(await accessibilityViolations(page)).map((v) => `${viewport.width}px ${address}: ${v}`));
    }
    assert.deepEqual(errors, []);
  }
  assert.deepEqual(found, []);
});

test("by keyboard alone: sign in, generate an export and download it", async () => {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 800 } });
  const page = await context.newPage();
  const errors = watch(page);
  await page.goto(`${APP}/`);
  await page.waitForSelector("#sign-in:not([hidden])");
  await tabTo(page, "#sign-in-button");
  await page.keyboard.press("Enter");
  await page.waitForURL((url) => url.origin !== APP_ORIGIN);
  await tabTo(page, 'button[name="login"][value="agent-summit-2"]');
  await page.keyboard.press("Enter");
  await page.waitForURL((url) => url.origin === APP_ORIGIN && url.pathname !== "/callback");
  await page.waitForSelector("#home:not([hidden])");
  await tabTo(page, "#tab-exports");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.activeElement?.id === "exports-title");
  await tabTo(page, "#export-mine");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => /succeeded/.test(document.querySelector("#progress-rows").textContent), null, { timeout: 30_000 });
  const exportId = await page.textContent("#progress-id");
  await tabTo(page, `#past-exports li[data-export-id="${exportId}"] button.download`);
  const [download] = await Promise.all([page.waitForEvent("download"), page.keyboard.press("Enter")]);
  const csv = await readFile(await download.path(), "utf8");
  assert.equal(csv.split("\r\n")[0], "Federal Exchange ID,Client Details Page URL,Archived Status");
  assert.deepEqual(errors, []);
});

test("during open enrollment the coming year's list is beside the current one, with its own badge and exports", async (t) => {
  const { plan_years: years } = await callApi("agent-summit-2", "/v1/me");
  // (tools/browser-test.sh keeps open enrollment open every day but January 1.)
  if (!years.coming) return t.skip("open enrollment is closed today");
  const coming = years.coming;
  const { page, errors } = await signIn("agent-summit-2");
  await page.waitForFunction(() => /Open enrollment/.test(document.querySelector("#home-summary").textContent));
  const before = Number((await page.textContent("#badge-coming")).split(": ")[1]);
  await lateSwap("0900000401", "agent-summit-2", "agent-harbor-1", coming);
  await reloadUntil(page, "#home", (badge) => document.querySelector("#badge-coming").textContent === badge, `${coming}: ${before + 1}`);
  const current = await page.textContent("#badge");
  await page.waitForFunction(() => /Open enrollment/.test(document.querySelector("#home-summary").textContent));
  assert.match(await page.textContent("#home-summary"), new RegExp(`Open enrollment for ${coming} \\(until .+\\): ${before + 1} new`));

  await page.goto(`${APP}/#at-risk:mine?year=${coming}`);
  await page.waitForFunction((coming) => document.querySelector("#at-risk-summary").textContent.includes(`plan year ${coming}`), coming);
  assert.equal(await page.$eval("#plan-year", (s) => s.value), String(coming));
  await page.waitForSelector("#at-risk-table tbody tr a");
  const rows = await rowsShown(page);
  assert.equal(rows[0].id, "0900000401");
  assert.ok(rows[0].isNew);
  assert.match(await page.getAttribute("#at-risk-table tbody tr:first-child a", "href"), new RegExp(`plan_year=${coming}`));
  await page.waitForFunction((coming) => document.querySelector("#badge-coming").textContent === `${coming}: 0`, coming);
  assert.equal(await page.textContent("#badge"), current, "the current year's badge is its own");

  // The current year's list holds none of it, and an export of the coming year is of that year.
  await page.selectOption("#plan-year", String(years.current));
  // (The summary shows as the page starts loading: then the rows.)
  await page.waitForFunction(
    (year) => document.querySelector("#at-risk-summary").textContent.includes(`plan year ${year}`) && !document.querySelector("#at-risk-table").hasAttribute("aria-busy"),
    years.current,
  );
  assert.ok(!(await rowsShown(page)).some((r) => r.id === "0900000401"));
  await page.click("#tab-exports");
  await page.selectOption("#export-year", String(coming));
  await page.click("#export-mine");
  await page.waitForFunction(() => /succeeded/.test(document.querySelector("#progress-rows").textContent), null, { timeout: 30_000 });
  await page.waitForFunction((coming) => document.querySelector("#past-exports li")?.textContent.includes(`plan year ${coming}`), coming);
  assert.match(await page.textContent("#progress-rows"), /^[1-9]\d* rows written/);
  assert.deepEqual(errors, []);
});

test("an admin sees a spike when an agent of the tree suddenly takes clients, and the agents ranked", async () => {
  // Long ago (older than anything the seed made, so no week before it had takes), in one week:
  // an agent of Summit West takes five clients of an agent of Summit West — Valley.
  const taker = people.find((p) => p.agent_id === "agent-summit-west-2");
  const at = (days) => new Date(Date.now() - days * 86_400_000).toISOString();
  for (let i = 0; i < 5; i++) {
    const application = `09000005${String(i).padStart(2, "0")}`;
    await submitOnThePlatform({ application, submission: `own-${application}`, agent: "agent-summit-west-valley-1", at: at(470) });
    await submitOnThePlatform({ application, submission: `spike-${application}`, agent: taker.agent_id, at: at(469) });
  }
  const { page, errors } = await signIn("admin-summit-0");
  // Counted and looked at by the outbox relay, on its schedule.
  await reloadUntil(page, "#home", (name) => [...document.querySelectorAll("#conduct-spikes li")].some((li) => li.textContent.includes(name)), taker.name);
  const spike = await page.$$eval("#conduct-spikes li", (items, name) => items.map((li) => li.textContent).find((t) => t.includes(name)), taker.name);
  assert.match(spike, new RegExp(`^Spike: ${taker.name} \\(NPN ${taker.npn}\\) took 5 entries in week \\d{4}-W\\d{2}; the median of the eight weeks before was 0\\.$`));
  assert.match(await page.textContent("#conduct-split"), /^The agency's agents took \d+ entr(y|ies) from other books this plan year: \d+ from outside the agency, \d+ from inside it\.$/);
  const agents = await page.$$eval("#conduct-agents tbody tr", (rows) => rows.map((r) => ({ name: r.children[0].textContent, takes: Number(r.children[2].textContent) })));
  assert.ok(agents.some((a) => a.name === taker.name && a.takes >= 5), JSON.stringify(agents));
  assert.deepEqual(agents.map((a) => a.takes), agents.map((a) => a.takes).sort((a, b) => b - a), "the most first");
  // An agent's own page has no such section.
  const agent = await signIn("agent-summit-west-valley-1");
  await agent.page.waitForFunction(() => /at risk in all/.test(document.querySelector("#home-summary").textContent));
  assert.ok(await agent.page.$eval("#agency-home", (e) => e.hidden));
  assert.deepEqual(errors, []);
  assert.deepEqual(agent.errors, []);
});

test("an agent opens a dispute case from the client's page and follows it there", async () => {
  await lateSwap("0900000601", "agent-summit-west-valley-2", "agent-harbor-1");
  const { page, errors } = await signIn("agent-summit-west-valley-2");
  await reloadUntil(page, "clients/0900000601", () => !document.querySelector("#dispute-form").hidden);
  assert.equal(await page.textContent("#dispute-submit"), "Open a dispute case");
  await page.check("input[name=dispute-channel][value=cms_help_desk]");
  await page.fill("#dispute-reference", "HD-77841");
  await page.fill("#dispute-note", "Emailed the help desk the report");
  await page.click("#dispute-submit");
  await page.waitForFunction(() => /^Case open: opened /.test(document.querySelector("#dispute-summary").textContent));
  assert.equal(await page.textContent("#dispute-status"), "The case is open.");
  const facts = await page.$$eval("#dispute-facts dd", (dds) => dds.map((d) => d.textContent));
  assert.deepEqual(facts.slice(0, 2), ["the CMS help desk", "HD-77841"]);
  assert.match(await page.textContent("#dispute-notes"), /Emailed the help desk the report/);
  // Open, the form adds to it: the channel used is ticked and fixed.
  assert.equal(await page.textContent("#dispute-submit"), "Save to the case");
  assert.ok(await page.$eval("input[name=dispute-channel][value=cms_help_desk]", (b) => b.checked && b.disabled));
  await page.check("input[name=dispute-channel][value=carrier]");
  await page.click("#dispute-submit");
  await page.waitForFunction(() => document.querySelector("#dispute-status").textContent === "Saved to the case.");
  assert.equal(await page.textContent("#dispute-facts dd"), "the CMS help desk, the carrier");
  // The page shows it again after a reload.
  await page.reload();
  await page.waitForFunction(() => /^Case open/.test(document.querySelector("#dispute-summary").textContent));
  assert.deepEqual(errors, []);
});
