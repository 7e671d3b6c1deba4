// The page in a real browser (Debian's Chromium, driven by Playwright), against the whole local
// system that tools/browser-test.sh starts: what a person does, step by step.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { execSync } from "node:child_process";
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
  await page.waitForFunction(() => /taken this plan year/.test(document.querySelector("#swaps-split").textContent), null, { timeout: 30_000 });
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
    page.waitForResponse((r) => r.url().endsWith("/v1/agencies/summit/at-risk/visits") && r.status() === 204),
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
  await agent.page.click("#tab-exports");
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
  const digest = "#emails li:has(strong:text-matches('AOR at-risk digest'))";
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
